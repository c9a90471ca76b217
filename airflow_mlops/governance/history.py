"""The promotion history: one JSON list on the registered model of every promote, rollback and refusal.

It lives on the model, not on a version, so it survives alias moves and version deletion.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_mlops.governance.registry import registered_model
from airflow_mlops.record import tag
from airflow_mlops.registry_lock import registry_writer

if TYPE_CHECKING:
    from mlflow import MlflowClient

HISTORY_MAX_ENTRIES = 50
# The history is one registered-model tag, bounded by that column's size as well as by count.
HISTORY_MAX_CHARS = tag.VALUE_MAX_CHARS


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_history(client: MlflowClient, model_name: str) -> list[dict[str, Any]]:
    """The promotion history kept on the registered model, oldest first.

    An unreadable value (edited by hand) reads as empty, and the next event replaces it,
    rather than blocking every promotion of the model.
    """
    raw = (registered_model(client, model_name).tags or {}).get(tag.PROMOTION_HISTORY)
    if not raw:
        return []
    try:
        entries = json.loads(raw)
    except ValueError:
        return []
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def bounded_history(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest entries that fit: at most ``HISTORY_MAX_ENTRIES`` and ``HISTORY_MAX_CHARS`` of JSON."""
    kept = entries[-HISTORY_MAX_ENTRIES:]
    while kept and len(_dump_history(kept)) > HISTORY_MAX_CHARS:
        kept = kept[1:]
    return kept


def _dump_history(entries: list[dict[str, Any]]) -> str:
    return json.dumps(entries, separators=(",", ":"))


def append_history(
    client: MlflowClient,
    model_name: str,
    *,
    action: str,
    actor: str,
    from_version: str | None,
    to_version: str | None,
    reason: str,
    forced: bool,
    at: str | None = None,
) -> dict[str, Any]:
    """Record one event (read-modify-write; promotions and rollbacks call it under the promotion lock)."""
    entry = {
        "at": at or now_iso(),
        "actor": tag.clip(actor, tag.FIELD_MAX_CHARS),
        "action": action,
        "from": from_version,
        "to": to_version,
        "reason": tag.clip(reason, tag.FIELD_MAX_CHARS),
        "forced": forced,
    }
    history = bounded_history([*read_history(client, model_name), entry])
    registry_writer(client).set_registered_model_tag(model_name, tag.PROMOTION_HISTORY, _dump_history(history))
    return entry
