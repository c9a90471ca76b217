"""The cross-environment operators' own logic: which version a hop moves, and what an answer records.

The promotion itself (both registries, the re-gate, the HITL round trip) runs for real in
tests/integration/test_environments_dag.py; here, what decides between those runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from airflow_mlops.errors import PipelineConfigError
from airflow_mlops.operators.across import PromoteAcrossOperator
from airflow_mlops.operators.approval_across import EnvironmentApprovalOperator, across_body

ENVIRONMENTS = {
    "dev": {"mlflow_conn_id": "mlflow_dev", "model_name": "churn_dev", "policy": {"require_approval": False}},
    "staging": {"mlflow_conn_id": "mlflow_prod", "model_name": "churn_staging", "holdout": {"path": "h", "rev": "s"}},
    "prod": {"mlflow_conn_id": "mlflow_prod", "model_name": "churn", "holdout": {"path": "h", "rev": "p"}},
}


def _promote(**kwargs: Any) -> PromoteAcrossOperator:
    args = {"task_id": "promote_prod", "environments": ENVIRONMENTS, "from_env": "staging", "to_env": "prod"}
    return PromoteAcrossOperator(**{**args, **kwargs})


def test_the_promotion_moves_the_version_the_person_was_asked_about() -> None:
    # @champion may have moved while the request waited: the answer names the version it was about.
    answer = {"decision": "approved", "by": "alice", "at": "2026-01-01T00:00:00+00:00", "reason": "ok", "version": "7"}
    after = {"environment": "staging", "version": "9"}
    assert _promote(version="champion").source_ref(answer) == "7"  # type: ignore[arg-type]
    assert _promote(version="champion", after=after).source_ref(answer) == "7"  # type: ignore[arg-type]
    # Without an answer: the version the hop before copied in, else the configured one.
    assert _promote(version="champion", after=after).source_ref() == "9"
    assert _promote(version="4").source_ref() == "4"
    with pytest.raises(ValueError, match="after= is a promotion into 'dev', but this one promotes from 'staging'"):
        _promote(after={"environment": "dev", "version": "1"}).source_ref()


def test_an_answer_records_who_what_why_and_the_version_asked_about() -> None:
    approve = EnvironmentApprovalOperator(
        task_id="approve_prod", environments=ENVIRONMENTS, from_env="staging", to_env="prod", approvers=["alice"]
    )
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    event = {"chosen_options": ["Reject"], "params_input": {"reason": "wait for Q3"},
             "responded_by_user": {"id": "bob", "name": "Bob"}, "responded_at": when}  # fmt: skip
    record = approve.execute_complete({}, event, asked_version="7")  # type: ignore[arg-type]
    assert record == {
        "decision": "rejected", "by": "bob", "at": "2026-01-02T03:04:05+00:00", "reason": "wait for Q3", "version": "7"
    }  # fmt: skip
    # Silence past the timeout: Airflow applies the default, Reject, with nobody named.
    silent = {**event, "responded_by_user": None, "params_input": {}}
    timeout = EnvironmentApprovalOperator(
        task_id="approve", environments=ENVIRONMENTS, from_env="staging", to_env="prod", timeout_hours=2
    ).execute_complete({}, silent, asked_version="7")  # type: ignore[arg-type]
    assert (timeout["by"], timeout["reason"]) == (
        "timeout",
        "nobody answered within 2 h; silence counts as a rejection",
    )


def test_bad_declarations_fail_when_the_dag_is_built() -> None:
    with pytest.raises(PipelineConfigError, match=r"environments\.prod\.model_name"):
        _promote(environments={"prod": {"mlflow_conn_id": "c"}, "staging": ENVIRONMENTS["staging"]})
    with pytest.raises(ValueError, match="both name environment 'prod'"):
        _promote(from_env="prod")


def test_the_request_shows_the_version_its_gate_and_what_it_would_replace() -> None:
    where = {"conn_id": "mlflow_prod", "uri": "http://mlflow-prod:5000"}
    preview = {
        "source": {**where, "environment": "staging", "model_name": "churn_staging", "version": "3",
                   "gate_decision": "promote", "gate_summary": "PROMOTE: f1 0.97 >= 0.9"},
        "target": {**where, "environment": "prod", "model_name": "churn", "alias": "champion", "champion": None,
                   "holdout": "h @ p", "require_approval": True},
    }  # fmt: skip
    body = across_body(preview)
    assert "**churn_staging v3** from environment **staging**" in body
    assert "its gate in staging: **promote** PROMOTE: f1 0.97 >= 0.9" in body
    assert "@champion in prod now: **nothing yet**" in body and "re-gate after your answer: on h @ p" in body


def test_nobody_is_asked_about_a_promotion_into_a_target_that_cannot_be_reached(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from mlflow import MlflowClient

    from airflow_mlops.errors import MlopsException

    uri = f"sqlite:///{tmp_path / 'dev.db'}"
    MlflowClient(tracking_uri=uri, registry_uri=uri).search_registered_models()  # creates the store
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEV", json.dumps({"conn_type": "mlflow", "extra": {"tracking_uri": uri}}))
    gone = {"conn_type": "mlflow", "host": "127.0.0.1", "port": 9, "schema": "http"}  # port 9: discard
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_GONE", json.dumps(gone))
    declared = {**ENVIRONMENTS, "prod": {**ENVIRONMENTS["prod"], "mlflow_conn_id": "mlflow_gone"}}
    approve = EnvironmentApprovalOperator(task_id="a", environments=declared, from_env="dev", to_env="prod")
    with pytest.raises(MlopsException) as err:
        approve.execute({})  # type: ignore[arg-type]  # fails before any HITL request is written
    message = str(err.value)
    assert "environment 'prod'" in message and "connection 'mlflow_gone'" in message and "127.0.0.1:9" in message


def test_in_a_dag_with_params_of_its_own_the_form_still_asks_only_for_a_reason() -> None:
    """Airflow hands every task its DAG's params merged into ``params``; passing ours too used to be a TypeError."""
    from airflow.sdk import DAG, Param

    with DAG("promote_with_params", schedule=None, params={"dry_run": Param(False, type="boolean")}):
        approve = EnvironmentApprovalOperator(task_id="approve", environments=ENVIRONMENTS, from_env="staging",
                                              to_env="prod")  # fmt: skip
    assert list(approve.serialized_params) == ["reason"]
