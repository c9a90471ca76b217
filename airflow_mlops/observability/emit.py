"""Sending the vocabulary's metrics through Airflow's stats client (``airflow.sdk.observability.stats``).

Inside a task, Airflow's task runner has already chosen the backend from ``[metrics]``: StatsD
(``statsd_on``, needs ``apache-airflow[statsd]``), DogStatsD or OpenTelemetry (``otel_on``). Outside
one (the ``airflow-mlops`` CLI, a unit test) the client is a no-op until :func:`use_airflow_config`
picks the same backend. A metric is an observation, never a reason to fail: every error sending one
is logged and swallowed, so a broken metrics pipe cannot fail a retraining run or a rollback.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from airflow_mlops.observability import names

if TYPE_CHECKING:
    from airflow_mlops.observability.names import Metric

log = logging.getLogger(__name__)


def use_airflow_config() -> None:
    """Pick the backend Airflow's ``[metrics]`` section configures, as the task runner does; for the CLI."""
    try:
        from airflow.sdk.observability import stats
        from airflow.sdk.observability.metrics.stats_utils import get_stats_factory

        stats.initialize(factory=get_stats_factory(), export_legacy_names=False)
    except Exception as err:  # metrics stay off; the command itself must still work
        log.warning("Metrics are off: Airflow's [metrics] configuration could not be read: %s", err)


def ensure_configured() -> None:
    """Pick the ``[metrics]`` backend unless a process already did (the triggerer's trigger runner may not have)."""
    try:
        from airflow.sdk._shared.observability.metrics import stats as shared
    except Exception:  # a layout this version does not know: leave the backend as Airflow set it
        return
    if getattr(shared, "_factory", None) is None:
        use_airflow_config()


def gauge(metric: Metric, value: float, /, **labels: object) -> None:
    """Set ``metric`` for ``labels`` to ``value``; NaN and infinities are not sent (no backend stores them)."""
    if metric.kind != "gauge":
        raise ValueError(f"{metric.name} is a {metric.kind}, not a gauge")
    if not math.isfinite(value):
        return
    name, tags = names.stat(metric, **labels)
    try:
        from airflow.sdk.observability import stats

        stats.gauge(name, float(value), tags=tags)
    except Exception as err:
        log.warning("Could not send metric %s: %s", name, err)


def incr(metric: Metric, /, **labels: object) -> None:
    """Add one to the counter ``metric`` for ``labels``."""
    if metric.kind != "counter":
        raise ValueError(f"{metric.name} is a {metric.kind}, not a counter")
    name, tags = names.stat(metric, **labels)
    try:
        from airflow.sdk.observability import stats

        stats.incr(name, tags=tags)
    except Exception as err:
        log.warning("Could not send metric %s: %s", name, err)


def _whole_set(metrics: Mapping[str, float]) -> dict[str, float]:
    """The whole-test-set metrics: slice keys (``recall[region=north]``) would multiply the series per value."""
    return {key: value for key, value in metrics.items() if "[" not in key and isinstance(value, int | float)}


def gate_verdict(
    pipeline: str,
    decision: str,
    candidates: Mapping[str, Mapping[str, float]],
    champion: Mapping[str, float] | None,
) -> None:
    """The gate's decision, every candidate's test metrics and the champion's on the same rows."""
    if decision != "unchanged":  # the champion stands: neither a pass nor a rejection to alert on
        gauge(names.GATE_PASSED, 1.0 if decision == "promote" else 0.0, pipeline=pipeline)
    incr(names.GATE_DECISIONS, pipeline=pipeline, decision=decision)
    for candidate, metrics in candidates.items():
        for metric, value in _whole_set(metrics).items():
            gauge(names.CANDIDATE_METRIC, value, pipeline=pipeline, candidate=candidate, metric=metric)
    for metric, value in _whole_set(champion or {}).items():
        gauge(names.CHAMPION_METRIC, value, pipeline=pipeline, metric=metric)


def validation(pipeline: str, success_percent: float | None) -> None:
    """The share of expectations the data met (GX reports none when the suite evaluated nothing)."""
    gauge(names.VALIDATION_SUCCESS, 100.0 if success_percent is None else float(success_percent), pipeline=pipeline)


def drift(pipeline: str, psi: Mapping[str, float], drifted: bool) -> None:
    """The PSI of each feature and whether the check as a whole found drift."""
    for feature, value in psi.items():
        gauge(names.DRIFT_SCORE, float(value), pipeline=pipeline, feature=feature)
    gauge(names.DRIFT_DETECTED, 1.0 if drifted else 0.0, pipeline=pipeline)


def champion_age(model: str, promoted_at: str | None, now: datetime | None = None) -> None:
    """When the champion took the alias (ISO 8601, the ``mlops.promoted_at`` tag) and how long ago that was.

    Nothing is sent for a champion with no recorded promotion (a version aliased by hand).
    """
    if not promoted_at:
        return
    try:
        since = datetime.fromisoformat(promoted_at)
    except ValueError:
        log.warning("Champion of %s has an unreadable promotion time %r; its age is not sent", model, promoted_at)
        return
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    gauge(names.CHAMPION_PROMOTED_AT, since.timestamp(), model=model)
    gauge(names.CHAMPION_AGE, max(0.0, (now - since).total_seconds()), model=model)


def alias_moved(model: str, action: str, at: str) -> None:
    """A promotion or a rollback moved the champion alias at ``at`` (ISO 8601)."""
    incr(names.ROLLBACKS if action == "rollback" else names.PROMOTIONS, model=model)
    champion_age(model, at)


def champion_sla(model: str, limit_seconds: float, too_old: bool) -> None:
    """The champion-age SLA of ``model`` and whether its champion was found older than it."""
    gauge(names.SLA_CHAMPION_AGE_LIMIT, float(limit_seconds), model=model)
    gauge(names.SLA_CHAMPION_TOO_OLD, 1.0 if too_old else 0.0, model=model)


def deadline_missed(pipeline: str) -> None:
    """A DAG run of ``pipeline`` had not ended by its ``sla.run_deadline``."""
    incr(names.SLA_DEADLINE_MISSED, pipeline=pipeline)
