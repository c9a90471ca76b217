"""The metric vocabulary, its emitters over a real UDP socket, and the docs' files that read it."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from airflow_mlops.observability import emit, names
from tests.statsd_capture import StatsdListener

DOCS = Path(__file__).resolve().parents[3] / "docs" / "observability"
SAMPLE_LABELS = {"pipeline": "team.churn", "decision": "promote", "candidate": "logreg", "metric": "f1",
                 "feature": "mean radius", "model": "churn.model"}  # fmt: skip
PROMETHEUS_NAME = re.compile(r"\bairflow_mlops_\w+")


def _glob(pattern: str) -> re.Pattern[str]:
    """A statsd_exporter glob: ``*`` matches one dot-free component."""
    return re.compile("^" + r"\.".join("([^.]+)" if p == "*" else re.escape(p) for p in pattern.split(".")) + "$")


def _sample(metric: names.Metric) -> str:
    return "airflow." + names.stat(metric, **{k: SAMPLE_LABELS[k] for k in metric.labels})[0]


def test_every_name_is_valid_for_statsd_and_airflow() -> None:
    from airflow.sdk._shared.observability.metrics.validators import stat_name_default_handler

    assert len({m.name for m in names.METRICS}) == len(names.METRICS)
    for metric in names.METRICS:
        name, tags = names.stat(metric, **{k: "x" * 200 for k in metric.labels})
        assert stat_name_default_handler(name) == name  # raises on a bad character or length
        assert set(tags) == set(metric.labels)


@given(st.text(max_size=300))
def test_a_label_value_is_always_one_safe_component(value: str) -> None:
    part = names.label_value(value)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,60}", part)


def test_labels_must_be_exactly_the_metrics_own() -> None:
    with pytest.raises(ValueError, match="takes the labels"):
        names.stat(names.GATE_PASSED, pipeline="p", model="m")
    with pytest.raises(ValueError, match="not a gauge"):
        emit.gauge(names.PROMOTIONS, 1.0, model="m")


def test_without_a_configured_backend_emitting_is_a_no_op() -> None:
    emit.gate_verdict("p", "promote", {"c": {"f1": 0.9}}, None)
    emit.alias_moved("m", "rollback", "not a date")


def test_the_emitters_send_names_values_and_kinds_over_udp(listener: StatsdListener) -> None:
    emit.gate_verdict(
        "team.churn",
        "reject",
        {"logreg": {"f1": 0.91, "recall[region=north]": 0.5}},
        {"f1": 0.93, "roc_auc": float("nan")},
    )
    emit.validation("team.churn", 87.5)
    emit.drift("team.churn", {"mean radius": 0.31}, drifted=True)
    emit.alias_moved("churn.model", "rollback", "2026-01-01T00:00:00+00:00")
    got = {(s.name, s.kind): s.value for s in listener.samples()}
    assert got == {
        ("airflow.mlops.gate.passed.team_churn", "g"): 0.0,
        ("airflow.mlops.gate.decisions.team_churn.reject", "c"): 1.0,
        ("airflow.mlops.candidate.test.team_churn.logreg.f1", "g"): 0.91,
        ("airflow.mlops.champion.test.team_churn.f1", "g"): 0.93,  # NaN is not sent, nor slices
        ("airflow.mlops.validation.success_percent.team_churn", "g"): 87.5,
        ("airflow.mlops.drift.psi.team_churn.mean_radius", "g"): 0.31,
        ("airflow.mlops.drift.detected.team_churn", "g"): 1.0,
        ("airflow.mlops.registry.rollbacks.churn_model", "c"): 1.0,
        ("airflow.mlops.champion.promoted_timestamp.churn_model", "g"): 1767225600.0,
        ("airflow.mlops.champion.age_seconds.churn_model", "g"): pytest.approx(
            (datetime.now(UTC) - datetime(2026, 1, 1, tzinfo=UTC)).total_seconds(), abs=60
        ),
    }


def test_influxdb_style_statsd_carries_the_labels_as_tags(
    listener: StatsdListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED", "True")
    emit.use_airflow_config()
    emit.gauge(names.CANDIDATE_METRIC, 0.5, pipeline="p", candidate="forest", metric="recall")
    (sample,) = listener.samples()
    assert sample.name == "airflow.mlops.candidate.test.p.forest.recall"
    assert sample.tags == {"pipeline": "p", "candidate": "forest", "metric": "recall"}


def test_the_exporter_mapping_maps_every_metric_to_its_prometheus_name() -> None:
    mappings = yaml.safe_load((DOCS / "statsd-exporter-mapping.yaml").read_text())["mappings"]
    assert len(mappings) == len(names.METRICS)
    for metric in names.METRICS:
        sample = _sample(metric)
        matching = [m for m in mappings if _glob(m["match"]).match(sample)]
        assert len(matching) == 1, (sample, matching)
        (mapping,) = matching
        assert mapping["name"] == metric.prometheus_name()
        assert mapping["match_metric_type"] == metric.kind
        captured = _glob(mapping["match"]).match(sample).groups()  # type: ignore[union-attr]
        labels = {key: captured[int(ref[1:]) - 1] for key, ref in mapping["labels"].items()}
        assert labels == {k: names.label_value(SAMPLE_LABELS[k]) for k in metric.labels}


def test_the_dashboard_and_the_alerts_use_only_emitted_names() -> None:
    emitted = {m.prometheus_name() for m in names.METRICS}
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    used = {n for e in exprs for n in PROMETHEUS_NAME.findall(e)}
    assert used and used <= emitted, used - emitted
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])

    rules = yaml.safe_load((DOCS / "prometheus-rules.yaml").read_text())
    (group,) = rules["groups"]
    alerts = {r["alert"]: r for r in group["rules"]}
    assert {"MlopsChampionTooOld", "MlopsValidationFailing", "MlopsDriftDetected"} <= set(alerts)
    for rule in alerts.values():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
        assert rule["labels"]["severity"] and rule["annotations"]["summary"]
        assert set(PROMETHEUS_NAME.findall(rule["expr"])) <= emitted, rule["expr"]
        assert rule["expr"].count("(") == rule["expr"].count(")")
    assert "airflow_mlops_champion_promoted_timestamp" in alerts["MlopsChampionTooOld"]["expr"]
