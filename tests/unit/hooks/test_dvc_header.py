"""A file whose header repeats a name is refused before pandas renames the copy to ``name.1``."""

from __future__ import annotations

import io

import pytest

from airflow_mlops.errors import DataContractError, PermanentError
from airflow_mlops.hooks.dvc import _refuse_duplicate_header, _Target

TARGET = _Target(repo="/data", path="data/d.csv", rev="main", commit="c" * 40)


def test_a_repeated_label_header_is_refused_naming_file_commit_and_column() -> None:
    data = b"mean_radius,target,target\n1.0,0,0\n2.0,1,1\n"
    with pytest.raises(DataContractError, match=r"data/d.csv@cccccccccccc.*'target'") as caught:
        _refuse_duplicate_header(data, TARGET)
    assert isinstance(caught.value, PermanentError)
    assert "duplicate_column" in str(caught.value)


def test_a_parquet_schema_with_a_repeated_name_is_refused() -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_arrays([pa.array([1.0]), pa.array([2.0])], names=["mean_area", "mean_area"])
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    with pytest.raises(DataContractError, match="'mean_area'"):
        _refuse_duplicate_header(buffer.getvalue(), _Target(repo="/r", path="d.parquet", rev="main"))


def test_distinct_headers_and_pandas_like_names_pass() -> None:
    _refuse_duplicate_header(b"a,b,a.1\n1,2,3\n", TARGET)  # a real column may be named a.1
    _refuse_duplicate_header(b"", TARGET)  # an empty file is the parser's to report
