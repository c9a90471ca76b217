"""Read-only views across environments: what an approver is asked about, and where each champion stands.

Nothing here writes. :func:`preview_across` is what the HITL approval of a cross-environment
promotion shows before a person decides (it reaches both registries first, so a dead target
fails before anyone is asked); :func:`environments_overview` is the UI's page of one model
across its environments, which fails soft per environment: one that cannot be reached is shown
as such, with its connection and the reason, and the others still are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_mlops.errors import MlopsException, NotFoundError
from airflow_mlops.governance.environments import declared, reach, refuse_same_slot
from airflow_mlops.governance.history import read_history
from airflow_mlops.governance.registry import alias_map, registered_model, resolve_ref
from airflow_mlops.record import tag

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from airflow_mlops.governance.environments import Reached
    from airflow_mlops.spec.models_environments import EnvironmentSpec

#: The history actions that move an alias (the others record a refusal or an export).
_MOVES = ("promote", "rollback")


def preview_across(environments: dict[str, EnvironmentSpec], source: str, target: str, ref: str) -> dict[str, Any]:
    """The source version (with the gate it passed) and the target's champion, read before a person decides."""
    src = reach(source, declared(environments, source))
    tgt = reach(target, declared(environments, target))
    refuse_same_slot(src, tgt)
    with src.hook.session():
        mv = resolve_ref(src.client(), src.model_name, ref)
        tags = dict(mv.tags or {})
    with tgt.hook.session():
        champion = _aliases_or_none(tgt.client(), tgt.model_name).get(tgt.spec.alias)
    holdout = tgt.spec.holdout
    return {
        "source": {
            **_where(src),
            "version": str(mv.version),
            "gate_decision": tags.get(tag.GATE_DECISION),
            "gate_summary": tags.get(tag.GATE_SUMMARY, ""),
        },
        "target": {
            **_where(tgt),
            "alias": tgt.spec.alias,
            "champion": champion,
            "holdout": f"{holdout.path} @ {holdout.rev}" if holdout else None,
            "require_approval": tgt.spec.policy.require_approval,
        },
    }


def environments_overview(environments: dict[str, EnvironmentSpec]) -> list[dict[str, Any]]:
    """Each declared environment, in declaration order: its champion, when it moved, where it came from."""
    return [_one_environment(name, spec) for name, spec in environments.items()]


def _one_environment(name: str, spec: EnvironmentSpec) -> dict[str, Any]:
    row: dict[str, Any] = {
        "environment": name,
        "conn_id": spec.mlflow_conn_id,
        "model_name": spec.model_name,
        "alias": spec.alias,
        "require_approval": spec.policy.require_approval,
        "uri": None,
        "error": None,
        "exists": False,
        "champion": None,
    }
    try:
        reached = reach(name, spec)
        row["uri"] = reached.uri
        with reached.hook.session():
            row.update(_champion_of(reached))
    except MlopsException as err:
        row["error"] = str(err)
    return row


def _champion_of(reached: Reached) -> dict[str, Any]:
    client = reached.client()
    try:
        model = registered_model(client, reached.model_name)
    except NotFoundError:
        return {"exists": False}
    version = alias_map(model).get(reached.spec.alias)
    if version is None:
        return {"exists": True}
    mv = client.get_model_version(reached.model_name, version)
    tags = dict(mv.tags or {})
    history = read_history(client, reached.model_name)
    moved = next((e for e in reversed(history) if e.get("action") in _MOVES and e.get("to") == version), None)
    source = None
    if tags.get(tag.ENV_SOURCE_VERSION):
        source = {
            "environment": tags.get(tag.ENV_SOURCE_NAME),
            "conn_id": tags.get(tag.ENV_SOURCE_CONN_ID),
            "registry_uri": tags.get(tag.ENV_SOURCE_REGISTRY),
            "model_name": tags.get(tag.ENV_SOURCE_MODEL),
            "version": tags.get(tag.ENV_SOURCE_VERSION),
        }
    return {
        "exists": True,
        "champion": {
            "version": version,
            "moved_at": (moved or {}).get("at") or tags.get(tag.PROMOTED_AT),
            "moved_by": (moved or {}).get("actor") or tags.get(tag.PROMOTED_BY),
            "action": (moved or {}).get("action") or tags.get(tag.PROMOTION_ACTION) or "promote",
            "previous": (moved or {}).get("from"),
            "source": source,
            "regate": tags.get(tag.ENV_GATE_SUMMARY),
            "approved_by": tags.get(f"{tag.ENV_APPROVAL_PREFIX}by"),
        },
    }


def _aliases_or_none(client: MlflowClient, model_name: str) -> dict[str, str]:
    """The target's aliases, or none when its registered model does not exist yet (a first promotion)."""
    try:
        return alias_map(registered_model(client, model_name))
    except NotFoundError:
        return {}


def _where(reached: Reached) -> dict[str, str]:
    return {
        "environment": reached.name,
        "conn_id": reached.spec.mlflow_conn_id,
        "uri": reached.uri,
        "model_name": reached.model_name,
    }
