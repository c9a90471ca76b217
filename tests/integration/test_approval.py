"""Manual approval end to end: a person answers through Airflow's own HITL REST API.

The DAG run goes through dag.test() in the background; its approve task parks in
awaiting_input until a real api-server (same metadata DB) records a user's answer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_mlops.demo.datasets import data_versions, to_csv_bytes
from tests.integration.harness import ApiServer, PipelineEnv

pytestmark = pytest.mark.integration

USERS = {"alice": "alice-pass-123", "bob": "bob-pass-456"}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> PipelineEnv:
    env = PipelineEnv(tmp_path_factory.mktemp("approval"))
    v1, _ = data_versions()
    env.commit_data(to_csv_bytes(v1), "v1", "data-v1")
    return env


@pytest.fixture(scope="module")
def api(deployment: PipelineEnv) -> Iterator[ApiServer]:
    server = ApiServer(deployment, USERS).start()
    try:
        yield server
    finally:
        server.stop()


def _answer(api: ApiServer, dag_id: str, user: str, option: str, reason: str, timeout: float = 300) -> dict[str, Any]:
    """Wait for the approval request to appear, then answer it as ``user``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, runs = api.request("GET", f"/api/v2/dags/{dag_id}/dagRuns", user=user)
        if status == 200 and runs["dag_runs"]:
            run_id = runs["dag_runs"][0]["dag_run_id"]
            path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/approve/-1/hitlDetails"
            status, detail = api.request("GET", path, user=user)
            if status == 200 and detail.get("subject"):
                assert "Promote a new" in detail["subject"]
                assert "| rule | candidate | champion | threshold | result |" in detail["body"]
                status, answer = api.request(
                    "PATCH", path, user=user, body={"chosen_options": [option], "params_input": {"reason": reason}}
                )
                assert status == 200, answer
                return {"run_id": run_id, **answer}
        time.sleep(2)
    raise AssertionError(f"no approval request for {dag_id} within {timeout}s")


def _run_with_answer(deployment: PipelineEnv, api: ApiServer, dag_id: str, user: str, option: str, reason: str) -> Any:
    process, out = deployment.start_run(dag_id)
    try:
        answered = _answer(api, dag_id, user, option, reason)
    except BaseException:
        process.kill()
        raise
    outcome = deployment.finish_run(process, out)
    assert outcome["run_id"] == answered["run_id"]
    return outcome


def _pipeline_tags(deployment: PipelineEnv, dag_id: str, run_id: str) -> dict[str, str]:
    client = deployment.client()
    experiment = client.get_experiment_by_name(dag_id)
    (run,) = client.search_runs(
        [experiment.experiment_id], f"tags.`mlops.run_id` = '{run_id}' and tags.`mlops.role` = 'pipeline'"
    )
    return dict(run.data.tags)


def test_approval_promotes_and_records_the_approver(deployment: PipelineEnv, api: ApiServer) -> None:
    deployment.write_pipeline("bc_approved", registry={"model_name": "approved_model"}, approval="manual")
    outcome = _run_with_answer(deployment, api, "bc_approved", "alice", "Approve", "metrics beat the floor")
    assert outcome["state"] == "success", outcome["log"][-3000:]
    assert outcome["tasks"]["approve"] == "success"
    assert outcome["tasks"]["promote"] == "success"
    version = deployment.client().get_model_version_by_alias("approved_model", "champion")
    assert version.tags["mlops.approval.decision"] == "approved"
    assert version.tags["mlops.approval.by"] == "alice"
    assert version.tags["mlops.approval.reason"] == "metrics beat the floor"


def test_rejection_promotes_nothing_and_records_who_and_why(deployment: PipelineEnv, api: ApiServer) -> None:
    deployment.write_pipeline("bc_rejected", registry={"model_name": "rejected_model"}, approval="manual")
    outcome = _run_with_answer(deployment, api, "bc_rejected", "bob", "Reject", "wait for the Q3 data")
    assert outcome["state"] == "success", outcome["log"][-3000:]
    assert outcome["tasks"]["approve"] == "success"
    assert outcome["tasks"]["register"] == "skipped"
    assert outcome["tasks"]["promote"] == "skipped"
    assert deployment.client().search_model_versions("name = 'rejected_model'") == []
    tags = _pipeline_tags(deployment, "bc_rejected", outcome["run_id"])
    assert tags["mlops.approval.decision"] == "rejected"
    assert tags["mlops.approval.by"] == "bob"
    assert tags["mlops.approval.reason"] == "wait for the Q3 data"


def test_an_anonymous_answer_is_refused(deployment: PipelineEnv, api: ApiServer) -> None:
    status, _ = api.request("PATCH", "/api/v2/dags/bc_rejected/dagRuns/x/taskInstances/approve/-1/hitlDetails",
                            body={"chosen_options": ["Approve"]})  # fmt: skip
    assert status in (401, 403)
