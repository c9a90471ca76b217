"""No MLflow run of a finished DAG run is left RUNNING, and the parent run's status matches the DAG run.

One DAG run, run twice: first with a gate that cannot pass and asks to fail the run (the DAG run
fails), then re-run under the same logical date, hence the same run id and the same MLflow pipeline
run, with a gate that passes (it succeeds). dag.test() clears the tasks of that logical date and
recreates the DAG run, so the try numbers start again at 1.
The ``close_runs`` teardown ends the pipeline run each time, so the status follows the DAG run.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_mlops.demo.datasets import data_versions, to_csv_bytes
from airflow_mlops.record import tag
from tests.integration.harness import PipelineEnv

pytestmark = pytest.mark.integration

DAG_ID = "bc_runs_end"
LOGICAL_DATE = "2026-01-05T03:00:00+00:00"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> PipelineEnv:
    env = PipelineEnv(tmp_path_factory.mktemp("runs-end"))
    v1, _ = data_versions()
    env.commit_data(to_csv_bytes(v1), "v1", "data-v1")
    return env


def _runs_of(deployment: PipelineEnv, run_id: str) -> list[Any]:
    client = deployment.client()
    experiment = client.get_experiment_by_name(DAG_ID)
    assert experiment is not None
    found = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{tag.DAG_ID}` = '{DAG_ID}' and tags.`{tag.RUN_ID}` = '{run_id}'",
        max_results=200,
    )
    assert found, "the DAG run wrote no MLflow run"
    return list(found)


def _pipeline_run(runs: list[Any]) -> Any:
    (parent,) = [r for r in runs if r.data.tags.get(tag.ROLE) == tag.ROLE_PIPELINE]
    return parent


@pytest.fixture(scope="module")
def failed_then_rerun(deployment: PipelineEnv) -> dict[str, Any]:
    deployment.write_pipeline(
        DAG_ID, data={"rev": "data-v1"}, gate={"metrics": [{"metric": "f1", "min": 0.9999}], "on_reject": "fail"}
    )
    failed = deployment.run(DAG_ID, LOGICAL_DATE)
    failed_runs = _runs_of(deployment, failed["run_id"])
    deployment.write_pipeline(DAG_ID, data={"rev": "data-v1"}, gate={"metrics": [{"metric": "f1", "min": 0.5}]})
    rerun = deployment.run(DAG_ID, LOGICAL_DATE)
    return {
        "failed": failed,
        "failed_runs": failed_runs,
        "rerun": rerun,
        "rerun_runs": _runs_of(deployment, rerun["run_id"]),
    }


def test_a_failed_dag_run_fails_its_pipeline_run_and_leaves_nothing_running(failed_then_rerun: dict[str, Any]) -> None:
    outcome, runs = failed_then_rerun["failed"], failed_then_rerun["failed_runs"]
    assert outcome["state"] == "failed", outcome["log"][-3000:]
    assert outcome["tasks"]["gate"] == "failed"
    assert outcome["tasks"]["close_runs"] == "success"
    parent = _pipeline_run(runs)
    assert parent.info.status == "FAILED"
    assert "gate" in parent.data.tags[tag.FAILURE]
    assert [r.info.run_id for r in runs if r.info.status == "RUNNING"] == []
    candidates = [r for r in runs if r.data.tags.get(tag.ROLE) == tag.ROLE_CANDIDATE]
    assert candidates and all(r.info.status == "FINISHED" for r in candidates)


def test_a_cleared_and_rerun_dag_run_updates_the_status_again(failed_then_rerun: dict[str, Any]) -> None:
    outcome, runs = failed_then_rerun["rerun"], failed_then_rerun["rerun_runs"]
    assert outcome["run_id"] == failed_then_rerun["failed"]["run_id"]
    assert outcome["state"] == "success", outcome["log"][-3000:]
    assert outcome["tasks"]["close_runs"] == "success"
    parent = _pipeline_run(runs)
    assert parent.info.run_id == _pipeline_run(failed_then_rerun["failed_runs"]).info.run_id
    assert parent.info.status == "FINISHED"
    assert [r.info.run_id for r in runs if r.info.status == "RUNNING"] == []
