"""Pages escape everything users can write, show no credentials, and draw the sparkline themselves."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_mlops.plugins import render, urls

EVIL = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
RUN_ID = "manual__2026-01-01T00:00:00+00:00"


def _run(run_id: str = RUN_ID, decision: str | None = "promote", f1: float | None = 0.9) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "state": "success",
        "run_after": "2026-01-01T00:00:00+00:00",
        "start_date": "2026-01-01T00:00:00+00:00",
        "decision": decision,
        "candidate": EVIL,
        "metrics": {"f1": f1} if f1 is not None else {},
        "metric": "f1",
        "registered_version": "1",
        "promoted_version": "1",
    }


def _pipelines_page(**overrides: Any) -> str:
    pipeline = {
        "dag_id": "evil_dag",
        "template": EVIL,
        "tags": [EVIL],
        "description": EVIL,
        "is_paused": False,
        "schedule": EVIL,
        "models": [EVIL],
        "runs": [_run(EVIL), _run()],
        "last_run": _run(EVIL),
        "trend": {"metric": "f1", "points": [{"value": 0.9, "decision": EVIL, "label": EVIL}], "latest": 0.9},
        **overrides,
    }
    return render.render(
        "pipelines.html",
        root="/mlops",
        title="ML Pipelines",
        pipelines=[pipeline],
        aliases={EVIL: {"champion": EVIL}},
        mlflow_error=None,
        mlflow_ui=None,
    )


def _assert_inert(html: str) -> None:
    assert "<script" not in html
    assert "<img" not in html
    assert "onerror=alert" not in html.replace("onerror=alert(2)&gt;", "")  # only inside escaped text
    assert "&lt;script&gt;" in html


def test_pipelines_page_escapes_descriptions_names_and_run_ids() -> None:
    html = _pipelines_page()
    _assert_inert(html)
    # In attributes and URLs the value is percent-encoded, so it cannot end the attribute.
    assert urls.run_path("evil_dag", EVIL) in html
    assert '"><img' not in html


def test_run_page_escapes_verdict_reasons_and_candidates() -> None:
    outcome = {"rule": EVIL, "metric": EVIL, "candidate": 0.9, "champion": None, "threshold": 0.5,
               "delta": 0.4, "passed": False, "reason": EVIL}  # fmt: skip
    html = render.render(
        "run.html",
        root="/mlops",
        title=EVIL,
        dag_id="d",
        run_id=EVIL,
        run={"state": EVIL, "start_date": None, "end_date": None},
        tasks=[{"task_id": EVIL, "label": EVIL, "state": EVIL}],
        mlflow_run_id=EVIL,
        experiment_id=EVIL,
        data={"path": EVIL, "rev": EVIL, "commit": EVIL, "md5": EVIL, "repo": "https://u:pw@git.example.com/r.git"},
        validation={"success": False, "statistics": {}, "failed": [{"type": EVIL, "column": EVIL, "reason": EVIL}]},
        verdict={"decision": "reject", "candidate": EVIL, "champion_version": EVIL, "n_test": 10},
        gate_rows=[outcome],
        n_test=10,
        candidate_rows=[
            {"name": EVIL, "metrics": {EVIL: 1.0}, "mlflow_run_id": EVIL, "experiment_id": EVIL, "note": EVIL}
        ],
        champion_row=False,
        registered=[{"model_name": EVIL, "version": EVIL}],
        aliases={EVIL: {EVIL: EVIL}},
        mlflow_error=None,
        mlflow_ui="https://mlflow.example.com",
    )
    _assert_inert(html)
    assert "pw@" not in html and "git.example.com/r.git" in html


def test_escaping_is_on_for_every_template() -> None:
    assert render.environment().autoescape is True


def test_records_missing_fields_still_render() -> None:
    """Records written by older versions or by hand lack fields; the page shows "-" instead of failing."""
    html = render.render(
        "validation.html",
        root="/mlops",
        title="v",
        dag_id="d",
        run_id="r",
        digest=None,
        result={"success": False, "results": [{"type": "expect_x"}]},
        mlflow_run_id=None,
        experiment_id=None,
    )
    assert "expect_x" in html and "-/-" in html


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://user:secret@mlflow:5000/x", "http://mlflow:5000/x"),
        ("https://token@git.example.com/repo.git", "https://git.example.com/repo.git"),
        ("s3://bucket/key", "s3://bucket/key"),
        ("/tmp/data-repo", "/tmp/data-repo"),
        ("not a url @ all", "not a url @ all"),
    ],
)
def test_without_userinfo(url: str, expected: str) -> None:
    assert urls.without_userinfo(url) == expected


def test_paths_percent_encode_every_segment() -> None:
    assert urls.run_path("d", "a/b#c?d") == "/dags/d/runs/a%2Fb%23c%3Fd"
    assert urls.model_version_path("m m", "2") == "/models/m%20m/versions/2"
    assert urls.absolute("http://airflow:8080/", "/pipelines") == "http://airflow:8080/mlops/pipelines"
    assert urls.absolute("", "/pipelines") == "/mlops/pipelines"


def test_sparkline_draws_runs_oldest_first_with_gaps() -> None:
    svg = str(
        render.sparkline(
            [
                {"value": 0.8, "decision": "promote", "label": "r1"},
                {"value": None, "decision": None, "label": "r2"},
                {"value": 0.9, "decision": "reject", "label": EVIL},
                {"value": 0.95, "decision": "promote", "label": "r4"},
            ]
        )
    )
    assert svg.startswith("<svg") and svg.count("<circle") == 3
    assert svg.count("<polyline") == 1  # r1 stands alone before the gap, r3-r4 form a line
    assert 'class="dot-reject"' in svg and "<script" not in svg and "&lt;script&gt;" in svg


def test_sparkline_without_values_says_so() -> None:
    assert "no metrics yet" in str(render.sparkline([{"value": None, "decision": None, "label": "r"}]))


def test_flat_sparkline_sits_in_the_middle() -> None:
    svg = str(render.sparkline([{"value": 1.0, "decision": "promote", "label": "a"}] * 2, height=32))
    assert 'cy="16.0"' in svg


def test_static_files_are_an_allowlist() -> None:
    assert render.static_file("style.css") is not None
    assert render.static_file("icon.svg") is not None
    assert render.static_file("../app.py") is None
    assert render.static_file("templates/base.html") is None


def test_numbers() -> None:
    assert render.number(0.123456) == "0.1235"
    assert render.number(None) == "-"
    assert render.number(3) == "3"
    assert render.signed(0.01) == "+0.0100"
    assert render.when("2026-01-01T10:00:00+00:00") == "2026-01-01 10:00:00 UTC"
    assert render.metric_columns([{"zeta": 1, "roc_auc": 1}, {"f1": 1}]) == ["f1", "roc_auc", "zeta"]
