"""The lifecycle of the MLflow runs a DAG run writes: found again by tags, failed with a reason, logged in batches.

Every MLflow object a task creates is tagged with the DAG run that made it (``record.tag.identity``),
so a retried task finds its own earlier run instead of writing a second one. Each method here is as
many round trips as it says, no more: operator overhead is measured (docs/benchmarks.md), and on a
SQL store every round trip is a commit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from airflow_mlops.record import tag

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

#: MLflow's limits for one ``log_batch`` (mlflow.utils.validation).
_BATCH_ENTITIES = 1000
_BATCH_PARAMS_OR_TAGS = 100


class MlflowRunsMixin:
    """Run lifecycle for :class:`~airflow_mlops.hooks.mlflow.MlflowHook`, which provides the client."""

    def get_client(self) -> MlflowClient:
        raise NotImplementedError

    def find_run(self, experiment_id: str, tags: Mapping[str, str], *, finished_only: bool = False) -> Run | None:
        """The newest run carrying all ``tags``: how a retried task finds its own earlier work."""
        found = self.find_runs(experiment_id, tags, finished_only=finished_only, limit=1)
        return found[0] if found else None

    def create_run(
        self,
        experiment_id: str,
        tags: Mapping[str, str],
        *,
        run_name: str,
        params: Mapping[str, object] | None = None,
    ) -> str:
        """A new RUNNING run with ``tags``, and ``params`` logged in one batch; its id."""
        run_id = str(self.get_client().create_run(experiment_id, run_name=run_name, tags=dict(tags)).info.run_id)
        if params:
            self.log_batch(run_id, params=params)
        return run_id

    def get_or_create_run(
        self,
        experiment_id: str,
        tags: Mapping[str, str],
        *,
        run_name: str,
        params: Mapping[str, object] | None = None,
    ) -> str:
        """The newest run carrying ``tags``, or a new one (with ``params``) if there is none.

        An existing run keeps the params it was created with: MLflow refuses to change a param,
        and a retry must not rewrite what the first attempt recorded.
        """
        existing = self.find_run(experiment_id, tags)
        if existing is not None:
            return str(existing.info.run_id)
        return self.create_run(experiment_id, tags, run_name=run_name, params=params)

    def get_or_create_pipeline_run(self, experiment_id: str, dag_id: str, run_id: str) -> str:
        """The parent MLflow run of one DAG run; candidate runs nest under it."""
        tags = tag.identity(dag_id, run_id, tag.ROLE_PIPELINE)
        return self.get_or_create_run(experiment_id, tags, run_name=f"{dag_id} {run_id}")

    def resume_run(self, run_id: str) -> None:
        """Mark an earlier attempt's run RUNNING again: this attempt writes into it."""
        self.get_client().update_run(run_id, status="RUNNING")

    def finish_run(self, run_id: str) -> None:
        self.get_client().set_terminated(run_id, status="FINISHED")

    def fail_run(self, run_id: str, reason: str) -> None:
        """Mark a run FAILED and say why on the run, where whoever opens it looks first."""
        client = self.get_client()
        client.set_tag(run_id, tag.FAILURE, tag.clip(reason))
        client.set_terminated(run_id, status="FAILED")

    def find_runs(
        self, experiment_id: str, tags: Mapping[str, str], *, finished_only: bool = False, limit: int = 100
    ) -> list[Run]:
        """Every run carrying all ``tags``, newest first (any status, or FINISHED only): one search."""
        clauses = tag_clauses(tags)
        if finished_only:
            clauses.append("attributes.status = 'FINISHED'")
        return list(
            self.get_client().search_runs(
                [experiment_id],
                filter_string=" and ".join(clauses),
                order_by=["attributes.start_time DESC"],
                max_results=limit,
            )
        )

    def close_abandoned_runs(
        self, experiment_id: str, tags: Mapping[str, str], reason: str, *, found: Sequence[Run] | None = None
    ) -> list[str]:
        """Mark runs with ``tags`` that are still RUNNING as KILLED, and say why.

        A task attempt that died (worker killed, MLflow gone mid-upload) leaves its run RUNNING
        forever. Airflow only starts another attempt once it has given the earlier one up, so
        when a retry begins, any unfinished run of the same task is abandoned: closing it keeps
        the experiment honest about which run produced the model. ``found``: the runs with ``tags``
        the caller already searched for (:meth:`find_runs`), so this costs no second search.
        """
        client = self.get_client()
        if found is None:
            clauses = [*tag_clauses(tags), "attributes.status = 'RUNNING'"]
            found = client.search_runs([experiment_id], filter_string=" and ".join(clauses), max_results=100)
        closed = []
        for run in (r for r in found if r.info.status == "RUNNING"):
            client.set_tag(run.info.run_id, tag.ABANDONED, tag.clip(reason))
            client.set_terminated(run.info.run_id, status="KILLED")
            closed.append(str(run.info.run_id))
        return closed

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Mapping[str, float] | None = None,
        params: Mapping[str, object] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Metrics, params and tags in as few round trips as MLflow's batch limits allow (one, mostly).

        Params are logged as strings, metrics at step 0 with one timestamp. Nothing to log, no call.
        """
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        metric_list = [Metric(key, float(value), now, 0) for key, value in (metrics or {}).items()]
        param_list = [Param(key, str(value)) for key, value in (params or {}).items()]
        tag_list = [RunTag(key, value) for key, value in (tags or {}).items()]
        client = self.get_client()
        while metric_list or param_list or tag_list:
            batch_params, param_list = param_list[:_BATCH_PARAMS_OR_TAGS], param_list[_BATCH_PARAMS_OR_TAGS:]
            batch_tags, tag_list = tag_list[:_BATCH_PARAMS_OR_TAGS], tag_list[_BATCH_PARAMS_OR_TAGS:]
            room = _BATCH_ENTITIES - len(batch_params) - len(batch_tags)
            batch_metrics, metric_list = metric_list[:room], metric_list[room:]
            client.log_batch(run_id, metrics=batch_metrics, params=batch_params, tags=batch_tags)

    def log_json(self, run_id: str, payload: object, artifact_file: str, *, sort_keys: bool = False) -> None:
        """``payload`` as an indented JSON artifact; values JSON cannot hold (dates, GX objects) as strings."""
        text = json.dumps(payload, indent=2, sort_keys=sort_keys, default=str)
        self.get_client().log_text(run_id, text, artifact_file)

    def read_json(self, run_id: str, artifact_file: str, *, artifact_uri: str | None = None) -> object | None:
        """A JSON artifact ``log_json`` wrote, or None when it is missing or unreadable (deleted, edited).

        ``artifact_uri``: the run's ``info.artifact_uri`` when the caller already holds the run (a
        search result). The read then goes straight to the artifact store: without it MLflow fetches
        the run again to find its store, which was most of a cache look-up's time on a hit.
        """
        import tempfile
        from pathlib import Path

        from mlflow.exceptions import MlflowException
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        client = self.get_client()
        with tempfile.TemporaryDirectory(prefix="mlops-") as tmp:
            try:
                if artifact_uri is None:
                    local = client.download_artifacts(run_id, artifact_file, tmp)
                else:
                    repository = get_artifact_repository(artifact_uri, tracking_uri=client.tracking_uri)
                    local = repository.download_artifacts(artifact_file, tmp)
                loaded: object = json.loads(Path(local).read_text())
            except (MlflowException, OSError, ValueError):
                return None
        return loaded


def tag_clauses(tags: Mapping[str, str]) -> list[str]:
    """One search-filter clause per tag, each requiring that exact value."""
    return [f"tags.`{key}` = {filter_literal(value)}" for key, value in tags.items()]


def filter_literal(value: str) -> str:
    """A string literal for an MLflow search filter.

    MLflow's filter grammar has no escape character: ``'it\\'s'`` silently matches nothing, so a
    retried task would not find its own run. A value containing ``'`` is double-quoted instead.
    """
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise ValueError(f"cannot search MLflow for a value containing both quote characters: {value!r}")
