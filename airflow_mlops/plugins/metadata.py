"""What the ML view reads from Airflow's metadata database: our DAGs, their runs and our tasks' XComs.

Runs inside the API server (plugins are served in-process there, so ORM access is the normal
way to read, unlike in tasks). Every function takes the request's session and returns plain
dicts; the caller has already decided which DAG ids the user may read, and nothing here
widens that set.

A pipeline "built by this package" is a DAG tagged ``mlops`` (the factory tags every DAG
``["mlops", "mlops:<template>", ...]``). The model a pipeline is about comes from the assets it
declares (``mlflow://models/<name>`` for the champion, ``mlops://drift/<name>``), so it is known
before the first run; model names found in our tasks' XComs are added to that.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from airflow.models.asset import AssetModel, DagScheduleAssetReference, TaskOutletAssetReference
from airflow.models.dag import DagModel, DagTag
from airflow.models.dagrun import DagRun
from airflow.models.serialized_dag import SerializedDagModel
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel
from sqlalchemy import select

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

MLOPS_TAG = "mlops"
TEMPLATE_TAG_PREFIX = "mlops:"
# Asset URIs whose last path segment is a registered model name (see airflow_mlops.assets).
MODEL_URI_PREFIXES = ("mlflow://models/", "mlops://drift/")
# Tasks of the retraining template whose return values the pages show.
XCOM_FALLBACK_ROWS = 20


def mlops_dag_ids(session: Session, readable: Iterable[str]) -> list[str]:
    """The DAGs tagged ``mlops`` among those the user may read, sorted."""
    readable = set(readable)
    if not readable:
        return []
    query = select(DagTag.dag_id).where(DagTag.name == MLOPS_TAG, DagTag.dag_id.in_(readable))
    return sorted(set(session.scalars(query)))


def is_mlops_dag(session: Session, dag_id: str) -> bool:
    query = select(DagTag.dag_id).where(DagTag.name == MLOPS_TAG, DagTag.dag_id == dag_id)
    return session.scalars(query).first() is not None


def dag_models(session: Session, dag_ids: Iterable[str]) -> dict[str, list[str]]:
    """Model names per DAG, from the assets the DAG produces or is scheduled on."""
    dag_ids = list(dag_ids)
    found: dict[str, set[str]] = defaultdict(set)
    if not dag_ids:
        return {}
    for reference in (TaskOutletAssetReference, DagScheduleAssetReference):
        query = (
            select(reference.dag_id, AssetModel.uri)
            .join(AssetModel, AssetModel.id == reference.asset_id)
            .where(reference.dag_id.in_(dag_ids))
        )
        for dag_id, uri in session.execute(query):
            name = model_from_uri(str(uri))
            if name:
                found[dag_id].add(name)
    return {dag_id: sorted(names) for dag_id, names in found.items()}


def model_from_uri(uri: str) -> str | None:
    for prefix in MODEL_URI_PREFIXES:
        if uri.startswith(prefix) and len(uri) > len(prefix):
            return uri.removeprefix(prefix)
    return None


def models_by_dag(session: Session, dag_ids: Iterable[str]) -> dict[str, list[str]]:
    """``dag_models``, plus names from our tasks' recent XComs for DAGs whose assets name no model.

    The XCom fallback covers DAGs serialized before they declared assets; it reads only the
    newest few return values, so a pipeline with thousands of runs costs the same as a new one.
    """
    dag_ids = list(dag_ids)
    found = dag_models(session, dag_ids)
    missing = [d for d in dag_ids if not found.get(d)]
    for dag_id in missing:
        query = (
            select(XComModel)
            .where(
                XComModel.dag_id == dag_id,
                XComModel.task_id.in_(("evaluate", "register", "promote")),
                XComModel.key == "return_value",
            )
            .order_by(XComModel.timestamp.desc())
            .limit(XCOM_FALLBACK_ROWS)
        )
        names = {v["model_name"] for v in map(_value, session.scalars(query)) if _has_model_name(v)}
        if names:
            found[dag_id] = sorted(names)
    return found


def _has_model_name(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("model_name"), str)


def dags_of_model(session: Session, model_name: str, dag_ids: Iterable[str]) -> list[str]:
    """Which of ``dag_ids`` (already filtered to readable mlops DAGs) are about ``model_name``."""
    models = models_by_dag(session, dag_ids)
    return sorted(d for d, names in models.items() if model_name in names)


def _value(row: XComModel) -> Any:
    try:
        value = XComModel.deserialize_value(row)
    except Exception:  # a value we cannot read: show nothing rather than fail the page
        return None
    backend = _custom_xcom_backend()
    if backend is None or not isinstance(value, str):
        return value
    # With an offloading backend (common-io's XComObjectStorageBackend) the row holds a path; the
    # backend that wrote it is the one that knows how to read it back.
    try:
        return backend.deserialize_value(SimpleNamespace(value=value))
    except Exception:
        return None


@functools.cache
def _custom_xcom_backend() -> Any:
    """The ``[core] xcom_backend`` class when it is not Airflow's default, else None."""
    from airflow.sdk.bases.xcom import BaseXCom
    from airflow.sdk.execution_time.xcom import resolve_xcom_backend

    backend = resolve_xcom_backend()  # type: ignore[no-untyped-call]
    return None if backend is BaseXCom else backend


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def _template(tags: Iterable[str]) -> str | None:
    for tag in sorted(tags):
        if tag.startswith(TEMPLATE_TAG_PREFIX):
            return tag.removeprefix(TEMPLATE_TAG_PREFIX)
    return None


def _doc(session: Session, dag_id: str) -> str | None:
    """The pipeline's ``description`` from YAML: the factory makes it the DAG's ``doc_md``."""
    serialized = SerializedDagModel.get(dag_id, session=session)
    if serialized is None:
        return None
    try:
        doc = serialized.data["dag"].get("doc_md")  # type: ignore[index]
    except (KeyError, TypeError, AttributeError):
        return None
    return str(doc) if doc else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _schedule(summary: str | None) -> str | None:
    """The schedule in words, or None for a DAG that runs only when triggered (Airflow says "None")."""
    return None if summary in (None, "", "None") else summary


def run_summary(run: DagRun, xcoms: dict[str, Any]) -> dict[str, Any]:
    """One run as the pipeline list shows it: state, times, the gate's verdict and the winner's metrics."""
    gate, promote, register = _dict(xcoms.get("gate")), _dict(xcoms.get("promote")), _dict(xcoms.get("register"))
    data = _dict(xcoms.get("resolve_data"))
    verdict = _dict(gate.get("verdict"))
    candidate = _dict(gate.get("candidate"))
    return {
        "run_id": run.run_id,
        "state": str(run.state) if run.state else None,
        "run_type": str(run.run_type),
        "run_after": _iso(run.run_after),
        "start_date": _iso(run.start_date),
        "end_date": _iso(run.end_date),
        "decision": verdict.get("decision"),
        "candidate": verdict.get("candidate"),
        "summary": verdict.get("summary"),
        "metrics": dict(candidate.get("metrics") or {}),
        "metric": next((o.get("metric") for o in verdict.get("outcomes") or [] if o.get("metric")), None),
        "registered_version": register.get("version"),
        "promoted_version": promote.get("version"),
        # Metrics of runs on different data are scored on different test rows: the trend marks the change.
        "data_commit": data.get("commit"),
    }


def _xcoms(session: Session, dag_id: str, run_ids: list[str], task_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{run_id: {task_id: return value}}`` of unmapped tasks."""
    found: dict[str, dict[str, Any]] = defaultdict(dict)
    if not run_ids:
        return found
    query = select(XComModel).where(
        XComModel.dag_id == dag_id,
        XComModel.run_id.in_(run_ids),
        XComModel.task_id.in_(tuple(task_ids)),
        XComModel.key == "return_value",
        XComModel.map_index == -1,
    )
    for row in session.scalars(query):
        found[row.run_id][row.task_id] = _value(row)
    return found


def pipelines(session: Session, dag_ids: list[str], runs_per_dag: int = 10) -> list[dict[str, Any]]:
    """Every pipeline in ``dag_ids`` with its model(s) and its most recent runs, newest first."""
    if not dag_ids:
        return []
    tags: dict[str, list[str]] = defaultdict(list)
    for dag_id, name in session.execute(select(DagTag.dag_id, DagTag.name).where(DagTag.dag_id.in_(dag_ids))):
        tags[dag_id].append(name)
    models = models_by_dag(session, dag_ids)
    result = []
    for dag in session.scalars(select(DagModel).where(DagModel.dag_id.in_(dag_ids)).order_by(DagModel.dag_id)):
        runs = list(
            session.scalars(
                select(DagRun)
                .where(DagRun.dag_id == dag.dag_id)
                .order_by(DagRun.run_after.desc(), DagRun.id.desc())
                .limit(runs_per_dag)
            )
        )
        xcoms = _xcoms(session, dag.dag_id, [r.run_id for r in runs], ("resolve_data", "gate", "register", "promote"))
        summaries = [run_summary(r, xcoms.get(r.run_id, {})) for r in runs]
        result.append(
            {
                "dag_id": dag.dag_id,
                "template": _template(tags[dag.dag_id]),
                "tags": sorted(t for t in tags[dag.dag_id] if t != MLOPS_TAG and not t.startswith(TEMPLATE_TAG_PREFIX)),
                "description": dag.description or _doc(session, dag.dag_id),
                "is_paused": bool(dag.is_paused),
                "is_stale": bool(dag.is_stale),
                "schedule": _schedule(dag.timetable_summary),
                "models": models.get(dag.dag_id, []),
                "runs": summaries,
                "last_run": summaries[0] if summaries else None,
            }
        )
    return result


def dag_run(session: Session, dag_id: str, run_id: str) -> dict[str, Any] | None:
    """One DAG run with its task states and every return value of our tasks (mapped ``train`` included)."""
    run = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)).first()
    if run is None:
        return None
    xcoms: dict[str, Any] = {}
    trained: list[dict[str, Any]] = []
    query = select(XComModel).where(
        XComModel.dag_id == dag_id, XComModel.run_id == run_id, XComModel.key == "return_value"
    )
    for row in session.scalars(query.order_by(XComModel.task_id, XComModel.map_index)):
        value = _value(row)
        if row.task_id == "train" or row.task_id.startswith("train_"):
            if isinstance(value, dict):
                trained.append(value)
        elif row.map_index == -1:
            xcoms[row.task_id] = value
    tasks = [
        {
            "task_id": ti.task_id,
            "map_index": ti.map_index,
            "label": ti.rendered_map_index or (str(ti.map_index) if ti.map_index >= 0 else None),
            "state": str(ti.state) if ti.state else None,
        }
        for ti in session.scalars(
            select(TaskInstance)
            .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
            .order_by(TaskInstance.start_date, TaskInstance.task_id, TaskInstance.map_index)
        )
    ]
    return {
        "summary": run_summary(run, xcoms),
        "xcoms": xcoms,
        "trained": trained,
        "tasks": tasks,
        "models": sorted(
            set(dag_models(session, [dag_id]).get(dag_id, []))
            | {v["model_name"] for v in xcoms.values() if _has_model_name(v)}
        ),
    }
