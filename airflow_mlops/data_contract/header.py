"""A file's header as written, before pandas renames a repeated name to ``name.1``.

pandas makes duplicate headers unique on read (``target``, ``target.1``), so a repeated label
column becomes a feature holding the answer, silently. The DVC hook reads the raw header
first with these functions and refuses duplicates before pandas ever sees the file;
:func:`mangled_duplicates` is the fallback for a frame that was already read.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable
from typing import BinaryIO

from airflow_mlops.data_contract.issues import ContractIssue

#: How many bytes of a CSV are enough to hold its header line (a header beyond this is refused).
_CSV_HEADER_BYTES = 1 << 20
_MANGLED = re.compile(r"^(?P<base>.+)\.(?P<n>[1-9]\d*)$")


def duplicate_header_columns(raw_header: Iterable[str]) -> list[str]:
    """The names that occur more than once, in order of first occurrence."""
    counts = Counter(raw_header)
    return [name for name in dict.fromkeys(counts) if counts[name] > 1]


def csv_header(data: bytes, encoding: str = "utf-8") -> list[str]:
    """The first record of a CSV file, parsed by the csv module (quoted names with commas work).

    A UTF-8 byte order mark is dropped, as pandas drops it. Only the start of ``data`` is
    decoded, so a caller may pass the first megabyte of a large file.
    """
    head = data[:_CSV_HEADER_BYTES]
    text = head.decode(encoding, errors="replace").removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    return next(reader, [])


def parquet_header(data: bytes | BinaryIO) -> list[str]:
    """The column names stored in a Parquet file's schema, duplicates included (pyarrow reads the footer only)."""
    import pyarrow.parquet as pq

    return list(pq.read_schema(io.BytesIO(data) if isinstance(data, bytes) else data).names)


def raw_header(data: bytes | BinaryIO, path: str) -> list[str]:
    """The header of a CSV or Parquet file, chosen by the path's suffix as the pipeline reads it.

    ``data`` is the file's bytes, or the file open for reading: then only its header is read, and
    the file is left where it was for the parser.
    """
    parquet = path.endswith(".parquet")
    if isinstance(data, bytes):
        return parquet_header(data) if parquet else csv_header(data)
    start = data.tell()
    try:
        return parquet_header(data) if parquet else csv_header(data.read(_CSV_HEADER_BYTES))
    finally:
        data.seek(start)


def mangled_duplicates(columns: Iterable[str], declared: Iterable[str] = ()) -> dict[str, str]:
    """Columns that look like pandas' renaming of a duplicate header: ``{"target.1": "target"}``.

    ``c.N`` counts when ``c`` is also a column and ``c.N`` was not declared in the YAML (a
    real column may be called ``version.2``; declaring it says so).
    """
    names = [str(c) for c in columns]
    present = set(names)
    allowed = set(declared)
    found: dict[str, str] = {}
    for name in names:
        match = _MANGLED.match(name)
        if match and match.group("base") in present and name not in allowed:
            found[name] = match.group("base")
    return found


def header_issues(raw_header: Iterable[str]) -> list[ContractIssue]:
    """A ``duplicate_column`` issue for every name the file's header repeats; each blocks."""
    header = list(raw_header)
    return [
        ContractIssue(
            rule="duplicate_column",
            column=name,
            message=f"the file's header names it {header.count(name)} times; pandas would rename the copies "
            f"({name}.1, ...) and train on them; remove or rename the repeated columns",
        )
        for name in duplicate_header_columns(header)
    ]
