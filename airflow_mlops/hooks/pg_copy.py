"""Extract a Postgres query with ``COPY (query) TO STDOUT (FORMAT CSV)``, parsed by pyarrow's streaming CSV reader.

A server-side cursor sends rows as Python tuples that are turned into Arrow one value at a time;
COPY streams text that pyarrow parses in C++, a block at a time, straight into Arrow columns.
The column types come from Postgres (the query's description, fetched with ``LIMIT 0``), not
from guessing at the text, so every chunk has the same schema and a column of nulls keeps its
type. Memory is bounded by the CSV block and ``chunk_rows``; the whole result is never held.

Used when the SQL connection is psycopg 3's (the postgres provider's since 7.1.1), whose
``cursor.copy()`` hands the COPY data over as it arrives; other connections use
hooks/sql_source.py's cursor. Timestamps with a zone come back in UTC (the session's TimeZone is
set for the extract); ``numeric`` is read as float64, like the cursor path.
"""

from __future__ import annotations

import io
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import pyarrow

#: Bytes of CSV pyarrow parses at a time; a chunk of ``chunk_rows`` rows is cut from its batches.
BLOCK_BYTES = 4 << 20
#: Postgres type OIDs and the Arrow type each is read as; any other type is read as text.
_ARROW_OF_OID = {
    16: "bool_",
    20: "int64",
    21: "int64",
    23: "int64",
    26: "int64",
    700: "float64",
    701: "float64",
    1700: "float64",
    1082: "date32",
    1114: "timestamp",
    1184: "timestamptz",
}


def is_psycopg3(connection: Any) -> bool:
    """Whether the connection can stream COPY out (psycopg 3's ``Cursor.copy``)."""
    return type(connection).__module__.split(".", 1)[0] == "psycopg" and hasattr(connection, "cursor")


def _arrow_type(oid: int) -> pyarrow.DataType:
    import pyarrow as pa

    name = _ARROW_OF_OID.get(oid, "string")
    if name == "timestamp":
        return pa.timestamp("us")
    if name == "timestamptz":
        return pa.timestamp("us", tz="UTC")
    return getattr(pa, name)()  # type: ignore[no-any-return]


def _query(statement: str) -> str:
    # A trailing semicolon is fine on its own but not inside COPY ( ... ) or a subquery.
    return statement.strip().rstrip(";").strip()


def describe(connection: Any, statement: str) -> list[tuple[str, pyarrow.DataType]]:
    """The query's columns and their Arrow types, from Postgres, without running it for rows."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM ({_query(statement)}) AS mlops_described LIMIT 0")
        return [(str(column.name), _arrow_type(int(column.type_code))) for column in cursor.description]


class _CopyReader(io.RawIOBase):
    """The COPY data as a readable file, read on demand from psycopg's ``Copy`` object."""

    def __init__(self, copy: Any) -> None:
        super().__init__()
        self._copy = copy
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            data = self._copy.read()
            if not data:
                return 0
            self._pending = memoryview(data)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def copy_batches(connection: Any, statement: str, chunk_rows: int) -> Iterator[pyarrow.Table]:
    """Yield the query's rows as Arrow tables of ``chunk_rows`` rows (the last one shorter)."""
    import pyarrow as pa
    import pyarrow.csv as csv

    columns = describe(connection, statement)
    names = [name for name, _ in columns]
    read = csv.ReadOptions(column_names=names, block_size=BLOCK_BYTES)
    convert = csv.ConvertOptions(
        column_types=dict(columns),
        null_values=[""],  # COPY CSV writes NULL unquoted and empty and an empty string as ""
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        true_values=["t"],
        false_values=["f"],
    )
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")
        cursor.execute("SET DateStyle TO ISO")
        # The comment names the extract in pg_stat_activity, as the cursor path's cursor name does.
        tag = f"/* mlops_snapshot_{uuid.uuid4().hex[:12]} */"
        copy_sql = f"{tag} COPY ({_query(statement)}) TO STDOUT (FORMAT CSV)"
        with cursor.copy(copy_sql) as copy:
            stream = io.BufferedReader(_CopyReader(copy), buffer_size=1 << 20)
            try:
                reader = csv.open_csv(stream, read_options=read, convert_options=convert)
            except pa.ArrowInvalid as exc:
                if "Empty CSV" in str(exc):
                    return
                raise
            yield from _rebatch(reader, chunk_rows, reader.schema)


def _rebatch(batches: Iterable[Any], chunk_rows: int, schema: pyarrow.Schema) -> Iterator[pyarrow.Table]:
    """Cut pyarrow's block-sized batches into tables of exactly ``chunk_rows`` rows."""
    import pyarrow as pa

    held: list[Any] = []
    count = 0
    for batch in batches:
        held.append(batch)
        count += batch.num_rows
        while count >= chunk_rows:
            table = pa.Table.from_batches(held, schema=schema)
            yield table.slice(0, chunk_rows).combine_chunks()
            rest = table.slice(chunk_rows)
            held, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(held, schema=schema).combine_chunks()
