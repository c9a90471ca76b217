"""The model view's "Deployments" section: where each version is served, the last rollout, every rollback.

Three records meet here, each with its own reach:

- each version's deploy record (``mlops.deploy.*`` tags, read as ``DeploymentLineage``): the last
  rollout of that version by the ``deploy`` step, on any target, from the registry alone;
- the ``mlops-local`` target's endpoint state (``endpoints.EndpointReader``): what serves *now*,
  with weights, whether the URL answers, and the endpoint's own history of switches and rollbacks;
- the model's promotion history: the alias rollbacks (``airflow-mlops rollback``, or the deploy
  step's own after a failed smoke check).

A local endpoint read from its folder is shown live. Any other target is never called from the
page (that needs the target's credentials and a network): it is shown as last recorded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_mlops.record.tag import DeployDecision
from airflow_mlops.spec.models_deployment import LOCAL_TARGET

if TYPE_CHECKING:
    from airflow_mlops.plugins.endpoints import EndpointReader

#: Endpoint history entries that put back what served before (``LocalEndpoints.rollback``, a canary taken back).
ENDPOINT_ROLLBACK_ACTIONS = frozenset({"rollback", "canary_old"})
#: Recent endpoint changes shown per endpoint, newest first.
CHANGES_SHOWN = 10


def version_label(model_name: str, uri: Any) -> str | None:
    """``models:/<model>/3`` -> ``v3`` (another model's version keeps its name); other URIs as they are."""
    if not uri:
        return None
    text = str(uri)
    name, _, version = text.removeprefix("models:/").rpartition("/")
    if not text.startswith("models:/") or not version.isdigit():
        return text
    return f"v{version}" if name == model_name else f"{name} v{version}"


def _newest_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: str(r.get("at") or ""), reverse=True)


def rollouts(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every version's recorded rollout, newest first (a version keeps only its last one)."""
    return _newest_first([{**v["deployment"], "version": v["version"]} for v in versions if v.get("deployment")])


def recorded_serving(recorded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the deploy records say serves: the newest rollout not rolled back (a rollback restored the one before).

    A ``failed`` rollout kept serving (``on_smoke_failure: fail``); a decision this reader does not
    know is taken as serving, not guessed away.
    """
    for rollout in recorded:
        if rollout.get("decision") != DeployDecision.ROLLED_BACK:
            version = str(rollout["version"])
            return [{"version": f"v{version}", "number": version, "weight": None, "model_uri": None, "running": None}]
    return []


def endpoint_rollbacks(model_name: str, name: str, history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The switches back in a live endpoint's history, with their reasons."""
    return [
        {
            "at": entry.get("at"),
            "kind": "endpoint",
            "what": f"endpoint {name}",
            "from": version_label(model_name, entry.get("stopped") or next(iter(entry.get("replaced") or []), None)),
            "to": version_label(model_name, entry.get("model_uri")),
            "by": None,
            "reason": entry.get("reason") or None,
            "source": "endpoint history",
        }
        for entry in history
        if entry.get("action") in ENDPOINT_ROLLBACK_ACTIONS
    ]


def recorded_rollbacks(name: str, recorded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rollouts the deploy step recorded as rolled back: the version, and the summary that says why."""
    return [
        {
            "at": rollout.get("at"),
            "kind": "endpoint",
            "what": f"endpoint {name}",
            "from": f"v{rollout['version']}",
            "to": None,
            "by": rollout.get("by"),
            "reason": rollout.get("summary"),
            "source": "deploy record",
        }
        for rollout in recorded
        if rollout.get("decision") == DeployDecision.ROLLED_BACK
    ]


def alias_rollbacks(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The alias rollbacks of the model's promotion history (``airflow-mlops rollback`` or the deploy step's)."""
    return [
        {
            "at": entry.get("at"),
            "kind": "alias",
            "what": "alias",
            "from": f"v{entry['from']}" if entry.get("from") else None,
            "to": f"v{entry['to']}" if entry.get("to") else None,
            "by": entry.get("actor"),
            "reason": entry.get("reason"),
            "source": "promotion history",
        }
        for entry in history
        if entry.get("action") == "rollback"
    ]


def _changes(model_name: str, history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    recent = list(reversed(history))[:CHANGES_SHOWN]
    return [
        {
            "at": e.get("at"),
            "action": e.get("action"),
            "version": version_label(model_name, e.get("model_uri")) or ", ".join(map(str, e.get("slots") or [])),
            "reason": e.get("reason") or None,
        }
        for e in recent
    ]


def endpoint_view(
    model_name: str, target: str, name: str, recorded: list[dict[str, Any]], reader: EndpointReader
) -> dict[str, Any]:
    """One endpoint: live from its folder when the target is local and its state is here, else as last recorded."""
    state, why = reader.read(target, name)
    last = recorded[0] if recorded else None
    local = reader.root(target) is not None
    view: dict[str, Any] = {
        "target": target,
        "name": name,
        "local": local,
        "live": state is not None,
        "note": why if local else "the page does not query this target (it would need its credentials)",
        "url": (last or {}).get("url") or None,
        "answering": None,
        "serving": recorded_serving(recorded),
        "last_rollout": last,
        "rollouts": recorded,
        "changes": [],
        "rollbacks": recorded_rollbacks(name, recorded),
    }
    if state is not None:
        history = list(state.get("history") or [])
        view.update(
            {
                "url": state.get("url"),
                "answering": bool(state.get("answering")),
                "serving": [
                    {
                        "version": version_label(model_name, s.get("model_uri")),
                        "number": s.get("version") if s.get("registered_model") == model_name else None,
                        "weight": s.get("weight"),
                        "model_uri": s.get("model_uri"),
                        "running": s.get("running"),
                        "since": s.get("since") or None,
                    }
                    for s in state.get("serving") or []
                ],
                "changes": _changes(model_name, history),
                "rollbacks": endpoint_rollbacks(model_name, name, history),
            }
        )
    return view


def deployments_view(
    model_name: str, versions: list[dict[str, Any]], history: list[dict[str, Any]], reader: EndpointReader
) -> dict[str, Any]:
    """Every endpoint a version of the model was rolled out to or serves from, and every rollback, newest first.

    ``versions`` are the model record's (each with its ``deployment``), ``history`` its promotion history.
    """
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for rollout in rollouts(versions):
        target, name = str(rollout.get("target") or "unknown target"), str(rollout.get("endpoint") or model_name)
        group = groups.setdefault(reader.key(target, name), {"target": target, "name": name, "recorded": []})
        group["recorded"].append(rollout)
    for name in reader.serving(model_name):  # deployed by hand: no version records it
        groups.setdefault(reader.key(LOCAL_TARGET, name), {"target": LOCAL_TARGET, "name": name, "recorded": []})
    endpoints = [endpoint_view(model_name, g["target"], g["name"], g["recorded"], reader) for g in groups.values()]
    rollbacks = [row for e in endpoints for row in e["rollbacks"]] + alias_rollbacks(history)
    return {"endpoints": endpoints, "rollbacks": _newest_first(rollbacks)}
