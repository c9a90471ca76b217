"""Where the serving check's outcome is read: the spec, the requests, the lineage tags, the report, the UI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_mlops.errors import ModelServerError, PermanentError, PipelineConfigError, ServingCheckError
from airflow_mlops.gates.serving import Answer, ServingLimits, judge
from airflow_mlops.record import tag
from airflow_mlops.record.lineage import VersionLineage
from airflow_mlops.report import format_report, serving_lines
from airflow_mlops.report.lineage_text import format_lineage
from airflow_mlops.spec.loader import load_pipeline_spec
from tests.unit.plugins.run_page import render_run_page

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "dags" / "pipelines" / "breast_cancer.yaml"

FAILED = judge(
    model_uri="models:/m-abc",
    problem="classification",
    offline=[0, 1, 1],
    served=[0, 1, 0],
    latencies_ms=[3.0, 4.0],
    malformed_answers={"missing_column": Answer(400), "empty_batch": Answer(500)},
    limits=ServingLimits(max_p95_ms=50),
).to_dict()


def _example(tmp_path: Path, **changes: Any) -> Path:
    spec = yaml.safe_load(EXAMPLE.read_text())
    spec.update(changes)
    (tmp_path / "suites").mkdir(exist_ok=True)
    (tmp_path / "suites" / "breast_cancer.yaml").write_text(
        (EXAMPLE.parent / "suites" / "breast_cancer.yaml").read_text()
    )
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_the_check_is_on_by_default_and_its_step_follows_the_switch(tmp_path: Path) -> None:
    spec = load_pipeline_spec(_example(tmp_path, serving_check={}))
    assert spec.serving_check.enabled and spec.serving_check.rows == 200
    assert spec.serving_check.malformed_requests == ["missing_column", "wrong_type", "empty_batch"]
    assert "serving_check" in spec.step_names()
    off = load_pipeline_spec(_example(tmp_path, serving_check={"enabled": False}))
    assert "serving_check" not in off.step_names()


def test_bad_serving_settings_are_reported_at_their_field_all_at_once(tmp_path: Path) -> None:
    bad = {"max_p95_ms": 0, "malformed_requests": ["missing_column", "missing_column", "bad_json"], "parity": {"x": 1}}
    with pytest.raises(PipelineConfigError) as raised:
        load_pipeline_spec(_example(tmp_path, serving_check=bad))
    found = {issue.field: issue.message for issue in raised.value.issues}
    assert "serving_check.max_p95_ms" in found
    assert any(key.startswith("serving_check.malformed_requests") for key in found), found
    assert "serving_check.parity.x" in found
    assert all(issue.line for issue in raised.value.issues)


def test_the_failures_are_permanent_errors() -> None:
    assert issubclass(ServingCheckError, PermanentError)
    assert issubclass(ModelServerError, PermanentError)


def test_requests_keep_every_float_exact_and_carry_one_defect_each() -> None:
    import pandas as pd

    from airflow_mlops.ml.serving_requests import frame_body, malformed_bodies, predictions_of

    frame = pd.DataFrame({"a": [0.1 + 0.2, 1 / 3], "b": [1, 2], "c": ["x", "y"]})
    split = json.loads(frame_body(frame))["dataframe_split"]
    assert split == {"columns": ["a", "b", "c"], "data": [[0.1 + 0.2, 1, "x"], [1 / 3, 2, "y"]]}
    bodies = {
        k: json.loads(v)["dataframe_split"]
        for k, v in malformed_bodies(frame, ["missing_column", "wrong_type", "empty_batch"]).items()
    }
    assert bodies["missing_column"]["columns"] == ["b", "c"]
    assert [row[0] for row in bodies["wrong_type"]["data"]] == ["not a number", "not a number"]
    assert bodies["empty_batch"] == {"columns": ["a", "b", "c"], "data": []}
    assert predictions_of(b'{"predictions": [1, 0]}') == [1, 0]
    assert predictions_of(b"<html>") is None and predictions_of(b'{"error_code": "BAD_REQUEST"}') is None


def test_a_passed_check_is_written_on_the_version_and_read_back() -> None:
    serving = {"decision": "pass", "summary": "PASS: served models:/m-1 matched"}
    gate = {
        "candidate": {"candidate": "c", "estimator": "e", "mlflow_run_id": "r1", "metrics": {}},
        "verdict": {"decision": "promote", "summary": "PROMOTE c", "champion_version": None},
    }
    data = dict.fromkeys(tag.DATA_FIELDS, "x")
    common = {"dag_id": "d", "run_id": "r", "data": data, "validation": {"success": True, "statistics": {}}}
    tags = VersionLineage.from_pipeline(**common, gate=gate, code={}, serving=serving).to_tags()
    assert tags[tag.SERVING_DECISION] == "pass"
    assert VersionLineage.from_tags(tags).serving.summary == serving["summary"]
    unchecked = VersionLineage.from_pipeline(**common, gate=gate, code={}).to_tags()
    assert tag.SERVING_DECISION not in unchecked
    assert VersionLineage.from_tags(unchecked).serving.decision is None


def test_the_run_summary_gives_every_reason_of_a_failed_check() -> None:
    text = format_report({"dag_id": "d", "run_id": "r", "model_name": "m", "serving": FAILED, "aliases": {}})
    assert "  serving     FAIL models:/m-abc" in text
    assert "NO  parity: 66.67% of 3 served labels equal the offline ones" in text
    assert "ok  missing_column: a request without one of the model's input columns refused with 400" in text
    assert "NO  empty_batch: a request with no rows got 500" in text
    assert serving_lines(None) == []


def test_lineage_says_whether_the_version_was_served_before_registration() -> None:
    sections = ("pipeline", "data", "validation", "code", "training", "metrics", "gate", "approval", "promotion")
    info: dict[str, Any] = {
        "model_name": "m",
        "version": "2",
        "aliases": [],
        "history": [],
        **{key: {} for key in sections},
    }
    info["serving"] = {"decision": "pass", "summary": "PASS: served models:/m-1 matched its offline predictions"}
    assert "  serving     PASS: served models:/m-1 matched its offline predictions" in format_lineage(info)
    info["serving"] = {"decision": None, "summary": None}
    assert "  serving     not checked (the pipeline ran no serving check)" in format_lineage(info)


def test_the_run_page_shows_the_failed_check_and_why_nothing_was_registered() -> None:
    verdict = {"decision": "promote", "candidate": "c", "champion_version": None, "n_test": 3, "outcomes": []}
    html = render_run_page(
        run={"state": "failed", "start_date": None, "end_date": None}, verdict=verdict, serving=FAILED, n_test=3
    )
    section = html[
        html.index('<section id="serving">') : html.index("</section>", html.index('<section id="serving">'))
    ]
    assert '<span class="badge fail">fail</span>' in section
    assert "parity: 66.67% of 3 served labels equal the offline ones" in section
    assert "empty_batch: a request with no rows got 500" in section
    assert "nothing (the serving check failed)" in html


def test_a_person_is_asked_only_after_the_check_and_without_it_register_follows_the_gate(tmp_path: Path) -> None:
    from airflow_mlops.factory.retraining import build_retraining_dag

    manual = build_retraining_dag(load_pipeline_spec(_example(tmp_path, approval="manual")))
    assert "serving_check" in manual.get_task("approve").upstream_task_ids
    # The DAG's own param (no_cache) reaches every task, but the approval form asks only for a reason.
    assert "no_cache" in manual.params and list(manual.get_task("approve").serialized_params) == ["reason"]
    assert {"serving_check", "approve"} <= manual.get_task("register").upstream_task_ids
    assert manual.get_task("evaluate").prediction_rows == 200
    off = build_retraining_dag(load_pipeline_spec(_example(tmp_path, serving_check={"enabled": False})))
    assert "serving_check" not in off.task_ids
    assert "gate" in off.get_task("register").upstream_task_ids
    assert off.get_task("evaluate").prediction_rows == 0
