"""Pin an immutable snapshot of data that lives outside DVC, and read a pinned ref back, whatever its source.

A SQL table or an object-store prefix changes under a running pipeline, so nothing after the
first task may read it live. The extract streams chunks into one local Parquet file, checks the
first chunk against the declared columns (before the rest of a large table is read), then copies
the file to ``<artifact_root>/snapshots/<pipeline>/<md5>.parquet``: content-addressed, so a
snapshot never changes once written, an unchanged extract lands on the same URI, and a retry
rewrites nothing. The copy goes to a temporary name first and is renamed into place, so a crash
leaves no half-written snapshot under a real name; a failed extract removes its local file.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from airflow_mlops.data_contract.types import declared_schema_issues, logical_type_of_arrow
from airflow_mlops.errors import DataContractError, DataVersionError, SourceError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    import pandas
    import pyarrow

    from airflow_mlops.contracts import DataRef
    from airflow_mlops.data_contract.vocabulary import LogicalType

SNAPSHOT_FOLDER = "snapshots"
_READ_BLOCK = 1 << 20


@dataclass(frozen=True)
class SourceLabel:
    """The pipeline and source a failure is about, so every error names them the same way."""

    pipeline: str
    kind: str
    where: str

    def message(self, reason: str) -> str:
        return f"pipeline '{self.pipeline}', {self.kind} source {self.where}: {reason}"


class SnapshotWriter:
    """Chunks of one extract into one local Parquet file, schema checked on the first chunk."""

    def __init__(self, label: SourceLabel, path: Path, declared: Mapping[str, LogicalType] | None = None) -> None:
        self.label = label
        self.path = path
        self.declared = dict(declared or {})
        self.rows = 0
        self.schema: pyarrow.Schema | None = None
        self._writer: Any = None

    def write(self, table: pyarrow.Table) -> None:
        import pyarrow.parquet as pq

        if self._writer is None:
            self._check_declared(table.schema)
            self.schema = table.schema
            self._writer = pq.ParquetWriter(self.path, table.schema, use_dictionary=text_columns(table.schema))
        else:
            table = self._conform(table)
        self._writer.write_table(table)
        self.rows += table.num_rows

    def _check_declared(self, schema: pyarrow.Schema) -> None:
        observed = {field.name: logical_type_of_arrow(field.type) for field in schema}
        issues = declared_schema_issues(observed, self.declared)
        if issues:
            raise DataContractError(
                self.label.message("the columns differ from the declared ones: " + "; ".join(issues))
            )

    def _conform(self, table: pyarrow.Table) -> pyarrow.Table:
        # A later chunk must have the first chunk's columns; types are cast (an int column whose
        # first chunk was all null, a float that arrived as int) and a cast that loses data fails.
        import pyarrow as pa

        assert self.schema is not None
        if table.schema.names != self.schema.names:
            raise DataContractError(
                self.label.message(f"columns changed mid-extract: {self.schema.names} then {table.schema.names}")
            )
        try:
            return table.cast(self.schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise DataContractError(
                self.label.message(
                    f"a column's type changed after row {self.rows} ({exc}); the first {self.rows} rows set the "
                    "schema, so declare the column's type or raise chunk_rows"
                )
            ) from exc

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def columns(self) -> dict[str, str]:
        """The snapshot's columns and their logical types (``null`` for a column of nulls only)."""
        assert self.schema is not None
        return {field.name: logical_type_of_arrow(field.type) or "null" for field in self.schema}


def text_columns(schema: pyarrow.Schema) -> list[str]:
    """The columns worth Parquet's dictionary encoding: text repeats; numbers and times rarely do,
    and encoding them costs time (and a fallback to plain once the dictionary grows too big)."""
    import pyarrow as pa

    return [field.name for field in schema if pa.types.is_string(field.type) or pa.types.is_large_string(field.type)]


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while block := handle.read(_READ_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def pin_snapshot(local: Path, root: str, pipeline: str) -> tuple[str, str]:
    """Copy the extract to its content-addressed URI (unless it is already there); returns (uri, md5)."""
    from airflow.sdk import ObjectStoragePath

    md5 = file_md5(local)
    target = ObjectStoragePath(f"{root}/{SNAPSHOT_FOLDER}/{pipeline}/{md5}.parquet")
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.parent / f".{md5}.{uuid.uuid4().hex}.partial"
        try:
            with local.open("rb") as source, partial.open("wb") as sink:  # type: ignore[no-untyped-call]
                while block := source.read(_READ_BLOCK):
                    sink.write(block)
            partial.rename(target)
        finally:
            if partial.exists():
                partial.unlink()
    return str(target), md5


def finish(writer: SnapshotWriter, root: str) -> tuple[str, str]:
    """Close the writer and pin its file; an empty extract is refused and pins nothing."""
    writer.close()
    if writer.rows == 0:
        raise SourceError(writer.label.message("the extract returned no rows; nothing was snapshotted"))
    return pin_snapshot(writer.path, root, writer.label.pipeline)


def read_snapshot(ref: Mapping[str, Any]) -> bytes:
    """The pinned snapshot's bytes, checked against the md5 it was pinned with."""
    from airflow.sdk import ObjectStoragePath

    uri = str(ref.get("uri") or "")
    where = f"snapshot '{uri}' (from {ref.get('source')} source {ref.get('repo')!r})"
    try:
        data = ObjectStoragePath(uri).read_bytes()
    except (FileNotFoundError, OSError, ValueError) as exc:
        raise DataVersionError(f"{where} cannot be read: {type(exc).__name__}: {exc}") from exc
    actual = hashlib.md5(data, usedforsecurity=False).hexdigest()
    if actual != ref.get("md5"):
        raise DataVersionError(f"{where}: content md5 {actual} does not match the pinned md5 {ref.get('md5')}")
    return data


def copy_snapshot(ref: Mapping[str, Any], dest: Path) -> None:
    """Stream the pinned snapshot to a local file, checked against its md5; a mismatch leaves no file."""
    from airflow.sdk import ObjectStoragePath

    uri = str(ref.get("uri") or "")
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with ObjectStoragePath(uri).open("rb") as source, dest.open("wb") as sink:  # type: ignore[no-untyped-call]
            while block := source.read(_READ_BLOCK):
                digest.update(block)
                sink.write(block)
    except (FileNotFoundError, OSError, ValueError) as exc:
        dest.unlink(missing_ok=True)
        raise DataVersionError(f"snapshot '{uri}' cannot be read: {type(exc).__name__}: {exc}") from exc
    if digest.hexdigest() != ref.get("md5"):
        dest.unlink(missing_ok=True)
        raise DataVersionError(f"snapshot '{uri}': content md5 {digest.hexdigest()} is not the pinned {ref.get('md5')}")


def read_pinned(
    ref: Mapping[str, Any], dvc_conn_id: str = "dvc_default", columns: Sequence[str] | None = None
) -> pandas.DataFrame:
    """The pinned data as a DataFrame: through DVC at its commit, or from its snapshot.

    ``columns``: only those of them the data has, in its order (every column when it has none).
    """
    import io

    import pandas as pd

    from airflow_mlops.artifacts import release_arrow_memory
    from airflow_mlops.hooks.dvc import DvcHook

    if ref.get("source", "dvc") == "dvc":
        hook = DvcHook(dvc_conn_id=dvc_conn_id, repo=str(ref["repo"]))
        return hook.read_dataframe(ref) if columns is None else hook.read_dataframe(ref, columns=columns)
    import pyarrow.parquet as pq

    data = io.BytesIO(read_snapshot(ref))
    keep = set(columns or ())
    wanted = [name for name in pq.read_schema(data).names if name in keep] if keep else []
    frame = pd.read_parquet(data, columns=wanted or None)
    release_arrow_memory()
    return frame


def snapshot_ref(writer: SnapshotWriter, uri: str, md5: str, *, origin: str, source: str, **lineage: str) -> DataRef:
    """The data ref of a pinned snapshot: the DVC ref's fields, filled in for a content-addressed file.

    ``repo`` names where the data came from, ``path`` and ``uri`` where it is pinned, and ``commit``
    is the md5: a content-addressed snapshot is its own immutable version.
    """
    ref: DataRef = {
        "repo": origin,
        "path": uri,
        "rev": "snapshot",
        "commit": md5,
        "md5": md5,
        "size": writer.path.stat().st_size,
        "remote_url": None,
        "source": source,
        "uri": uri,
        "rows": writer.rows,
        "columns": writer.columns(),
    }
    ref.update(lineage)  # type: ignore[typeddict-item]
    return ref


def raise_source_error(label: SourceLabel, exc: BaseException, *, lost: bool) -> NoReturn:
    """A driver's error as the task error that says whether a retry can help."""
    from airflow_mlops.errors import SourceUnavailableError

    detail = " ".join(str(exc).split()) or type(exc).__name__
    if lost:
        raise SourceUnavailableError(label.message(f"connection lost mid-extract: {detail}")) from exc
    raise SourceError(label.message(f"{type(exc).__name__}: {detail}")) from exc
