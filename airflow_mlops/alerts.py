"""The retraining SLA's alerts: a run later than its deadline, a champion older than its limit.

- :func:`champion_age` is the pure judgement ``check_champion_age`` makes (no Airflow, no MLflow);
- :func:`deliver` hands an alert to the pipeline's ``sla.notify`` notifiers and raises
  :class:`~airflow_mlops.errors.AlertDeliveryError` naming every one that failed;
- :func:`run_deadline_missed` is the callback of the DAG's Airflow deadline alert (an
  ``AsyncCallback``, so it runs in the triggerer): it counts the miss and delivers the alert.

Airflow imports this module when it parses a pipeline with ``sla.run_deadline`` (the callback is
checked by its import path), so only the standard library is imported at module level.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

#: The key an alert adds to the context a notifier renders: ``{{ mlops_alert.message }}``.
ALERT_KEY = "mlops_alert"
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class ChampionAge:
    """How old the champion is against the pipeline's limit; ``age_days`` is None when it has no recorded promotion."""

    model: str
    version: str | None
    promoted_at: str | None
    age_days: float | None
    limit_days: float

    @property
    def too_old(self) -> bool:
        return self.age_days is not None and self.age_days > self.limit_days

    @property
    def message(self) -> str:
        if self.version is None:
            return f"{self.model} has no champion yet; nothing to age"
        if self.age_days is None:
            return f"{self.model} version {self.version} has no recorded promotion time (aliased by hand?); age unknown"
        verdict = "older than" if self.too_old else "within"
        return (
            f"champion of {self.model} (version {self.version}) took the alias {self.age_days:.1f} days ago "
            f"({self.promoted_at}), {verdict} the SLA of {self.limit_days:g} days"
        )


def champion_age(
    model: str, version: str | None, promoted_at: str | None, limit_days: float, now: datetime | None = None
) -> ChampionAge:
    """Judge a champion's age from its ``mlops.promoted_at`` tag (ISO 8601; naive means UTC).

    An unreadable or missing time gives no age: a champion aliased by hand is never reported as too old.
    """
    age: float | None = None
    if version is not None and promoted_at:
        try:
            since = datetime.fromisoformat(promoted_at)
        except ValueError:
            since = None
        if since is not None:
            since = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
            age = max(0.0, ((now or datetime.now(UTC)) - since).total_seconds() / SECONDS_PER_DAY)
    return ChampionAge(model, version, promoted_at if version is not None else None, age, float(limit_days))


def alert_context(context: Mapping[str, Any], **alert: Any) -> dict[str, Any]:
    """``context`` with the alert under :data:`ALERT_KEY`, for the notifiers' templates."""
    return {**context, ALERT_KEY: dict(alert)}


def deliver(notifiers: Sequence[Mapping[str, Any]], context: Mapping[str, Any]) -> int:
    """Call every notifier (``{notifier, params}``, as in ``sla.notify``) with ``context``; returns how many were told.

    A failure does not stop the others: each is tried, then one error names all that failed.
    """
    from airflow_mlops.errors import AlertDeliveryError
    from airflow_mlops.notify import ConfiguredNotifier

    failed: list[str] = []
    reasons: list[str] = []
    for spec in notifiers:
        target = str(spec["notifier"])
        try:
            ConfiguredNotifier(target, dict(spec.get("params") or {})).notify(context)  # type: ignore[arg-type]
        except Exception as err:
            log.exception("SLA alert not delivered to %s", target)
            failed.append(target)
            reasons.append(f"{target}: {type(err).__name__}: {err}")
    if failed:
        raise AlertDeliveryError(
            f"SLA alert not delivered to {len(failed)} of {len(notifiers)} notifier(s): {'; '.join(reasons)}",
            targets=failed,
        )
    return len(notifiers)


async def run_deadline_missed(
    *,
    pipeline: str,
    minutes: float,
    after: str,
    notify: Sequence[Mapping[str, Any]] = (),
    context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The callback of ``sla.run_deadline``: Airflow's triggerer awaits it when a DAG run is late.

    ``context`` is what Airflow's scheduler gives a deadline callback: ``dag_run`` (the run as the
    REST API shows it) and ``deadline`` (``id``, ``deadline_time``). The miss is counted as
    ``mlops.sla.run_deadline_missed.<pipeline>``; the notifiers are called in a worker thread, since
    they may block (SMTP, HTTP) and the triggerer's event loop serves other triggers meanwhile.
    """
    import asyncio

    from airflow_mlops.observability import emit

    context = dict(context or {})
    dag_run = context.get("dag_run")
    run_id = dag_run.get("dag_run_id") if isinstance(dag_run, Mapping) else None
    deadline = context.get("deadline")
    deadline = deadline.get("deadline_time") if isinstance(deadline, Mapping) else None
    reference = "it was queued" if after == "queued" else "its logical date"
    message = (
        f"DAG run {run_id} of {pipeline} had not ended {minutes:g} minutes after {reference} (deadline {deadline})"
    )
    log.warning("Retraining SLA: %s", message)
    emit.ensure_configured()
    emit.deadline_missed(pipeline)
    alert = alert_context(context, kind="run_deadline_missed", pipeline=pipeline, run_id=run_id, message=message)
    told = await asyncio.to_thread(deliver, notify, alert) if notify else 0
    return {"pipeline": pipeline, "run_id": run_id, "message": message, "notified": told}
