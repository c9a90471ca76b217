"""Which of a version's tags travel when it is copied into another environment's registry."""

from __future__ import annotations

from types import SimpleNamespace

from airflow_mlops.governance.copy_version import copied_tags
from airflow_mlops.record import tag


def test_lineage_travels_but_the_source_registrys_alias_audit_and_rollouts_do_not() -> None:
    version = SimpleNamespace(
        tags={
            tag.DATA_COMMIT: "abc",
            tag.GATE_DECISION: "promote",
            tag.PROMOTED_AT: "2026-01-01",
            tag.ENV_SOURCE_NAME: "dev",
            tag.DEPLOY_ENDPOINT: "churn",
            tag.DEPLOY_DECISION: tag.DeployDecision.DEPLOYED,
            tag.DEPLOY_SMOKE: "{}",
        }
    )
    assert copied_tags(version) == {tag.DATA_COMMIT: "abc", tag.GATE_DECISION: "promote"}  # type: ignore[arg-type]
