"""DAG-level settings every template shares: schedule, retries, timeouts, tags."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import AssetAny
from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

from airflow_mlops.alerts import run_deadline_missed
from airflow_mlops.assets import champion_asset, data_version_asset, drift_asset
from airflow_mlops.operators.close_runs import CloseMlflowRunsOperator
from airflow_mlops.operators.data import ResolveDataVersionOperator
from airflow_mlops.operators.sla import CheckChampionAgeOperator
from airflow_mlops.operators.snapshot import SnapshotSourceOperator
from airflow_mlops.spec.models_common import AssetTriggerSpec

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow.sdk import Asset

    from airflow_mlops.spec.models import DataPipelineSpec, PipelineSpec
    from airflow_mlops.spec.models_source import SourceSections


def _own_model(spec: PipelineSpec) -> str | None:
    registry = getattr(spec, "registry", None)
    if registry is not None:
        return str(registry.model_name)
    model = getattr(spec, "model", None)
    if model is not None:
        return str(model.name)
    source = getattr(spec, "source_model", None)  # a promotion pipeline: its first environment's model
    return str(source) if source is not None else None


def trigger_asset(spec: PipelineSpec, trigger: AssetTriggerSpec) -> Asset:
    """The asset behind one plain-words trigger; defaults come from the pipeline itself."""
    if trigger.on == "new_data_version":
        # An ingestion pipeline's own data is the file it writes; the others' is the data they read.
        # By template name, not isinstance (mypy narrows on it too): this module is imported by every DAG
        # file, and the ingestion and promotion models only by the files that use them (spec/templates.py).
        if spec.template == "ingestion":
            path, conn_id = spec.output.path, spec.output.dvc_conn_id
        elif spec.template == "promotion":  # pragma: no cover - validate refuses it (its own rule)
            raise ValueError(f"{spec.pipeline}: a promotion pipeline reads no data")
        else:
            path, conn_id = spec.data.asset_path, spec.data.dvc_conn_id
        return data_version_asset(trigger.path or path, conn_id)
    model = trigger.model or _own_model(spec)
    if model is None:  # pragma: no cover - validate refuses it (IngestionPipelineSpec._triggers_name_a_model)
        raise ValueError(f"{spec.pipeline}: trigger {trigger.on!r} needs a model")
    return champion_asset(model) if trigger.on == "champion_changed" else drift_asset(model)


def resolve_schedule(spec: PipelineSpec) -> Any:
    """Cron and presets pass through; triggers become assets (several triggers: any of them)."""
    schedule = spec.schedule
    if schedule is None or isinstance(schedule, str):
        return schedule
    triggers = [schedule] if isinstance(schedule, AssetTriggerSpec) else schedule
    assets = [trigger_asset(spec, t) for t in triggers]
    # A plain list would mean "all of them" to Airflow; several triggers mean "any of them".
    return assets[0] if len(assets) == 1 else AssetAny(*assets)


def default_args(spec: PipelineSpec) -> dict[str, Any]:
    retries = spec.retries
    args: dict[str, Any] = {
        "owner": spec.owner,
        "retries": retries.retries,
        "retry_delay": timedelta(seconds=retries.delay_seconds),
        "retry_exponential_backoff": retries.backoff_multiplier,
        "max_retry_delay": timedelta(seconds=retries.max_delay_seconds),
    }
    if "default" in spec.timeouts:
        args["execution_timeout"] = timedelta(minutes=spec.timeouts["default"])
    return args


def step_args(spec: PipelineSpec, step: str) -> dict[str, Any]:
    """Per-step overrides (today: the timeout) to splat into an operator's arguments."""
    if step in spec.timeouts:
        return {"execution_timeout": timedelta(minutes=spec.timeouts[step])}
    return {}


def callbacks(spec: PipelineSpec) -> dict[str, Any]:
    """DAG-level callbacks: one notification per finished run, not one per task."""
    from airflow_mlops.notify import ConfiguredNotifier

    found: dict[str, Any] = {}
    for event in ("on_failure", "on_success"):
        notifiers = getattr(spec.notifications, event)
        if notifiers:
            found[f"{event}_callback"] = [ConfiguredNotifier(n.notifier, n.params) for n in notifiers]
    return found


def _notifiers(spec: PipelineSpec) -> list[dict[str, Any]]:
    return [{"notifier": n.notifier, "params": dict(n.params)} for n in spec.sla.notify]


def run_deadline(spec: PipelineSpec) -> dict[str, Any]:
    """``sla.run_deadline`` as Airflow's deadline alert; its callback runs in the triggerer (docs/observability.md)."""
    deadline = spec.sla.run_deadline
    if deadline is None:
        return {}
    reference = (
        DeadlineReference.DAGRUN_QUEUED_AT if deadline.after == "queued" else DeadlineReference.DAGRUN_LOGICAL_DATE
    )
    callback = AsyncCallback(
        run_deadline_missed,
        kwargs={
            "pipeline": spec.pipeline,
            "minutes": deadline.minutes,
            "after": deadline.after,
            "notify": _notifiers(spec),
        },
    )
    alert = DeadlineAlert(reference=reference, interval=timedelta(minutes=deadline.minutes), callback=callback)
    return {"deadline": alert}


def dag_kwargs(spec: PipelineSpec, doc: str) -> dict[str, Any]:
    return {
        **callbacks(spec),
        **run_deadline(spec),
        "dag_id": spec.pipeline,
        "schedule": resolve_schedule(spec),
        "start_date": datetime(spec.start_date.year, spec.start_date.month, spec.start_date.day),
        "catchup": False,
        "max_active_runs": 1,
        "default_args": default_args(spec),
        "tags": ["mlops", f"mlops:{spec.template}", *spec.tags],
        "doc_md": spec.description or doc,
    }


def spec_lineage(spec: PipelineSpec, source: str) -> dict[str, str]:
    """The pipeline file behind a model or a set of predictions: its digest, path and our version.

    Every template stamps the same three facts, so anything it produced can be traced to the
    exact pipeline file and package release that asked for it.
    """
    from airflow_mlops import __version__

    digest = hashlib.sha256(spec.model_dump_json().encode()).hexdigest()
    return {"spec_sha256": digest, "spec_file": source, "package_version": __version__}


def resolve_data_task(spec: DataPipelineSpec) -> ResolveDataVersionOperator | SnapshotSourceOperator:
    """The first step of every template: pin the pipeline's data (a DVC commit and md5, or a snapshot)."""
    data = spec.data
    if data.source != "dvc":
        return snapshot_task(spec, data, "resolve_data", getattr(data, "columns", None))
    return ResolveDataVersionOperator(
        task_id="resolve_data",
        **step_args(spec, "resolve_data"),
        path=str(data.path),
        rev=data.rev,
        repo=data.repo,
        dvc_conn_id=data.dvc_conn_id,
    )


def snapshot_task(
    spec: PipelineSpec, data: SourceSections, task_id: str, columns: Mapping[str, Any] | None
) -> SnapshotSourceOperator:
    """The task that extracts a SQL or object-storage source into a pinned snapshot."""
    if data.sql is not None:
        source: dict[str, Any] = {
            "sql": {"conn_id": data.sql.conn_id, "statement": data.sql.statement, "chunk_rows": data.sql.chunk_rows}
        }
    else:
        assert data.object_storage is not None
        store = data.object_storage
        source = {"object_storage": {"uri": store.uri, "format": store.file_format, "conn_id": store.conn_id}}
    return SnapshotSourceOperator(task_id=task_id, **step_args(spec, task_id), columns=columns, **source)


#: The task id of :func:`close_runs_task`; every template lists it among its step names.
CLOSE_RUNS_STEP = "close_runs"


def close_runs_task(spec: PipelineSpec, dag: Any) -> CloseMlflowRunsOperator:
    """The last step of every template: a teardown after the DAG's leaves that ends the DAG run's MLflow runs.

    A teardown runs whatever happened upstream and is ignored for the DAG run's state, so the
    pipeline run ends FAILED or FINISHED to match the DAG run without changing it.
    """
    # After the leaves is after everything: a leaf is done only once all its upstream tasks are.
    leaves = [task for task in dag.tasks if not task.downstream_list]
    close = CloseMlflowRunsOperator(
        task_id=CLOSE_RUNS_STEP,
        **step_args(spec, CLOSE_RUNS_STEP),
        experiment=spec.experiment_name,
        mlflow_conn_id=spec.mlflow_conn_id,
    )
    close.as_teardown()
    leaves >> close
    return close


#: The task id of :func:`champion_age_task`.
CHAMPION_AGE_STEP = "check_champion_age"


def champion_age_task(spec: PipelineSpec, dag: Any) -> CheckChampionAgeOperator | None:
    """With ``sla.max_champion_age_days``: a teardown after the DAG's work that checks how old the champion is.

    Like ``close_runs`` it runs whatever happened upstream and never changes the DAG run's state;
    ``close_runs`` leaves teardowns out of the run's outcome, so a failed alert cannot mark the run FAILED.
    """
    limit = spec.sla.max_champion_age_days
    target = spec.champion_age_model()
    if limit is None or target is None:
        return None
    model_name, alias = target
    # The work's leaves: close_runs (a teardown) is already downstream of them.
    work = [t for t in dag.tasks if not t.is_teardown and all(d.is_teardown for d in t.downstream_list)]
    check = CheckChampionAgeOperator(
        task_id=CHAMPION_AGE_STEP,
        **step_args(spec, CHAMPION_AGE_STEP),
        model_name=model_name,
        alias=alias,
        max_age_days=limit,
        notify=_notifiers(spec),
        mlflow_conn_id=spec.mlflow_conn_id,
    )
    check.as_teardown()
    work >> check
    return check
