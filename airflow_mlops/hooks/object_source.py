"""Stream a Parquet or CSV file, or every such file under a prefix, into a snapshot.

Reading goes through Airflow's ``ObjectStoragePath``, so ``file://``, ``s3://`` (with the amazon
provider and its connection) and any fsspec scheme attached to Airflow work the same way. Files
are read in batches (Parquet row groups, CSV blocks), so memory is bounded by a batch, not a file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_mlops.errors import MlopsException
from airflow_mlops.hooks.snapshot import SnapshotWriter, SourceLabel, raise_source_error

if TYPE_CHECKING:
    from collections.abc import Iterator

_SUFFIXES = {"parquet": (".parquet", ".pq"), "csv": (".csv",)}


def object_label(pipeline: str, uri: str) -> SourceLabel:
    return SourceLabel(pipeline, "object_storage", f"'{uri}'")


def _files(base: Any, file_format: str) -> list[Any]:
    """The one file, or the prefix's files of the format, in name order (a stable snapshot)."""
    if base.is_file():
        return [base]
    if not base.is_dir():
        raise FileNotFoundError(f"no file or prefix at {base}")
    return sorted(
        (path for path in base.rglob("*") if path.is_file() and path.name.lower().endswith(_SUFFIXES[file_format])),
        key=str,
    )


def _batches(handle: Any, file_format: str, batch_rows: int) -> Iterator[Any]:
    import pyarrow as pa

    if file_format == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(handle).iter_batches(batch_size=batch_rows):
            yield pa.Table.from_batches([batch])
        return
    from pyarrow import csv

    for batch in csv.open_csv(handle):
        yield pa.Table.from_batches([batch])


def extract_objects(
    writer: SnapshotWriter, uri: str, file_format: str, conn_id: str | None = None, batch_rows: int = 65_536
) -> list[str]:
    """Write the file's (or the prefix's files') rows to ``writer``; returns the files read."""
    from airflow.sdk import ObjectStoragePath

    read: list[str] = []
    try:
        base = ObjectStoragePath(uri, conn_id=conn_id)
        files = _files(base, file_format)
        if not files:
            raise FileNotFoundError(f"no .{file_format} file under the prefix")
        for path in files:
            with path.open("rb") as handle:
                for table in _batches(handle, file_format, batch_rows):
                    writer.write(table)
            read.append(str(path))
    except MlopsException:
        raise
    except Exception as exc:
        raise_source_error(writer.label, exc, lost=isinstance(exc, ConnectionError | TimeoutError))
    return read
