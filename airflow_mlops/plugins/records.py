"""What the ML view reads from MLflow: a DAG run's record, a model's versions and history, a run.

The record of a pipeline run lives in MLflow (see ``report.py``): it outlasts Airflow's
metadata and holds what XCom does not (the full validation result, the verdict file, the
registry). Everything is read through an ``MlflowClient`` of the ``mlflow_default`` connection,
with governance's helpers where they exist, and returned as plain dicts for the templates.

The API server serves requests on several threads, while MLflow takes credentials from
process environment variables (``MlflowHook.session`` sets and restores them). Reads are
therefore serialised by one lock, and made with short HTTP timeouts and no retry storm, so a
dead tracking server costs a page a few seconds, not MLflow's default minutes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_mlops.errors import MlflowUnavailableError, NotFoundError
from airflow_mlops.governance.history import read_history
from airflow_mlops.governance.lineage import lineage
from airflow_mlops.governance.recheck import download_json
from airflow_mlops.governance.registry import aliases, registered_model
from airflow_mlops.hooks.mlflow import (
    MlflowHook,
    filter_literal,
    model_version_filter,
    temporary_env,
)
from airflow_mlops.plugins.urls import without_userinfo
from airflow_mlops.record import paths, tag
from airflow_mlops.record.lineage import VersionLineage
from airflow_mlops.report import cache_outcomes

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

log = logging.getLogger(__name__)

DEFAULT_CONN_ID = "mlflow_default"
_LOCK = threading.Lock()
_FAST_FAIL = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
MAX_VERSIONS = 100
# Run tags worth showing; MLflow's own (``mlflow.*``) are mostly internal bookkeeping.
_SHOWN_MLFLOW_TAGS = ("mlflow.runName", "mlflow.parentRunId")


class MlflowReader:
    """Reads one connection's MLflow under the module lock."""

    def __init__(self, conn_id: str = DEFAULT_CONN_ID) -> None:
        self.hook = MlflowHook(conn_id)

    @contextlib.contextmanager
    def client(self) -> Iterator[MlflowClient]:
        try:
            with fast_reads(), self.hook.session():
                yield self.hook.get_client(preflight=False)  # _FAST_FAIL bounds it; errors are shown by type
        except NotFoundError:
            raise
        except Exception as err:
            log.exception("airflow-mlops UI: reading MLflow failed")
            raise MlflowUnavailableError(f"MLflow could not be read ({type(err).__name__})") from err

    def ui_base(self) -> str | None:
        """The MLflow UI's address without credentials, when the connection is a tracking server."""
        try:
            uri = self.hook.tracking_uri
        except Exception:  # a missing or broken connection: no links, the pages say why elsewhere
            return None
        if not uri.startswith(("http://", "https://")):
            return None
        return without_userinfo(uri).rstrip("/")


@contextlib.contextmanager
def fast_reads() -> Iterator[None]:
    """One MLflow read at a time in this process, with short timeouts and no retry storm (see the module doc)."""
    with _LOCK, temporary_env(_FAST_FAIL):
        yield


def mlflow_reader() -> MlflowReader:
    """The reader of the ``mlflow_default`` connection, as a FastAPI dependency of every route that reads MLflow.

    A dependency rather than a module global, so a test overrides it (``app.dependency_overrides``)
    with a reader of its own store instead of patching this module.
    """
    return MlflowReader()


def _millis(value: Any) -> str | None:
    if not value:
        return None
    return datetime.fromtimestamp(int(value) / 1000, UTC).isoformat(timespec="seconds")


def find_pipeline_run(client: MlflowClient, dag_id: str, run_id: str, hint: str | None = None) -> Run | None:
    """The parent MLflow run of a DAG run: the id our tasks returned, else a search by tags."""
    from mlflow.exceptions import MlflowException

    if hint:
        try:
            run = client.get_run(hint)
            tags = run.data.tags
            if tags.get(tag.DAG_ID) == dag_id and tags.get(tag.RUN_ID) == run_id:
                return run
        except MlflowException:
            pass
    experiment_ids = [e.experiment_id for e in client.search_experiments(max_results=1000)]
    if not experiment_ids:
        return None
    clauses = [f"tags.`{tag.DAG_ID}` = {filter_literal(dag_id)}", f"tags.`{tag.RUN_ID}` = {filter_literal(run_id)}"]
    clauses.append(f"tags.`{tag.ROLE}` = 'pipeline'")
    runs = client.search_runs(
        experiment_ids, " and ".join(clauses), order_by=["attributes.start_time DESC"], max_results=1
    )
    return runs[0] if runs else None


def run_record(
    client: MlflowClient, dag_id: str, run_id: str, *, hint: str | None, model_names: Iterable[str]
) -> dict[str, Any]:
    """Data, validation, evaluation and verdicts (gate, serving check) of one DAG run; where its models stand now."""
    record: dict[str, Any] = {"found": False, "aliases": {}, "registered": []}
    parent = find_pipeline_run(client, dag_id, run_id, hint)
    if parent is not None:
        mlflow_run_id = parent.info.run_id
        record.update(
            {
                "found": True,
                "mlflow_run_id": mlflow_run_id,
                "experiment_id": parent.info.experiment_id,
                "data": {k.removeprefix("data."): v for k, v in parent.data.params.items() if k.startswith("data.")},
                "validation": download_json(client, mlflow_run_id, paths.VALIDATION_RESULT),
                "evaluation": download_json(client, mlflow_run_id, paths.EVALUATION_RESULT),
                "verdict": download_json(client, mlflow_run_id, paths.GATE_VERDICT),
                "serving": download_json(client, mlflow_run_id, paths.SERVING_VERDICT),
                "cache": cache_outcomes(parent.data.tags),
            }
        )
    for model_name in model_names:
        try:
            record["aliases"][model_name] = aliases(client, model_name)
        except NotFoundError:
            continue
        found = _versions(client, model_name, {tag.DAG_ID: dag_id, tag.RUN_ID: run_id})
        record["registered"] += [{"model_name": model_name, "version": str(v.version)} for v in found]
    return record


def validation_record(client: MlflowClient, dag_id: str, run_id: str, *, hint: str | None) -> dict[str, Any] | None:
    """The full Great Expectations result stored with the DAG run, even when validation failed."""
    parent = find_pipeline_run(client, dag_id, run_id, hint)
    if parent is None:
        return None
    result = download_json(client, parent.info.run_id, paths.VALIDATION_RESULT)
    if not isinstance(result, dict):
        return None
    return {"mlflow_run_id": parent.info.run_id, "experiment_id": parent.info.experiment_id, "result": result}


def _versions(client: MlflowClient, model_name: str, tags: dict[str, str] | None = None) -> list[Any]:
    found = client.search_model_versions(model_version_filter(model_name, tags), max_results=MAX_VERSIONS)
    return sorted(found, key=lambda v: int(v.version), reverse=True)


def champions(client: MlflowClient, model_names: Iterable[str]) -> dict[str, dict[str, str]]:
    """``{model: {alias: version}}``; a model not registered yet maps to ``{}``."""
    found = {}
    for name in model_names:
        try:
            found[name] = aliases(client, name)
        except NotFoundError:
            found[name] = {}
    return found


def model_record(client: MlflowClient, model_name: str) -> dict[str, Any]:
    """A registered model: its aliases, each version's provenance in one line, and the promotion history."""
    registered = registered_model(client, model_name)
    model_aliases = aliases(client, model_name)
    by_version: dict[str, list[str]] = {}
    for alias, version in sorted(model_aliases.items()):
        by_version.setdefault(version, []).append(alias)
    versions = []
    for mv in _versions(client, model_name):
        recorded = VersionLineage.from_tags(dict(mv.tags or {}), source_run_id=mv.run_id)
        versions.append(
            {
                "version": str(mv.version),
                "aliases": by_version.get(str(mv.version), []),
                "created_at": _millis(mv.creation_timestamp),
                "status": str(mv.status) if mv.status else None,
                "dag_id": recorded.dag_id,
                "run_id": recorded.run_id,
                "candidate": recorded.training.candidate,
                "estimator": recorded.training.estimator,
                "training_run_id": recorded.training.run_id,
                "data_commit": recorded.data.commit,
                "data_path": recorded.data.path,
                "validation": recorded.validation.success,
                "gate": recorded.gate.decision,
                "gate_summary": recorded.gate.summary,
                "metrics": recorded.metrics if isinstance(recorded.metrics, dict) else {},
                "promoted_at": recorded.promotion.promoted_at,
                "promoted_by": recorded.promotion.promoted_by,
                "deployment": recorded.deployment.shown(),
            }
        )
    history = list(reversed(read_history(client, model_name)))
    return {
        "model_name": model_name,
        "description": registered.description or None,
        "aliases": model_aliases,
        "versions": versions,
        "history": history,
    }


def version_lineage(client: MlflowClient, model_name: str, version: str) -> dict[str, Any]:
    return lineage(client, model_name, version)


def mlflow_run_record(client: MlflowClient, mlflow_run_id: str) -> dict[str, Any] | None:
    """One MLflow run (a pipeline's parent run or a candidate's run) as stored: params, metrics, tags."""
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(mlflow_run_id)
    except MlflowException:
        return None
    tags = dict(run.data.tags)
    try:
        experiment_name = client.get_experiment(run.info.experiment_id).name
    except MlflowException:
        experiment_name = None
    try:
        artifacts = sorted(a.path for a in client.list_artifacts(mlflow_run_id))
    except (MlflowException, OSError):
        artifacts = []
    return {
        "mlflow_run_id": run.info.run_id,
        "run_name": run.info.run_name,
        "status": run.info.status,
        "experiment_id": run.info.experiment_id,
        "experiment_name": experiment_name,
        "start_time": _millis(run.info.start_time),
        "end_time": _millis(run.info.end_time),
        "dag_id": tags.get(tag.DAG_ID),
        "run_id": tags.get(tag.RUN_ID),
        "role": tags.get(tag.ROLE),
        "candidate": tags.get(tag.CANDIDATE),
        "parent_run_id": tags.get("mlflow.parentRunId"),
        "params": dict(sorted(run.data.params.items())),
        "metrics": dict(sorted(run.data.metrics.items())),
        "tags": {k: v for k, v in sorted(tags.items()) if not k.startswith("mlflow.") or k in _SHOWN_MLFLOW_TAGS},
        "artifacts": artifacts,
    }
