"""Manual approval end to end: a person answers through Airflow's own HITL REST API.

The DAG run goes through dag.test() in the background; its approve task parks in
awaiting_input until a real api-server (same metadata DB) records a user's answer, or until
the scheduler's timeout sweep applies the default answer (Reject) to a request nobody answered.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from airflow_mlops.demo.datasets import data_versions, to_csv_bytes
from tests.integration.harness import ApiServer, PipelineEnv

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
            # Answer once the task waits for it, as a person would: dag.test() only resumes a task
            # that is awaiting_input when the answer lands; one recorded in the instant between the
            # request's creation and that state (Airflow 3.3) is never picked up, and the run waits forever.
            _, task = api.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/approve", user=user)
            waiting = isinstance(task, dict) and task.get("state") == "awaiting_input"
            if status == 200 and detail.get("subject") and waiting:
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


def _cli(deployment: PipelineEnv, *args: str) -> subprocess.CompletedProcess[str]:
    """An on-call command as a person runs it: MLflow found through the Airflow connection."""
    return subprocess.run(
        [sys.executable, "-m", "airflow_mlops.cli", *args],
        env=deployment.env, cwd=deployment.root, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def _run_report(deployment: PipelineEnv, dag_id: str, run_id: str, model_name: str) -> str:
    """The run's summary (what `make demo` prints), read back from MLflow in a process set up like the tasks."""
    code = (
        "from airflow_mlops.hooks.mlflow import MlflowHook\n"
        "from airflow_mlops.report import pipeline_run_report, format_report\n"
        f"print(format_report(pipeline_run_report(MlflowHook(), experiment={dag_id!r}, dag_id={dag_id!r}, "
        f"run_id={run_id!r}, model_name={model_name!r})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=deployment.env, capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


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
    # `lineage` shows who approved, when and why, for machines and for people.
    lineage = _cli(deployment, "lineage", "approved_model@champion", "--json")
    assert lineage.returncode == 0, lineage.stderr[-3000:]
    approval = json.loads(lineage.stdout)["approval"]
    assert (approval["status"], approval["decision"], approval["approver"], approval["reason"]) == (
        "approved",
        "approved",
        "alice",
        "metrics beat the floor",
    )
    assert datetime.fromisoformat(approval["at"]).tzinfo is not None
    text = _cli(deployment, "lineage", "approved_model@champion").stdout
    assert f"approver    approved by alice at {approval['at']}\n              reason: metrics beat the floor" in text


def _assert_nothing_promoted(deployment: PipelineEnv, outcome: dict[str, Any], model: str) -> None:
    """A refusal is a decision, not a failure: the run succeeds and the model registry stays untouched."""
    assert outcome["state"] == "success", outcome["log"][-3000:]
    assert outcome["tasks"]["approve"] == "success"
    assert outcome["tasks"]["register"] == "skipped"
    assert outcome["tasks"]["promote"] == "skipped"
    assert deployment.client().search_model_versions(f"name = '{model}'") == []


def test_rejection_promotes_nothing_and_records_who_and_why(deployment: PipelineEnv, api: ApiServer) -> None:
    deployment.write_pipeline("bc_rejected", registry={"model_name": "rejected_model"}, approval="manual")
    outcome = _run_with_answer(deployment, api, "bc_rejected", "bob", "Reject", "wait for the Q3 data")
    _assert_nothing_promoted(deployment, outcome, "rejected_model")
    tags = _pipeline_tags(deployment, "bc_rejected", outcome["run_id"])
    assert tags["mlops.approval.decision"] == "rejected"
    assert tags["mlops.approval.by"] == "bob"
    assert tags["mlops.approval.reason"] == "wait for the Q3 data"
    # Nothing was registered, so there is no version to trace; the run's record shows the refusal.
    report = _run_report(deployment, "bc_rejected", outcome["run_id"], "rejected_model")
    assert (
        f"approval    rejected by bob at {tags['mlops.approval.at']}\n              reason: wait for the Q3 data"
        in (report)
    )
    assert "registered  nothing" in report
    lineage = _cli(deployment, "lineage", "rejected_model@champion", "--json")
    assert (lineage.returncode, lineage.stderr) == (
        1,
        "airflow-mlops lineage: error: no registered model named 'rejected_model'\n",
    )


# What the scheduler runs every loop to resolve HITL requests whose deadline has passed (Airflow
# 3.3 parks an approval in awaiting_input with no trigger, and dag.test() runs no scheduler).
_TIMEOUT_SWEEP = """
import time
from airflow.jobs.job import Job
from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

runner = SchedulerJobRunner(job=Job(), num_runs=1)
while True:
    runner.check_awaiting_input_timeouts()
    time.sleep(2)
"""


def test_silence_until_the_timeout_counts_as_a_rejection(deployment: PipelineEnv) -> None:
    # 0.002 h is about 7 s; nobody answers, and the scheduler's sweep applies the default: Reject.
    deployment.write_pipeline(
        "bc_timeout", registry={"model_name": "timeout_model"}, approval={"mode": "manual", "timeout_hours": 0.002}
    )
    process, out = deployment.start_run("bc_timeout")
    sweep = subprocess.Popen(
        [sys.executable, "-c", _TIMEOUT_SWEEP],
        env=deployment.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        outcome = deployment.finish_run(process, out, timeout=420)
    except BaseException:
        process.kill()
        raise
    finally:
        sweep.kill()
        sweep.wait()
    _assert_nothing_promoted(deployment, outcome, "timeout_model")
    tags = _pipeline_tags(deployment, "bc_timeout", outcome["run_id"])
    assert tags["mlops.approval.decision"] == "rejected"
    assert tags["mlops.approval.by"] == "timeout"
    assert tags["mlops.approval.reason"] == "nobody answered within 0.002 h; silence counts as a rejection"
    report = _run_report(deployment, "bc_timeout", outcome["run_id"], "timeout_model")
    assert f"approval    rejected by timeout at {tags['mlops.approval.at']}" in report


def test_an_anonymous_answer_is_refused(deployment: PipelineEnv, api: ApiServer) -> None:
    status, _ = api.request("PATCH", "/api/v2/dags/bc_rejected/dagRuns/x/taskInstances/approve/-1/hitlDetails",
                            body={"chosen_options": ["Approve"]})  # fmt: skip
    assert status in (401, 403)
