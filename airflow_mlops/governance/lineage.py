"""A version's lineage: where it came from and how it reached its aliases, as one dict.

What ``airflow-mlops lineage`` prints and the UI's version page shows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_mlops.governance.history import read_history
from airflow_mlops.governance.registry import aliases, resolve_ref
from airflow_mlops.record.lineage import VersionLineage

if TYPE_CHECKING:
    from mlflow import MlflowClient


def _timestamp(millis: Any) -> str | None:
    if not millis:
        return None
    return datetime.fromtimestamp(int(millis) / 1000, UTC).isoformat(timespec="seconds")


def _contract(recorded: VersionLineage) -> dict[str, Any]:
    """The data contract the version was trained on: its columns and types, or where the full record is."""
    contract = recorded.contract
    return {
        "recorded": contract.document is not None or contract.sha256 is not None,
        "columns": [{"name": name, "type": kind} for name, kind in contract.columns()],
        "sha256": contract.sha256,
        "uri": contract.uri,
    }


#: How many environments back ``lineage`` follows a copied version (dev -> staging -> prod is two).
MAX_ENVIRONMENT_HOPS = 5


def lineage(client: MlflowClient, model_name: str, ref: str, *, hops: int = 0) -> dict[str, Any]:
    """Everything recorded about where a version came from and how it reached its aliases.

    Read from the registry and the training run only, so it still answers after Airflow's
    metadata has been cleaned up. Missing facts (a version registered by hand) are None.
    """
    from mlflow.exceptions import MlflowException

    mv = resolve_ref(client, model_name, ref)
    version = str(mv.version)
    tags: dict[str, str] = dict(mv.tags or {})
    model_aliases = aliases(client, model_name)
    recorded = VersionLineage.from_tags(tags, source_run_id=mv.run_id)
    training_run_id = recorded.training.run_id
    run_params: dict[str, str] | None = None
    run_metrics: dict[str, float] | None = None
    if training_run_id:
        try:
            run = client.get_run(training_run_id)
            run_params, run_metrics = dict(run.data.params), dict(run.data.metrics)
        except MlflowException:
            pass
    gate, promotion, approval = recorded.gate, recorded.promotion, recorded.approval
    return {
        "model_name": model_name,
        "version": version,
        "ref": ref,
        "aliases": sorted(a for a, v in model_aliases.items() if v == version),
        "model_aliases": model_aliases,
        "created_at": _timestamp(mv.creation_timestamp),
        "source": mv.source,
        "pipeline": {"dag_id": recorded.dag_id, "run_id": recorded.run_id},
        "data": recorded.data.shown(),
        "contract": _contract(recorded),
        "validation": recorded.validation.model_dump(),
        "code": recorded.code,
        "training": {**recorded.training.model_dump(), "run_id": training_run_id, "run_params": run_params},
        "metrics": {"test": recorded.metrics, "run": run_metrics},
        "gate": {
            "decision": gate.decision,
            "summary": gate.summary,
            "champion_version": gate.champion_version,
            "outcomes": gate.verdict.get("outcomes") if isinstance(gate.verdict, dict) else None,
        },
        # Written by register from the serving_check task's verdict: how it answered in a real model server.
        "serving": recorded.serving.model_dump(),
        # Written by the approve task (approval: manual) and copied onto the version by register.
        "approval": {
            "status": approval.get("decision") or ("recorded" if approval else "not required"),
            "decision": approval.get("decision"),
            "approver": approval.get("by"),
            "at": approval.get("at"),
            "reason": approval.get("reason"),
            "tags": approval,
        },
        "promotion": promotion.model_dump(),
        # Written by the deploy step: the version's last rollout (an endpoint rollback included); None if never.
        "deployment": recorded.deployment.shown(),
        "history": [e for e in read_history(client, model_name) if version in (e.get("from"), e.get("to"))],
        "environment": environment_link(tags, hops),
    }


def environment_link(tags: dict[str, str], hops: int) -> dict[str, Any] | None:
    """Where a version copied from another environment came from, with that version's own lineage.

    The source registry is reached through the connection recorded on the copy (an id, never a
    credential); when it cannot be reached the link is still shown, with why the chain stops there.
    """
    from airflow_mlops.record import tag

    conn_id = tags.get(tag.ENV_SOURCE_CONN_ID)
    if not conn_id:
        return None
    link: dict[str, Any] = {
        "environment": tags.get(tag.ENV_NAME),
        "source": {
            "environment": tags.get(tag.ENV_SOURCE_NAME),
            "conn_id": conn_id,
            "registry_uri": tags.get(tag.ENV_SOURCE_REGISTRY),
            "model_name": tags.get(tag.ENV_SOURCE_MODEL),
            "version": tags.get(tag.ENV_SOURCE_VERSION),
            "run_id": tags.get(tag.ENV_SOURCE_RUN_ID),
        },
        "copied_at": tags.get(tag.ENV_COPIED_AT),
        "copied_by": tags.get(tag.ENV_COPIED_BY),
        "gate": {
            "decision": tags.get(tag.ENV_GATE_DECISION),
            "summary": tags.get(tag.ENV_GATE_SUMMARY),
            "champion_version": tags.get(tag.ENV_GATE_CHAMPION_VERSION) or None,
            "forced": tags.get(tag.ENV_GATE_FORCED) == "true",
        },
        "data": tag.unprefixed(tag.ENV_DATA_PREFIX, tags),
        "approval": tag.unprefixed(tag.ENV_APPROVAL_PREFIX, tags),
        "lineage": None,
        "unreachable": None,
    }
    source = link["source"]
    if hops >= MAX_ENVIRONMENT_HOPS or not (source["model_name"] and source["version"]):
        return link
    try:
        from airflow_mlops.hooks.mlflow import MlflowHook

        hook = MlflowHook(conn_id)
        with hook.session():
            link["lineage"] = lineage(hook.get_client(), source["model_name"], source["version"], hops=hops + 1)
    except Exception as err:  # the copy's own facts still answer; say why the chain stops here
        link["unreachable"] = f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"
    return link
