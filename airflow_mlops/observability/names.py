"""Every metric airflow-mlops emits: its name, kind and labels, in one place.

Like ``record/tag.py`` for MLflow tags, this is the only module that spells a metric name. The
statsd-exporter mapping, the Grafana dashboard and the Prometheus rules under ``docs/observability/``
are checked against this table by tests, so a renamed metric cannot leave a dashboard behind.

Plain StatsD has no tags (Airflow's StatsD client drops them unless ``statsd_influxdb_enabled``),
so each label value is also written into the name as a trailing dot-separated component, the way
Airflow's own ``dagrun.duration.success.<dag_id>`` does; the same values go along as tags for
DogStatsD, InfluxDB-style StatsD and OpenTelemetry. The statsd-exporter mapping turns the
components back into Prometheus labels. Label values are sanitized so that a value can never add
a component (``.`` is the separator) or a character StatsD or Prometheus refuses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["gauge", "counter"]

#: Airflow refuses a StatsD name longer than this (prefix excluded); OTel allows 255 with the prefix.
NAME_MAX_CHARS = 250
#: The longest a single label value may be in a name, so several labels still fit.
VALUE_MAX_CHARS = 60
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
#: The first component of every metric name (Airflow's own ``[metrics] statsd_prefix`` comes before it).
NAMESPACE = "mlops"


@dataclass(frozen=True)
class Metric:
    """One metric: ``name`` is the fixed part, ``labels`` the components that follow it, in order."""

    name: str
    kind: Kind
    labels: tuple[str, ...]
    help: str

    def pattern(self) -> str:
        """The name with one ``*`` per label, as a statsd-exporter glob matches it (without the prefix)."""
        return ".".join([self.name, *("*" for _ in self.labels)])

    def prometheus_name(self, prefix: str = "airflow") -> str:
        """The name the shipped statsd-exporter mapping gives it in Prometheus."""
        base = f"{prefix}_{self.name}".replace(".", "_")
        return f"{base}_total" if self.kind == "counter" else base


GATE_PASSED = Metric(
    f"{NAMESPACE}.gate.passed",
    "gauge",
    ("pipeline",),
    "1 when the last gate verdict promoted its candidate, 0 when it rejected (an unchanged run sends none)",
)
GATE_DECISIONS = Metric(
    f"{NAMESPACE}.gate.decisions",
    "counter",
    ("pipeline", "decision"),
    "gate verdicts, by decision (promote, reject or unchanged)",
)
CANDIDATE_METRIC = Metric(
    f"{NAMESPACE}.candidate.test",
    "gauge",
    ("pipeline", "candidate", "metric"),
    "each candidate's metric on the test set",
)
CHAMPION_METRIC = Metric(
    f"{NAMESPACE}.champion.test", "gauge", ("pipeline", "metric"), "the champion's metric on the same test set"
)
VALIDATION_SUCCESS = Metric(
    f"{NAMESPACE}.validation.success_percent",
    "gauge",
    ("pipeline",),
    "percent of expectations the last data version met",
)
DRIFT_SCORE = Metric(
    f"{NAMESPACE}.drift.psi", "gauge", ("pipeline", "feature"), "population stability index per feature"
)
DRIFT_DETECTED = Metric(
    f"{NAMESPACE}.drift.detected", "gauge", ("pipeline",), "1 when the last drift check found drift, else 0"
)
PROMOTIONS = Metric(
    f"{NAMESPACE}.registry.promotions", "counter", ("model",), "moves of the champion alias by a promotion"
)
ROLLBACKS = Metric(
    f"{NAMESPACE}.registry.rollbacks", "counter", ("model",), "moves of the champion alias by a rollback"
)
CHAMPION_PROMOTED_AT = Metric(
    f"{NAMESPACE}.champion.promoted_timestamp",
    "gauge",
    ("model",),
    "unix time at which the current champion took the alias; alert on time() minus it",
)
CHAMPION_AGE = Metric(
    f"{NAMESPACE}.champion.age_seconds",
    "gauge",
    ("model",),
    "seconds the current champion had held the alias when last measured (each pipeline run and each move)",
)

SLA_CHAMPION_AGE_LIMIT = Metric(
    f"{NAMESPACE}.sla.champion_age_limit_seconds",
    "gauge",
    ("model",),
    "the pipeline's sla.max_champion_age_days in seconds; alert when the champion's age exceeds it",
)
SLA_CHAMPION_TOO_OLD = Metric(
    f"{NAMESPACE}.sla.champion_too_old",
    "gauge",
    ("model",),
    "1 when the last check_champion_age found the champion older than the SLA, else 0",
)
SLA_DEADLINE_MISSED = Metric(
    f"{NAMESPACE}.sla.run_deadline_missed",
    "counter",
    ("pipeline",),
    "DAG runs that had not ended by their sla.run_deadline (an Airflow deadline alert fired)",
)

#: Every metric, in the order docs/observability.md lists them.
METRICS: tuple[Metric, ...] = (
    GATE_PASSED,
    GATE_DECISIONS,
    CANDIDATE_METRIC,
    CHAMPION_METRIC,
    VALIDATION_SUCCESS,
    DRIFT_SCORE,
    DRIFT_DETECTED,
    PROMOTIONS,
    ROLLBACKS,
    CHAMPION_PROMOTED_AT,
    CHAMPION_AGE,
    SLA_CHAMPION_AGE_LIMIT,
    SLA_CHAMPION_TOO_OLD,
    SLA_DEADLINE_MISSED,
)


def label_value(value: object) -> str:
    """``value`` as one name component: runs of anything but letters, digits, ``_`` and ``-`` become ``_``.

    A dag_id such as ``team.churn`` becomes ``team_churn``; an empty value becomes ``_``.
    """
    return (_UNSAFE.sub("_", str(value)) or "_")[:VALUE_MAX_CHARS]


def stat(metric: Metric, /, **labels: object) -> tuple[str, dict[str, str]]:
    """The StatsD name and the tags of one sample of ``metric``; every label must be given, no other.

    >>> stat(GATE_DECISIONS, pipeline="team.churn", decision="promote")
    ('mlops.gate.decisions.team_churn.promote', {'pipeline': 'team_churn', 'decision': 'promote'})
    """
    if set(labels) != set(metric.labels):
        raise ValueError(f"{metric.name} takes the labels {list(metric.labels)}, got {sorted(labels)}")
    tags = {key: label_value(labels[key]) for key in metric.labels}
    name = ".".join([metric.name, *tags.values()])
    return name[:NAME_MAX_CHARS], tags
