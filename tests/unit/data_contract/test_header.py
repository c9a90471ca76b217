"""Raw headers read from real CSV and Parquet bytes, before pandas renames duplicates."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_mlops.data_contract.header import (
    csv_header,
    duplicate_header_columns,
    header_issues,
    mangled_duplicates,
    parquet_header,
    raw_header,
)


def test_csv_header_keeps_duplicates_that_pandas_would_rename() -> None:
    data = b"mean_radius,target,mean_texture,target\n1.0,0,2.0,0\n"

    assert csv_header(data) == ["mean_radius", "target", "mean_texture", "target"]
    assert list(pd.read_csv(io.BytesIO(data)).columns)[-1] == "target.1"  # what the header check prevents
    assert duplicate_header_columns(csv_header(data)) == ["target"]


def test_csv_header_reads_quoted_names_and_drops_a_byte_order_mark() -> None:
    data = '\ufeff"a, b",c,"a, b"\n1,2,3\n'.encode()

    assert csv_header(data) == ["a, b", "c", "a, b"]
    assert duplicate_header_columns(csv_header(data)) == ["a, b"]


def test_csv_header_of_an_empty_file_is_empty() -> None:
    assert csv_header(b"") == []


def test_parquet_header_reads_duplicate_names_from_the_schema() -> None:
    table = pa.table([pa.array([1, 2]), pa.array([0, 1]), pa.array([0, 1])], names=["x", "target", "target"])
    buffer = io.BytesIO()
    pq.write_table(table, buffer)

    assert parquet_header(buffer.getvalue()) == ["x", "target", "target"]
    assert raw_header(buffer.getvalue(), "data/train.parquet") == ["x", "target", "target"]


@pytest.mark.parametrize(
    ("header", "duplicates"),
    [(["a", "b"], []), (["a", "b", "a", "b", "a"], ["a", "b"]), (["b", "a", "a"], ["a"]), ([], [])],
)
def test_duplicates_are_named_once_in_order_of_first_occurrence(header: list[str], duplicates: list[str]) -> None:
    assert duplicate_header_columns(header) == duplicates


def test_header_issues_block_and_say_how_often() -> None:
    [issue] = header_issues(["x", "x", "x", "y"])

    assert (issue.rule, issue.column, issue.blocking) == ("duplicate_column", "x", True)
    assert "3 times" in issue.message


def test_mangled_duplicates_need_the_original_and_respect_declarations() -> None:
    columns = ["target", "target.1", "f", "f.2", "version.2", "x.0"]

    assert mangled_duplicates(columns) == {"target.1": "target", "f.2": "f"}
    assert mangled_duplicates(columns, declared=["f.2"]) == {"target.1": "target"}


@pytest.mark.parametrize("parquet", [True, False])
def test_the_header_of_an_open_file_is_read_and_the_file_left_where_it_was(parquet: bool) -> None:
    # The DVC hook reads a local file from disk, not from bytes in memory: the parser then reads it from the start.
    frame = pd.DataFrame({"x": [1, 2], "target": [0, 1]})
    buffer = io.BytesIO()
    if parquet:
        frame.to_parquet(buffer, index=False)
    else:
        buffer.write(frame.to_csv(index=False).encode())
    buffer.seek(0)

    assert raw_header(buffer, "data/d.parquet" if parquet else "data/d.csv") == ["x", "target"]
    assert buffer.tell() == 0
