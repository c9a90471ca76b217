"""The serving check with real model servers: MLflow's scoring server started as a child process.

Three levels, one trained model each, sharing what they can:
- the model server engine: a model that answers, a server stopped by the task's kill, one that never starts;
- the operator on a real chain (resolve, prepare, train, evaluate, gate in-process): served labels
  that differ from the recorded offline ones fail the check, and the failure is recorded;
- two real pipeline runs (``dag.test()``): one whose check passes and promotes, one whose p95 limit
  cannot be met, which registers nothing and leaves ``@champion`` where it was.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_mlops.errors import ModelServerError, ServingCheckError
from airflow_mlops.record import paths, tag
from tests.integration.harness import PipelineEnv
from tests.pipeline_steps import retraining_steps
from tests.unit.operators.conftest import (
    CANDIDATES,
    MLFLOW_CONN,
    Stack,
    context,
    evaluate,
    gate,
    open_stack,
    prepare,
    resolve,
    train,
)

DAG, RUN = "serve_dag", "serve_run"
EXPERIMENT, MODEL = "serve_exp", "serve_model"
ROWS = 40


def server_processes(environ_marker: str | None = None) -> list[int]:
    """Pids of MLflow scoring servers started by this process, or carrying ``environ_marker`` in their environment.

    A pipeline run's server is a child of the ``dag.test()`` process, gone by the time a test
    looks: it is found by the AIRFLOW_HOME it inherited. None may outlive a check.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes() if environ_marker else b""
        except OSError:
            continue
        state, parent_pid = stat.rsplit(")", 1)[1].split()[:2]
        if b"scoring_server.app" not in cmdline or state == "Z":  # a zombie has exited; only reaping is left
            continue
        parent = int(parent_pid)
        if (environ_marker and environ_marker.encode() in environ.split(b"\0")) or (
            not environ_marker and parent == os.getpid()
        ):
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One real retraining chain up to the gate, with evaluate's predictions on the first ROWS test rows."""
    with open_stack(tmp_path_factory.mktemp("serving")) as stack:
        data = resolve(stack, DAG, RUN)
        dataset = prepare(stack, data, DAG, RUN)
        trained = [train(stack, dataset, CANDIDATES[0], EXPERIMENT, DAG, RUN)]
        evaluation = evaluate(stack, dataset, trained, EXPERIMENT, MODEL, DAG, RUN, prediction_rows=ROWS)
        yield {"stack": stack, "dataset": dataset, "gate": gate(evaluation, DAG, RUN)}


def _operator(chain: dict[str, Any], **limits: Any) -> Any:
    from airflow_mlops.operators.serving_check import ServingCheckOperator

    return ServingCheckOperator(
        task_id="serving_check",
        gate=chain["gate"],
        dataset=chain["dataset"],
        rows=ROWS,
        latency_requests=5,
        mlflow_conn_id=MLFLOW_CONN,
        **limits,
    )


def _local_model(stack: Stack, candidate: dict[str, Any], into: Path) -> str:
    import mlflow.artifacts

    with stack.hook.session():
        return str(mlflow.artifacts.download_artifacts(artifact_uri=candidate["model_uri"], dst_path=str(into)))


def test_a_served_model_answers_like_offline_and_a_killed_task_stops_it(chain: dict[str, Any], tmp_path: Path) -> None:
    import mlflow.sklearn

    from airflow_mlops import artifacts
    from airflow_mlops.hooks.model_server import ModelServer
    from airflow_mlops.ml.serving_requests import frame_body, predictions_of

    candidate = chain["gate"]["candidate"]
    local = _local_model(chain["stack"], candidate, tmp_path / "model")
    rows = artifacts.read_parquet(chain["dataset"]["test_uri"]).drop(columns=["target"]).head(ROWS)
    operator = _operator(chain)
    server = ModelServer(local, model_uri=candidate["model_uri"], workdir=tmp_path).__enter__()
    operator._server = server  # as execute() holds it while the server runs
    try:
        assert server.process is not None and server_processes() == [server.process.pid]
        reply = server.invoke(frame_body(rows))
        assert reply.status == 200, reply.body
        expected = mlflow.sklearn.load_model(local).predict(rows).tolist()
        assert predictions_of(reply.body) == expected
    finally:
        operator.on_kill()  # Airflow killing the task
    assert server_processes() == []
    assert server.process is None


WORKER = """
import sys, time
from airflow_mlops.hooks.model_server import ModelServer
server = ModelServer(sys.argv[1], model_uri="models:/m-worker", workdir=sys.argv[2]).__enter__()
print(server.process.pid, flush=True)
time.sleep(600)
"""


def test_a_worker_killed_outright_takes_its_model_server_with_it(chain: dict[str, Any], tmp_path: Path) -> None:
    """SIGKILL runs no finally and no on_kill: Linux's parent-death signal stops the server."""
    import signal
    import subprocess
    import sys
    import time

    local = _local_model(chain["stack"], chain["gate"]["candidate"], tmp_path / "model")
    worker = subprocess.Popen([sys.executable, "-c", WORKER, local, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None
        server_pid = int(worker.stdout.readline())
        assert _running(server_pid)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    deadline = time.monotonic() + 15
    while _running(server_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(server_pid), f"model server {server_pid} outlived its worker"


def _running(pid: int) -> bool:
    """Not exited: a zombie left to a PID 1 that does not reap (a container's) has exited."""
    try:
        return (Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_server_that_cannot_load_its_model_fails_fast_naming_uri_port_and_output(tmp_path: Path) -> None:
    from airflow_mlops.hooks.model_server import ModelServer

    not_a_model = tmp_path / "empty"
    not_a_model.mkdir()
    server = ModelServer(not_a_model, model_uri="models:/m-0123abcd", workdir=tmp_path, startup_timeout=60)
    with pytest.raises(ModelServerError) as raised, server:
        pytest.fail("the server must not come up")
    message = str(raised.value)
    assert "models:/m-0123abcd" in message
    assert f"127.0.0.1:{server.port}" in message
    assert "MLmodel" in message  # the tail of the server's own output says what was missing
    assert server_processes() == []


def test_served_labels_that_differ_from_the_offline_ones_fail_and_are_recorded(chain: dict[str, Any]) -> None:
    from airflow_mlops.hooks.mlflow import MlflowHook
    from airflow_mlops.report import format_report, pipeline_run_report

    candidate = chain["gate"]["candidate"]
    hook = MlflowHook(MLFLOW_CONN)
    with hook.session():
        client = hook.get_client()
        recorded = json.loads(
            Path(client.download_artifacts(candidate["mlflow_run_id"], paths.OFFLINE_PREDICTIONS)).read_text()
        )
        # The record says row 3 was the other class: the served model can no longer match it.
        tampered = {**recorded, "predictions": list(recorded["predictions"])}
        tampered["predictions"][3] = 1 - tampered["predictions"][3]
        client.log_text(candidate["mlflow_run_id"], json.dumps(tampered), paths.OFFLINE_PREDICTIONS)

    with pytest.raises(ServingCheckError) as raised:
        _operator(chain).execute(context(DAG, RUN))
    assert "parity" in str(raised.value)
    assert "first at row 3" in str(raised.value)
    assert server_processes() == []

    report = pipeline_run_report(hook, experiment=EXPERIMENT, dag_id=DAG, run_id=RUN, model_name=MODEL)
    assert report["serving"]["decision"] == "fail"
    text = format_report(report)
    assert "serving     FAIL" in text
    assert f"NO  parity: {(ROWS - 1) / ROWS:.2%} of {ROWS} served labels" in text
    assert "ok  latency" in text and "ok  missing_column" in text
    with hook.session():
        run = hook.get_client().get_run(candidate["mlflow_run_id"])
        assert run.data.tags[tag.SERVING_DECISION] == "fail"
        assert "parity" in run.data.tags[tag.SERVING_SUMMARY]
        # Nothing was registered: register never runs after a failed check (test_pipeline_* below).
        assert hook.find_model_version(MODEL, {tag.DAG_ID: DAG, tag.RUN_ID: RUN}) is None


def test_a_model_the_server_cannot_load_is_a_recorded_failure(chain: dict[str, Any]) -> None:
    """The winner's logged files lose their python_function flavor: the server exits, the verdict says why."""
    from airflow_mlops.hooks.mlflow import MlflowHook

    candidate = chain["gate"]["candidate"]
    [mlmodel] = (chain["stack"].root / "mlruns").rglob(f"{candidate['model_id']}/artifacts/MLmodel")
    original = mlmodel.read_text()
    mlmodel.write_text("flavors: {}\n")
    try:
        with pytest.raises(ModelServerError) as raised:
            _operator(chain).execute(context(DAG, RUN))
    finally:
        mlmodel.write_text(original)
    assert candidate["model_uri"] in str(raised.value)
    assert server_processes() == []
    hook = MlflowHook(MLFLOW_CONN)
    with hook.session():
        run = hook.get_client().get_run(candidate["mlflow_run_id"])
    assert run.data.tags[tag.SERVING_DECISION] == "fail"
    assert run.data.tags[tag.SERVING_SUMMARY].startswith(f"FAIL: served {candidate['model_uri']}: startup: the model")
    assert "python_function" in run.data.tags[tag.SERVING_SUMMARY], run.data.tags[tag.SERVING_SUMMARY]


# --- real pipeline runs -----------------------------------------------------------------------------

PIPELINE = "serving_check_retrain"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A run whose check passes and promotes, then one whose check cannot meet its p95 limit."""
    from airflow_mlops.demo.datasets import data_versions, to_csv_bytes

    env = PipelineEnv(tmp_path_factory.mktemp("serving-pipeline"))
    env.commit_data(to_csv_bytes(data_versions()[0]), "v1")
    env.write_pipeline(PIPELINE, serving_check={"enabled": True, "rows": 60, "latency_requests": 10})
    passed = env.run(PIPELINE)
    too_slow = {"enabled": True, "rows": 60, "latency_requests": 10, "max_p95_ms": 0.001}
    env.write_pipeline(PIPELINE, serving_check=too_slow)
    # no_cache: train new models (else the same model as the champion wins, and nothing changed)
    failed = env.run(PIPELINE, conf={"no_cache": True})
    return {"env": env, "passed": passed, "failed": failed}


def test_a_pipeline_whose_served_model_passes_registers_and_promotes_it(runs: dict[str, Any]) -> None:
    from airflow_mlops.record.lineage import VersionLineage

    outcome = runs["passed"]
    assert outcome["state"] == "success", outcome["log"][-3000:]
    assert {task.split("[")[0] for task in outcome["tasks"]} == set(retraining_steps())
    assert outcome["tasks"]["serving_check"] == "success"
    assert outcome["tasks"]["promote"] == "success"
    client = runs["env"].client()
    champion = client.get_model_version_by_alias("breast_cancer_classifier", "champion")
    lineage = VersionLineage.from_tags(champion.tags)
    assert lineage.serving.decision == "pass"
    assert "matched its offline predictions on 60 rows" in str(lineage.serving.summary)
    assert server_processes(f"AIRFLOW_HOME={runs['env'].root / 'airflow'}") == []


def test_a_pipeline_whose_served_model_is_too_slow_promotes_nothing(runs: dict[str, Any]) -> None:
    outcome = runs["failed"]
    assert outcome["state"] == "failed"
    assert outcome["tasks"]["serving_check"] == "failed"
    assert outcome["tasks"]["register"] == "upstream_failed"
    assert outcome["tasks"]["promote"] == "upstream_failed"
    assert "ServingCheckError" in outcome["log"] and "latency: p95" in outcome["log"]
    client = runs["env"].client()
    versions = client.search_model_versions("name = 'breast_cancer_classifier'")
    assert [str(v.version) for v in versions] == ["1"]
    assert str(client.get_model_version_by_alias("breast_cancer_classifier", "champion").version) == "1"
    parent = client.search_runs(
        [client.get_experiment_by_name(PIPELINE).experiment_id],
        f"tags.`{tag.RUN_ID}` = '{outcome['run_id']}' and tags.`{tag.ROLE}` = 'pipeline'",
    )[0]
    assert parent.data.tags[tag.SERVING_DECISION] == "fail"
    assert "over the 0.001 ms limit" in parent.data.tags[tag.SERVING_SUMMARY]
    assert "serving_check" in parent.data.tags[tag.FAILURE]
    assert server_processes(f"AIRFLOW_HOME={runs['env'].root / 'airflow'}") == []
