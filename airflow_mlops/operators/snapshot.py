"""Pin a snapshot of a SQL or object-storage source before anything reads it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_mlops import settings
from airflow_mlops.operators.base import MlopsBaseOperator, run_identity

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_mlops.contracts import DataRef
    from airflow_mlops.hooks.sql_source import ChunkCallback


class SnapshotSourceOperator(MlopsBaseOperator):
    """Extract the source into a content-addressed Parquet snapshot and return its data ref.

    ``sql`` holds ``conn_id``, ``statement`` (templated: an incremental extract names
    ``{{ data_interval_start }}``) and ``chunk_rows``; ``object_storage`` holds ``uri``,
    ``format`` and ``conn_id``. ``columns`` are the declared columns and types, checked on the
    first chunk. The ref carries the lineage every later record needs: the query, the connection
    id (never its secret), the content hash, the row count and the snapshot's URI.
    """

    template_fields: Sequence[str] = ("statement", "uri")

    def __init__(
        self,
        *,
        sql: Mapping[str, Any] | None = None,
        object_storage: Mapping[str, Any] | None = None,
        columns: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (sql is None) == (object_storage is None):
            raise ValueError("give exactly one of sql or object_storage")
        self.sql = dict(sql or {})
        self.object_storage = dict(object_storage or {})
        self.statement: str = str(self.sql.get("statement", ""))
        self.uri: str = str(self.object_storage.get("uri", ""))
        self.columns = dict(columns or {})
        #: Tests cut a connection here; progress is logged either way.
        self.on_chunk: ChunkCallback | None = None

    def execute(self, context: Context) -> DataRef:
        from airflow_mlops.hooks.extract import take_snapshot

        pipeline, _ = run_identity(context)
        ref = take_snapshot(
            pipeline,
            settings.artifact_root(),
            sql={**self.sql, "statement": self.statement} if self.sql else None,
            object_storage={**self.object_storage, "uri": self.uri} if self.object_storage else None,
            columns=self.columns,
            on_chunk=self._progress,
        )
        self.log.info("Pinned %s rows of %s to %s (md5 %s)", ref.get("rows"), ref["repo"], ref["path"], ref["md5"])
        return ref

    def _progress(self, rows: int) -> None:
        self.log.info("extracted %d rows", rows)
        if self.on_chunk is not None:
            self.on_chunk(rows)
