"""Version a pinned snapshot with DVC on a branch, and announce it only when the content changed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_mlops.operators.base import MlopsBaseOperator, Upstream, event_extra, run_identity, upstream

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_mlops.contracts import DataRef
    from airflow_mlops.hooks.increment import Increment

#: The snapshot's lineage copied into the commit's sidecar file (and from there onto every model trained on it).
_LINEAGE_KEYS = ("source", "conn_id", "query", "rows", "uri", "source_uri")


class VersionDataOperator(MlopsBaseOperator):
    """``dvc add`` + git commit + ``dvc push`` + ``git push`` of the snapshot as ``path`` on ``branch``.

    Declare the ``new_data_version`` asset of ``path`` as this task's outlet: the task skips when
    the content is unchanged, and Airflow records an asset event only for a task that succeeded,
    so an unchanged extract makes no commit and sends no event (docs/pipeline-reference.md).
    """

    template_fields: Sequence[str] = ("snapshot", "branch")

    def __init__(
        self,
        *,
        snapshot: Upstream[DataRef],
        path: str,
        branch: str = "main",
        repo: str | None = None,
        dvc_conn_id: str = "dvc_default",
        increment_key: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.snapshot: DataRef = upstream(snapshot)
        self.path = path
        self.branch = branch
        self.repo = repo
        self.dvc_conn_id = dvc_conn_id
        #: Set: append the run's data interval to the file, keyed on this column (hooks/increment.py).
        self.increment_key = increment_key

    def execute(self, context: Context) -> DataRef:
        from airflow.sdk.exceptions import AirflowSkipException

        from airflow_mlops.hooks.dvc import DvcHook
        from airflow_mlops.hooks.dvc_commit import DvcPublisher

        dag_id, run_id = run_identity(context)
        repo_url = DvcHook(dvc_conn_id=self.dvc_conn_id, repo=self.repo).repo_url
        snapshot = self.snapshot
        lineage: dict[str, Any] = {key: snapshot[key] for key in _LINEAGE_KEYS if snapshot.get(key) is not None}  # type: ignore[literal-required]
        lineage["origin"] = snapshot["repo"]
        increment = self._increment(context)
        publisher = DvcPublisher(repo_url, self.branch, self.path)
        published = publisher.publish(snapshot, lineage, f"{dag_id}/{run_id}", increment=increment)
        if not published.changed:
            raise AirflowSkipException(
                f"unchanged: {self.path} on branch {self.branch} already holds md5 {published.md5} "
                f"(commit {published.commit[:12]}); no commit, no new_data_version event"
            )
        ref: DataRef = {
            "repo": repo_url,
            "path": self.path,
            "rev": self.branch,
            "commit": published.commit,
            "md5": published.md5,
            "ingested_by": f"{dag_id}/{run_id}",
        }
        extra: dict[str, Any] = {**ref, "rows": published.rows if published.rows is not None else snapshot.get("rows")}
        if increment is not None:
            extra.update(increment.as_lineage(), interval_rows=snapshot.get("rows"))
        for asset in self.outlets:
            context["outlet_events"][asset].extra = event_extra(extra)
        self.log.info("Committed %s (md5 %s) as %s on %s", self.path, published.md5, published.commit, self.branch)
        return ref

    def _increment(self, context: Context) -> Increment | None:
        from airflow_mlops.errors import ConfigurationError
        from airflow_mlops.hooks.increment import Increment

        if self.increment_key is None:
            return None
        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        if start is None or end is None or start >= end:
            raise ConfigurationError(
                f"incremental ingestion of {self.path} needs a DAG run with a data interval (got {start} to {end}); "
                "schedule the pipeline with a cron or preset, and trigger a manual run with a logical date"
            )
        return Increment(self.increment_key, start, end)
