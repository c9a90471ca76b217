"""The run summary says where the new champion was deployed, what its smoke check saw, and what serves now."""

from __future__ import annotations

from typing import Any

from airflow_mlops.report import format_report

SMOKE = {
    "decision": "pass",
    "requests": 20,
    "failed": 0,
    "p95_ms": 8.25,
    "limits": {"max_error_rate": 0.0, "max_p95_ms": 1000.0},
    "breaches": [],
}


def _report(deployment: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    return {
        "run_id": "manual__2",
        "dag_id": "churn_retrain",
        "model_name": "churn",
        "registered_version": "2",
        "aliases": {"champion": "2", "previous": "1"},
        "deployment": deployment,
        **extra,
    }


def _deployment(**fields: Any) -> dict[str, Any]:
    return {
        "version": "2",
        "decision": "deployed",
        "target": "mlops-local",
        "endpoint": "churn",
        "url": "http://127.0.0.1:41000",
        "strategy": "direct",
        "summary": "smoke check passed: 20/20 requests answered, p95 8.2 ms",
        "at": "2026-12-05T10:00:00+00:00",
        "by": "airflow:churn_retrain/manual__2",
        "smoke": SMOKE,
        "replaced": "1",
        "serving_version": "2",
        "this_run": True,
        **fields,
    }


def _deployment_block(text: str) -> list[str]:
    lines = text.splitlines()
    return lines[next(i for i, line in enumerate(lines) if line.startswith("  deployment  ")) :]


def test_a_deployment_shows_target_endpoint_url_strategy_smoke_and_the_version_serving() -> None:
    block = _deployment_block(format_report(_report(_deployment())))

    assert block == [
        "  deployment  DEPLOYED v2 to mlops-local, endpoint churn (direct)",
        "              url       http://127.0.0.1:41000",
        "              smoke     PASS: 20/20 requests answered, p95 8.2 ms (limits: error rate <= 0, p95 <= 1000 ms)",
        "              serving   v2",
    ]


def test_a_rollback_shows_the_breach_and_its_reason_and_the_previous_version_serving() -> None:
    smoke = {**SMOKE, "decision": "fail", "failed": 3, "breaches": ["error rate 15.0% above max_error_rate 0.0%"]}
    summary = "smoke check failed: ...; rolled back: endpoint serves models:/churn/1 again, @champion back on v1"
    deployment = _deployment(decision="rolled_back", smoke=smoke, summary=summary, serving_version="1")

    block = _deployment_block(format_report(_report(deployment)))

    assert block[0] == "  deployment  ROLLED BACK v2 to mlops-local, endpoint churn (direct)"
    assert block[2].endswith("17/20 requests answered, p95 8.2 ms (limits: error rate <= 0, p95 <= 1000 ms); "
                             "breached: error rate 15.0% above max_error_rate 0.0%")  # fmt: skip
    assert block[3] == f"              rollback  {summary}"
    assert block[4] == "              serving   v1"


def test_a_run_that_deployed_nothing_says_why_and_which_version_keeps_serving() -> None:
    verdict = {"decision": "reject", "candidate": "logreg", "outcomes": []}
    standing = _deployment(version="1", serving_version="1", this_run=False)

    text = format_report(_report(standing, registered_version=None, verdict=verdict))

    assert _deployment_block(text) == [
        "  deployment  UNCHANGED: this run deployed nothing (the gate decided REJECT); v1 keeps serving",
        "              endpoint  churn on mlops-local at http://127.0.0.1:41000",
        "              since     2026-12-05T10:00:00+00:00 by airflow:churn_retrain/manual__2",
    ]


def test_a_pipeline_without_a_deploy_step_prints_no_deployment() -> None:
    assert "deployment" not in format_report(_report(None))
