"""The drift monitor end to end through dag.test(): a real champion, real DVC data, the real Airflow DB.

A retraining pipeline scheduled on ``{on: drift_detected}`` trains the champion on data v1.
Then the drift monitor runs twice against new commits: a fresh resample of the same
distribution (no drift: no asset event, nothing queued) and data with shifted features
(drift: an ``mlops://drift/<model>`` asset event, and the retraining DAG queued on it). Last,
a real ``airflow scheduler`` turns that queue entry into an asset-triggered run.

The last tests run the shipped example, ``dags/pipelines/breast_cancer_drift.yaml``, unchanged
but for retries, against the model the demo registers (``breast_cancer_classifier``, trained
by the example retraining pipeline on the demo's data v1), as issue #3 asks: the demo's data
v2 is no drift, an upstream unit change is, and Airflow records the example's asset event.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from airflow_mlops.demo.datasets import breast_cancer_frame, data_versions, to_csv_bytes
from airflow_mlops.spec.yaml_source import PipelineYamlLoader
from tests.integration.harness import DATA_PATH, REPO_ROOT, PipelineEnv, free_port
from tests.statsd_capture import StatsdListener

MODEL = "bc_drift_model"
RETRAIN = "bc_retrain_on_drift"
MONITOR = "bc_drift_monitor"
ASSET_URI = f"mlops://drift/{MODEL}"
EXAMPLE_DRIFT = REPO_ROOT / "dags" / "pipelines" / "breast_cancer_drift.yaml"
EXAMPLE_RETRAIN = REPO_ROOT / "dags" / "pipelines" / "breast_cancer.yaml"
SHIFTED = ("mean_radius", "mean_texture", "mean_area", "mean_smoothness", "worst_radius", "worst_concavity")


def _airflow(deployment: PipelineEnv, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), *args],
        env=deployment.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )


def _db(deployment: PipelineEnv) -> sqlite3.Connection:
    return sqlite3.connect(deployment.root / "airflow" / "airflow.db")


def _query(deployment: PipelineEnv, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with _db(deployment) as conn:
        return list(conn.execute(sql, params))


def _drift_events(deployment: PipelineEnv, uri: str = ASSET_URI) -> list[dict[str, Any]]:
    rows = _query(
        deployment,
        "SELECT e.source_dag_id, e.source_task_id, e.source_run_id, e.extra FROM asset_event e "
        "JOIN asset a ON a.id = e.asset_id WHERE a.uri = ?",
        uri,
    )
    return [{"dag_id": d, "task_id": t, "run_id": r, "extra": json.loads(x)} for d, t, r, x in rows]


def _queued_for_drift(deployment: PipelineEnv) -> list[str]:
    rows = _query(
        deployment,
        "SELECT q.target_dag_id FROM asset_dag_run_queue q JOIN asset a ON a.id = q.asset_id WHERE a.uri = ?",
        ASSET_URI,
    )
    return [r[0] for r in rows]


def _write_monitor(deployment: PipelineEnv) -> None:
    spec = {
        "pipeline": MONITOR,
        "template": "drift_monitor",
        "retries": {"retries": 0},
        "model": {"name": MODEL, "alias": "champion"},
        "data": {"dvc_conn_id": "dvc_default", "path": DATA_PATH, "rev": "main"},
        "drift": {"psi_threshold": 0.2, "ks_pvalue": 0.01, "min_drifted_features": 1},
    }
    path = deployment.dags / "pipelines" / f"{MONITOR}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    if not (deployment.dags / "mlops_pipelines.py").exists():  # one loader stub per pipeline file
        from airflow_mlops.factory.loader import LOADER_STUB

        path.with_suffix(".py").write_text(LOADER_STUB)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> PipelineEnv:
    return PipelineEnv(tmp_path_factory.mktemp("drift-deployment"))


@pytest.fixture(scope="module")
def before_champion(deployment: PipelineEnv) -> dict[str, Any]:
    """Data v1 committed and the monitor run before any model exists."""
    v1, _ = data_versions()
    deployment.write_pipeline(RETRAIN, registry={"model_name": MODEL}, schedule={"on": "drift_detected"})
    _write_monitor(deployment)
    commit = deployment.commit_data(to_csv_bytes(v1), "v1", "data-v1")
    outcome = deployment.run(MONITOR)
    recorded = deployment.client().get_experiment_by_name(MONITOR) is not None
    return {"commit": commit, "outcome": outcome, "events": _drift_events(deployment), "recorded": recorded}


@pytest.fixture(scope="module")
def champion(deployment: PipelineEnv, before_champion: dict[str, Any]) -> dict[str, Any]:
    """A champion trained on data v1 by a retraining pipeline that is itself scheduled on drift."""
    commit = before_champion["commit"]
    outcome = deployment.run(RETRAIN)
    assert outcome["state"] == "success", outcome["log"][-3000:]
    # The dag.test() run synced the whole dags folder to the DB; a consumer must be unpaused
    # for Airflow to queue runs for it, exactly as in a real deployment.
    _airflow(deployment, "dags", "unpause", RETRAIN)
    return {"commit": commit, "outcome": outcome}


@pytest.fixture(scope="module")
def stable(deployment: PipelineEnv, champion: dict[str, Any]) -> dict[str, Any]:
    """A bootstrap resample of the full dataset: new rows, same distribution."""
    _, v2 = data_versions()
    resample = breast_cancer_frame().sample(n=len(v2), replace=True, random_state=0)[list(v2.columns)]
    commit = deployment.commit_data(to_csv_bytes(resample.reset_index(drop=True)), "resampled batch")
    outcome = deployment.run(MONITOR)
    return {"commit": commit, "outcome": outcome, "events": _drift_events(deployment)}


@pytest.fixture(scope="module")
def drifted(deployment: PipelineEnv, stable: dict[str, Any]) -> dict[str, Any]:
    """Six features scaled by 1.5 with a little noise: what a unit change upstream looks like.

    This run's metrics go through Airflow's StatsD backend to a real UDP socket.
    """
    _, v2 = data_versions()
    commit = deployment.commit_data(to_csv_bytes(_shifted(v2)), "upstream unit change")
    statsd = StatsdListener()
    metrics = {"AIRFLOW__METRICS__STATSD_ON": "True", "AIRFLOW__METRICS__STATSD_PORT": str(statsd.port)}
    deployment.env.update(metrics)
    try:
        outcome = deployment.run(MONITOR)
        sent = statsd.named("airflow.mlops.")
    finally:
        statsd.close()
        for key in metrics:
            deployment.env.pop(key)
    return {"commit": commit, "outcome": outcome, "metrics": sent}


def _shifted(frame: Any) -> Any:
    """Six features scaled by 1.5 with a little noise: what a unit change upstream looks like."""
    rng = np.random.default_rng(11)
    shifted = frame.copy()
    for column in SHIFTED:
        shifted[column] = shifted[column] * 1.5 + rng.normal(0.0, 0.05 * shifted[column].std(), len(shifted))
    return shifted


def _drift_runs(deployment: PipelineEnv, run_id: str, monitor: str = MONITOR) -> Any:
    client = deployment.client()
    experiment = client.get_experiment_by_name(monitor)
    runs = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`mlops.run_id` = '{run_id}' and tags.`mlops.role` = 'drift'"
    )
    assert len(runs) == 1
    return runs[0]


def test_without_a_champion_there_is_nothing_to_compare(before_champion: dict[str, Any]) -> None:
    outcome = before_champion["outcome"]
    assert outcome["state"] == "success", outcome["log"][-3000:]
    assert outcome["tasks"] == {
        "resolve_data": "success",
        "check_drift": "skipped",
        "publish_drift": "skipped",
        "close_runs": "success",
    }
    assert before_champion["events"] == []
    assert before_champion["recorded"] is False  # skipped before comparing: no drift record either


def test_no_drift_publishes_nothing(deployment: PipelineEnv, champion: dict[str, Any], stable: dict[str, Any]) -> None:
    outcome = stable["outcome"]
    assert outcome["state"] == "success", outcome["log"][-3000:]
    assert outcome["tasks"] == {
        "resolve_data": "success",
        "check_drift": "success",
        "publish_drift": "skipped",
        "close_runs": "success",
    }
    assert stable["events"] == []
    assert _queued_for_drift(deployment) == []
    run = _drift_runs(deployment, outcome["run_id"])
    assert run.data.tags["mlops.drift.drifted"] == "false"
    assert run.data.tags["mlops.drift.reference.commit"] == champion["commit"]
    assert run.data.tags["mlops.drift.current.commit"] == stable["commit"]
    assert run.data.metrics["n_drifted"] == 0
    assert run.data.metrics["features_checked"] == 30  # the champion's signature inputs, target excluded
    assert max(v for k, v in run.data.metrics.items() if k.startswith("psi.")) < 0.2


def test_drift_emits_the_asset_event_with_its_extra(
    deployment: PipelineEnv, champion: dict[str, Any], drifted: dict[str, Any]
) -> None:
    outcome = drifted["outcome"]
    assert outcome["state"] == "success", outcome["log"][-3000:]
    assert outcome["tasks"] == {
        "resolve_data": "success",
        "check_drift": "success",
        "publish_drift": "success",
        "close_runs": "success",
    }
    [event] = _drift_events(deployment)
    assert (event["dag_id"], event["task_id"], event["run_id"]) == (MONITOR, "publish_drift", outcome["run_id"])
    extra = event["extra"]
    assert (extra["model_name"], extra["model_version"]) == (MODEL, "1")
    assert extra["data_commit"] == drifted["commit"]
    assert extra["reference_commit"] == champion["commit"]
    assert extra["n_drifted"] >= len(SHIFTED)
    assert set(SHIFTED) <= {f["feature"] for f in extra["top_features"]}
    # The full report is in MLflow, next to per-feature PSI metrics.
    run = _drift_runs(deployment, outcome["run_id"])
    assert extra["mlflow_run_id"] == run.info.run_id
    report = json.loads(Path(deployment.client().download_artifacts(run.info.run_id, "drift/report.json")).read_text())
    assert report["summary"]["drifted"] is True
    assert all(report["features"][f]["drifted"] for f in SHIFTED)
    assert all(run.data.metrics[f"psi.{f}"] > 0.2 for f in SHIFTED)
    # The drift alert's metrics: drift found, and every feature's PSI as recorded.
    sent = drifted["metrics"]
    assert sent[f"airflow.mlops.drift.detected.{MONITOR}"] == 1.0
    psi = {k.rsplit(".", 1)[1]: v for k, v in sent.items() if k.startswith(f"airflow.mlops.drift.psi.{MONITOR}.")}
    assert psi == pytest.approx({name: feature["psi"] for name, feature in report["features"].items()})


def test_retraining_dag_is_queued_on_the_drift_asset(deployment: PipelineEnv, drifted: dict[str, Any]) -> None:
    assert drifted["outcome"]["tasks"]["publish_drift"] == "success"
    # The consumer's schedule, as the scheduler sees it: the serialized DAG and its asset reference.
    [(data, compressed)] = _query(
        deployment,
        "SELECT data, data_compressed FROM serialized_dag WHERE dag_id = ? ORDER BY created_at DESC LIMIT 1",
        RETRAIN,
    )
    serialized = data if data is not None else zlib.decompress(compressed).decode()
    timetable = json.loads(serialized)["dag"]["timetable"]
    assert "AssetTriggeredTimetable" in timetable["__type"]
    assert ASSET_URI in json.dumps(timetable)
    refs = _query(
        deployment,
        "SELECT r.dag_id FROM dag_schedule_asset_reference r JOIN asset a ON a.id = r.asset_id WHERE a.uri = ?",
        ASSET_URI,
    )
    assert [r[0] for r in refs] == [RETRAIN]
    # What the asset event did: one queue entry for the consumer, waiting for the scheduler.
    assert _queued_for_drift(deployment) == [RETRAIN]


def test_scheduler_starts_the_retraining_run(deployment: PipelineEnv, drifted: dict[str, Any]) -> None:
    """A real scheduler against the same DB turns the queue entry into an asset-triggered run.

    Only run creation is under test: the tasks would need an api-server, so the execution API
    URL points at a closed port and the scheduler is stopped once the run exists.
    """
    assert _queued_for_drift(deployment) == [RETRAIN]
    env = {
        **deployment.env,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{free_port()}/execution/",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
    }
    log = (deployment.root / "scheduler.log").open("w")
    scheduler = subprocess.Popen(
        [str(Path(sys.executable).with_name("airflow")), "scheduler", "--skip-serve-logs"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    runs: list[tuple[Any, ...]] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and scheduler.poll() is None:
            runs = _query(
                deployment,
                "SELECT id, run_type FROM dag_run WHERE dag_id = ? AND run_type = ?",
                RETRAIN,
                "asset_triggered",
            )
            if runs:
                break
            time.sleep(1)
    finally:
        if scheduler.poll() is None:
            os.killpg(scheduler.pid, signal.SIGTERM)
            try:
                scheduler.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(scheduler.pid, signal.SIGKILL)
                scheduler.wait()
        log.close()
    assert runs, f"no asset-triggered run of {RETRAIN}:\n{(deployment.root / 'scheduler.log').read_text()[-3000:]}"
    [(dag_run_id, _)] = runs
    consumed = _query(
        deployment,
        "SELECT e.source_dag_id, e.source_task_id FROM dagrun_asset_event d JOIN asset_event e ON e.id = d.event_id "
        "WHERE d.dag_run_id = ?",
        dag_run_id,
    )
    assert consumed == [(MONITOR, "publish_drift")]
    assert _queued_for_drift(deployment) == []


# --- the shipped example against the demo's registered model (issue #3, acceptance 3) -----------------


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo's model, then the example drift monitor on the demo's data v2 and on drifted data."""
    deployment = PipelineEnv(tmp_path_factory.mktemp("drift-example"))
    spec = yaml.load(EXAMPLE_DRIFT.read_text(), Loader=PipelineYamlLoader)
    spec["retries"] = {"retries": 0}  # a failure should fail the test now, not back off
    path = deployment.dags / "pipelines" / EXAMPLE_DRIFT.name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    path.with_suffix(".py").write_text(EXAMPLE_DRIFT.with_suffix(".py").read_text())
    retrain = yaml.safe_load(EXAMPLE_RETRAIN.read_text())["pipeline"]
    deployment.write_pipeline(retrain)  # the example retraining pipeline: the demo's model
    v1, v2 = data_versions()
    first = deployment.commit_data(to_csv_bytes(v1), "data v1: first labelled batch", "data-v1")
    trained = deployment.run(retrain)
    assert trained["state"] == "success", trained["log"][-3000:]
    model = spec["model"]["name"]
    champion = str(deployment.client().get_model_version_by_alias(model, spec["model"]["alias"]).version)
    second = deployment.commit_data(to_csv_bytes(v2), "data v2: more labels", "data-v2")
    same = deployment.run(spec["pipeline"])
    same_events = _drift_events(deployment, f"mlops://drift/{model}")
    drifted = deployment.commit_data(to_csv_bytes(_shifted(v2)), "upstream unit change")
    changed = deployment.run(spec["pipeline"])
    runs = {
        name: _drift_runs(deployment, outcome["run_id"], spec["pipeline"])
        for name, outcome in (("same", same), ("changed", changed))
    }
    report = json.loads(
        Path(deployment.client().download_artifacts(runs["changed"].info.run_id, "drift/report.json")).read_text()
    )
    return {
        "spec": spec,
        "model": model,
        "champion": champion,
        "commits": {"v1": first, "v2": second, "drifted": drifted},
        "outcomes": {"same": same, "changed": changed},
        "same_events": same_events,
        "events": _drift_events(deployment, f"mlops://drift/{model}"),
        "runs": runs,
        "report": report,
    }


def test_example_monitors_the_demos_model(example: dict[str, Any]) -> None:
    assert example["model"] == "breast_cancer_classifier"
    assert example["spec"]["pipeline"] == "breast_cancer_drift"
    assert example["champion"] == "1"


def test_example_sees_no_drift_in_the_demos_second_data_version(example: dict[str, Any]) -> None:
    outcome = example["outcomes"]["same"]
    assert outcome["state"] == "success", outcome["log"][-3000:]
    assert outcome["tasks"] == {
        "resolve_data": "success",
        "check_drift": "success",
        "publish_drift": "skipped",
        "close_runs": "success",
    }
    assert example["same_events"] == []
    run = example["runs"]["same"]
    assert run.data.tags["mlops.drift.drifted"] == "false"
    assert run.data.tags["mlops.drift.reference.commit"] == example["commits"]["v1"]
    assert run.data.tags["mlops.drift.current.commit"] == example["commits"]["v2"]
    assert run.data.metrics["n_drifted"] == 0
    assert run.data.metrics["features_checked"] == 30


def test_example_reports_drift_and_emits_its_asset_event(example: dict[str, Any]) -> None:
    outcome = example["outcomes"]["changed"]
    assert outcome["state"] == "success", outcome["log"][-3000:]
    assert outcome["tasks"] == {
        "resolve_data": "success",
        "check_drift": "success",
        "publish_drift": "success",
        "close_runs": "success",
    }
    run = example["runs"]["changed"]
    assert run.data.tags["mlops.drift.drifted"] == "true"
    assert run.data.tags["mlops.drift.reference.commit"] == example["commits"]["v1"]
    assert run.data.tags["mlops.drift.current.commit"] == example["commits"]["drifted"]
    thresholds = example["spec"]["drift"]
    assert run.data.metrics["n_drifted"] >= max(len(SHIFTED), thresholds["min_drifted_features"])
    assert all(run.data.metrics[f"psi.{f}"] > thresholds["psi_threshold"] for f in SHIFTED)
    assert example["report"]["summary"]["drifted"] is True
    assert all(example["report"]["features"][f]["drifted"] for f in SHIFTED)

    [event] = example["events"]
    pipeline = example["spec"]["pipeline"]
    assert (event["dag_id"], event["task_id"], event["run_id"]) == (pipeline, "publish_drift", outcome["run_id"])
    extra = event["extra"]
    assert (extra["model_name"], extra["model_version"]) == (example["model"], example["champion"])
    assert extra["data_commit"] == example["commits"]["drifted"]
    assert extra["reference_commit"] == example["commits"]["v1"]
    assert extra["mlflow_run_id"] == run.info.run_id
    assert extra["n_drifted"] == run.data.metrics["n_drifted"]
    assert set(SHIFTED) <= {f["feature"] for f in extra["top_features"]}
