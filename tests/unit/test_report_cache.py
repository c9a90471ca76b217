"""The terminal report says which steps reused an earlier run's result, in run order, and why the others did not."""

from __future__ import annotations

from airflow_mlops.record import tag
from airflow_mlops.record.cache import CacheOutcome
from airflow_mlops.report import cache_outcomes, format_report


def test_cache_outcomes_are_read_from_the_tags_in_run_order_and_shown_one_per_line() -> None:
    outcomes = [
        CacheOutcome("train.logreg", True, "same key", "k1", "run-a", "manual__1"),
        CacheOutcome("prepare_data", True, "same key", "k0", "run-p", "manual__1"),
        CacheOutcome("train.forest", False, "since manual__1: spec.params.n_estimators: 200 -> 300", "k2"),
    ]
    tags = {tag.cache_outcome(o.step): o.to_json() for o in outcomes} | {tag.RUN_ID: "manual__2"}
    read = cache_outcomes(tags)
    assert [o["step"] for o in read] == ["prepare_data", "train.forest", "train.logreg"]
    text = format_report({"run_id": "r", "dag_id": "d", "model_name": "m", "aliases": {}, "cache": read})
    lines = [line for line in text.splitlines() if "prepare_data" in line or "train." in line]
    assert lines == [
        "  cache       prepare_data  HIT  reused from manual__1 (MLflow run run-p)",
        "              train.forest  MISS since manual__1: spec.params.n_estimators: 200 -> 300",
        "              train.logreg  HIT  reused from manual__1 (MLflow run run-a)",
    ]


def test_a_run_without_cache_outcomes_shows_no_cache_lines() -> None:
    text = format_report({"run_id": "r", "dag_id": "d", "model_name": "m", "aliases": {}, "cache": []})
    assert "cache" not in text


def test_an_unchanged_run_says_nothing_changed_and_what_keeps_serving() -> None:
    from airflow_mlops.gates.decision import Verdict, unchanged

    verdict = unchanged(Verdict("promote", "logreg", "2", False, 143)).to_dict()
    deployment = {"target": "mlops-local", "endpoint": "bc", "this_run": False, "serving_version": "2"}
    report = {"run_id": "r", "dag_id": "d", "model_name": "m", "aliases": {}, "verdict": verdict,
              "deployment": deployment}  # fmt: skip
    lines = format_report(report).splitlines()
    at = lines.index("  gate        UNCHANGED logreg")
    assert lines[at + 1] == (
        "              it is the model the champion (version 2) already serves; nothing to register or promote"
    )
    assert "  registered  nothing" in lines
    assert (
        "  deployment  UNCHANGED: this run deployed nothing (nothing changed: the champion already serves this "
        "model); v2 keeps serving"
    ) in lines
