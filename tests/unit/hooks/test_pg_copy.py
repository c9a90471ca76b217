"""hooks/pg_copy.py's pure parts: chunks of exactly chunk_rows from pyarrow's block-sized batches, and Postgres types.

The COPY itself runs against the real Postgres in tests/integration/test_sources.py.
"""

from __future__ import annotations

import pyarrow as pa

from airflow_mlops.hooks.pg_copy import _arrow_type, _query, _rebatch


def test_batches_of_any_size_are_cut_into_chunks_of_exactly_chunk_rows() -> None:
    schema = pa.schema([("id", pa.int64())])
    sizes = [7, 1, 30, 0, 12, 5]
    start, batches = 0, []
    for size in sizes:
        batches.append(pa.record_batch([pa.array(range(start, start + size), pa.int64())], schema=schema))
        start += size
    chunks = list(_rebatch(batches, 10, schema))
    assert [chunk.num_rows for chunk in chunks] == [10, 10, 10, 10, 10, 5]
    assert [v for chunk in chunks for v in chunk.column("id").to_pylist()] == list(range(55))
    assert all(chunk.column("id").num_chunks == 1 for chunk in chunks)
    assert list(_rebatch([], 10, schema)) == []


def test_postgres_types_map_to_fixed_arrow_types_and_the_rest_is_text() -> None:
    assert [str(_arrow_type(oid)) for oid in (16, 21, 23, 20, 700, 701, 1700, 1082, 1114, 1184, 25, 3802)] == [
        "bool", "int64", "int64", "int64", "double", "double", "double", "date32[day]", "timestamp[us]",
        "timestamp[us, tz=UTC]", "string", "string",
    ]  # fmt: skip
    assert _query("  SELECT 1;\n ") == "SELECT 1"
