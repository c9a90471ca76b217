"""One extract, start to finish: the source's rows into a pinned snapshot and its data ref, or nothing at all."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_mlops.hooks.object_source import extract_objects, object_label
from airflow_mlops.hooks.snapshot import SnapshotWriter, finish, snapshot_ref
from airflow_mlops.hooks.sql_source import extract_sql, sql_label

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_mlops.contracts import DataRef
    from airflow_mlops.hooks.sql_source import ChunkCallback


def take_snapshot(
    pipeline: str,
    root: str,
    *,
    sql: Mapping[str, Any] | None = None,
    object_storage: Mapping[str, Any] | None = None,
    columns: Mapping[str, Any] | None = None,
    on_chunk: ChunkCallback | None = None,
) -> DataRef:
    """Extract ``sql`` (conn_id, statement, chunk_rows) or ``object_storage`` (uri, format, conn_id).

    The rows go to a local file in a temporary folder that is removed whatever happens, and only
    a complete, checked, non-empty extract is pinned under ``root``.
    """
    with tempfile.TemporaryDirectory(prefix="mlops-snapshot-") as workdir:
        local = Path(workdir) / "snapshot.parquet"
        if sql is not None:
            conn_id, statement = str(sql["conn_id"]), str(sql["statement"])
            writer = SnapshotWriter(sql_label(pipeline, conn_id, statement), local, columns)
            try:
                extract_sql(writer, conn_id, statement, int(sql["chunk_rows"]), on_chunk)
                uri, md5 = finish(writer, root)
            finally:
                writer.close()
            return snapshot_ref(writer, uri, md5, origin=conn_id, source="sql", conn_id=conn_id, query=statement)
        if object_storage is None:
            raise ValueError("give sql or object_storage")
        source_uri = str(object_storage["uri"])
        writer = SnapshotWriter(object_label(pipeline, source_uri), local, columns)
        try:
            extract_objects(writer, source_uri, str(object_storage["format"]), object_storage.get("conn_id"))
            uri, md5 = finish(writer, root)
        finally:
            writer.close()
        return snapshot_ref(writer, uri, md5, origin=source_uri, source="object_storage", source_uri=source_uri)
