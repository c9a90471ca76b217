"""A version's rollout, read back from the ``mlops.deploy.*`` tags the deploy step writes."""

from __future__ import annotations

import json

from airflow_mlops.record import tag
from airflow_mlops.record.deployment import DeploymentRecord, latest_deployment

SMOKE = {"decision": "pass", "requests": 20, "failed": 0, "p95_ms": 8.25, "limits": {"max_p95_ms": 1000.0}}


def _tags(decision: str, at: str = "2026-12-05T10:00:00+00:00", **extra: str) -> dict[str, str]:
    return {
        tag.DEPLOY_TARGET: "mlops-local",
        tag.DEPLOY_ENDPOINT: "churn",
        tag.DEPLOY_URL: "http://127.0.0.1:41000",
        tag.DEPLOY_STRATEGY: "direct",
        tag.DEPLOY_DECISION: decision,
        tag.DEPLOY_SUMMARY: "smoke check passed: 20/20 requests answered, p95 8.2 ms",
        tag.DEPLOY_AT: at,
        tag.DEPLOY_BY: "airflow:churn_retrain/manual__1",
        tag.DEPLOY_SMOKE: json.dumps(SMOKE),
        **extra,
    }


def test_a_deployed_version_reads_back_every_field_and_serves_itself() -> None:
    record = DeploymentRecord.from_tags("4", _tags(tag.DeployDecision.DEPLOYED, **{tag.PROMOTED_FROM: "3"}))

    assert record is not None
    assert (record.target, record.endpoint, record.url, record.strategy) == (
        "mlops-local", "churn", "http://127.0.0.1:41000", "direct",
    )  # fmt: skip
    assert record.smoke == SMOKE and record.by == "airflow:churn_retrain/manual__1"
    assert record.serving_version == "4"


def test_a_rolled_back_version_names_the_one_it_replaced_as_serving_or_none_for_a_first_version() -> None:
    rolled = DeploymentRecord.from_tags("4", _tags(tag.DeployDecision.ROLLED_BACK, **{tag.PROMOTED_FROM: "3"}))
    first = DeploymentRecord.from_tags("1", _tags(tag.DeployDecision.ROLLED_BACK))
    failed = DeploymentRecord.from_tags("4", _tags(tag.DeployDecision.FAILED, **{tag.PROMOTED_FROM: "3"}))

    assert rolled is not None and rolled.serving_version == "3"
    assert first is not None and first.serving_version is None
    assert failed is not None and failed.serving_version == "4"  # on_smoke_failure: fail keeps the new one


def test_a_version_never_deployed_reads_as_none_and_an_edited_smoke_tag_as_no_smoke_facts() -> None:
    assert DeploymentRecord.from_tags("2", {tag.PROMOTED_FROM: "1"}) is None
    edited = DeploymentRecord.from_tags("2", _tags(tag.DeployDecision.DEPLOYED, **{tag.DEPLOY_SMOKE: '{"requests": 2'}))
    assert edited is not None and edited.smoke is None


def test_the_latest_rollout_among_versions_is_the_newest_recorded_one() -> None:
    versions = [
        ("1", _tags(tag.DeployDecision.DEPLOYED, at="2026-12-05T10:00:00+00:00")),
        ("2", _tags(tag.DeployDecision.ROLLED_BACK, at="2026-12-05T11:00:00+00:00", **{tag.PROMOTED_FROM: "1"})),
        ("3", {}),
    ]

    latest = latest_deployment(versions)

    assert latest is not None and latest.version == "2" and latest.serving_version == "1"
    assert latest_deployment([("3", {})]) is None
