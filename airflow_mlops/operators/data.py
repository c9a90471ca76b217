"""Pin the training data to one DVC version before anything reads it."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_mlops.hooks.dvc import DvcHook
from airflow_mlops.lineage_events import build as events
from airflow_mlops.operators.base import MlopsBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_mlops.contracts import DataRef


class ResolveDataVersionOperator(MlopsBaseOperator):
    """Resolve ``rev`` (a branch, tag or commit) to a commit and the file's md5.

    Every later task reads the data at that commit, so a push to the branch mid-run cannot
    change what is validated, trained on and recorded as provenance.
    """

    template_fields: Sequence[str] = ("path", "rev", "repo")

    def __init__(
        self,
        *,
        path: str,
        rev: str = "HEAD",
        repo: str | None = None,
        dvc_conn_id: str = "dvc_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.rev = rev
        self.repo = repo
        self.dvc_conn_id = dvc_conn_id

    @cached_property
    def hook(self) -> DvcHook:
        return DvcHook(dvc_conn_id=self.dvc_conn_id, repo=self.repo)

    def execute(self, context: Context) -> DataRef:
        ref = self.hook.resolve(self.path, self.rev)
        self.log.info("Pinned %s at rev %s -> commit %s (md5 %s)", ref["path"], ref["rev"], ref["commit"], ref["md5"])
        self.lineage_report = events.data_version(self.dvc_conn_id, ref)
        return ref
