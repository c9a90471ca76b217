"""The ``mlops-local`` deployment target with real processes: MLflow's scoring server behind the endpoint's proxy.

One module-scoped stack: a SQLite MLflow registry with two versions of a model that answer
differently (v1 always 0, v2 always 1, so every answer says which version served it), and one
endpoint that the tests move between them in order, through MLflow's own ``get_deploy_client``.
Faults are real: a deploy process SIGKILLed mid-rollout, a new model server SIGKILLed before it
answered, steady traffic through a switch with every failed request counted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

MODEL, ENDPOINT = "deploy_model", "churn"
COLUMNS = ["a", "b", "c"]
BODY = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [[1.0, 2.0, 3.0]]}}).encode()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A registry with v1 (answers 0) and v2 (answers 1), @champion on v1, and the target's client."""
    import mlflow
    import pandas as pd
    from mlflow.deployments import get_deploy_client
    from sklearn.dummy import DummyClassifier

    from airflow_mlops.deploy.local import LocalEndpoints
    from airflow_mlops.ml.flavors import log_model

    root = tmp_path_factory.mktemp("deploy")
    tracking = f"sqlite:///{root}/mlflow.db"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking)
    experiment = mlflow.create_experiment("deploy", artifact_location=(root / "artifacts").as_uri())
    features = pd.DataFrame([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], columns=COLUMNS)
    labels = pd.Series([0, 1])
    for constant in (0, 1):
        with mlflow.start_run(experiment_id=experiment):
            model = DummyClassifier(strategy="constant", constant=constant).fit(features, labels)
            info, _, _ = log_model(model, features, labels, "classification")
        mlflow.register_model(info.model_uri, MODEL)
    client = mlflow.MlflowClient()
    client.set_registered_model_alias(MODEL, "champion", "1")
    endpoints = root / "endpoints"
    target = get_deploy_client(f"mlops-local:{endpoints}")
    try:
        yield {
            "target": target,
            "root": endpoints,
            "tracking": tracking,
            "local": LocalEndpoints(str(endpoints)),
            "folder": endpoints / ENDPOINT,
        }
    finally:
        LocalEndpoints(str(endpoints)).delete(ENDPOINT)
        mlflow.set_tracking_uri(previous)


def _ours(stack: dict[str, Any]) -> list[int]:
    from airflow_mlops.deploy.processes import marked

    return sorted(p.pid for p in marked(str(stack["folder"])))


def _expected_pids(deployment: dict[str, Any]) -> list[int]:
    return sorted([deployment["proxy"]["pid"], *(s["process"]["pid"] for s in deployment["serving"])])


def _answer(port: int) -> Any:
    from airflow_mlops.deploy.endpoint import http_call

    status, body = http_call(port, "POST", "/invocations", BODY, timeout=30)
    assert status == 200, body
    return json.loads(body)["predictions"][0]


def test_the_plugin_serves_the_champion_version_at_a_stable_url(stack: dict[str, Any]) -> None:
    target = stack["target"]
    assert type(target).__name__ == "LocalDeploymentClient"
    created = target.create_deployment(ENDPOINT, f"models:/{MODEL}@champion")
    # The alias is resolved once: the endpoint records the version, which a later move of @champion does not change.
    assert created["model_uri"] == f"models:/{MODEL}/1"
    assert created["serving"][0]["version"] == "1" and created["answering"]
    import pandas as pd

    answer = target.predict(ENDPOINT, pd.DataFrame([[1.0, 2.0, 3.0]], columns=COLUMNS))
    assert answer.get_predictions(predictions_format="ndarray").tolist() == [0]
    assert [d["name"] for d in target.list_deployments()] == [ENDPOINT]
    assert _ours(stack) == _expected_pids(target.get_deployment(ENDPOINT))
    with pytest.raises(Exception, match="already exists"):
        target.create_deployment(ENDPOINT, f"models:/{MODEL}/2")


def test_a_first_deploy_that_fails_leaves_no_endpoint_and_no_process(stack: dict[str, Any]) -> None:
    from airflow_mlops.deploy.processes import marked

    with pytest.raises(Exception, match="99"):
        stack["target"].create_deployment("broken", f"models:/{MODEL}/99")
    assert not (stack["root"] / "broken").exists() and marked(str(stack["root"] / "broken")) == []
    assert [d["name"] for d in stack["target"].list_deployments()] == [ENDPOINT]


def test_a_switch_under_steady_traffic_fails_no_request(stack: dict[str, Any]) -> None:
    target = stack["target"]
    before = target.get_deployment(ENDPOINT)
    port, old_pid = before["port"], before["serving"][0]["process"]["pid"]
    answers: Counter[Any] = Counter()
    failures: list[str] = []
    stop = threading.Event()

    def traffic() -> None:
        from airflow_mlops.deploy.endpoint import http_call

        while not stop.is_set():
            try:
                status, body = http_call(port, "POST", "/invocations", BODY, timeout=30)
            except OSError as err:
                failures.append(repr(err))
                continue
            if status != 200:
                failures.append(f"{status}: {body[:200]!r}")
            else:
                answers[json.loads(body)["predictions"][0]] += 1

    senders = [threading.Thread(target=traffic) for _ in range(2)]
    for sender in senders:
        sender.start()
    try:
        time.sleep(0.5)
        updated = target.update_deployment(ENDPOINT, f"models:/{MODEL}/2")
        served_before = answers[1]
        deadline = time.monotonic() + 10
        while answers[1] < served_before + 50 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for sender in senders:
            sender.join()
    assert failures == [], failures[:5]
    assert answers[0] > 20 and answers[1] >= 50, answers  # both versions answered through the same URL
    assert updated["port"] == port and updated["model_uri"] == f"models:/{MODEL}/2"
    assert updated["previous"]["version"] == "1"
    assert old_pid not in _ours(stack) and _ours(stack) == _expected_pids(updated)
    print(f"switch under traffic: {sum(answers.values())} requests, {len(failures)} failed, {dict(answers)}")


def test_a_deploy_killed_mid_rollout_is_finished_by_its_retry_with_one_version_serving(
    stack: dict[str, Any],
) -> None:
    """The deploy process dies after starting the new server: the retry stops that stray and ends with one."""
    script = (
        "import mlflow, sys; mlflow.set_tracking_uri(sys.argv[1]);"
        "from airflow_mlops.deploy.local import LocalEndpoints;"
        f"LocalEndpoints(sys.argv[2]).deploy({ENDPOINT!r}, 'models:/{MODEL}/1')"
    )
    child = subprocess.Popen([sys.executable, "-c", script, stack["tracking"], str(stack["root"])])
    state_file = stack["folder"] / "state.json"
    deadline = time.monotonic() + 120
    while not json.loads(state_file.read_text())["pending"]:
        assert child.poll() is None and time.monotonic() < deadline, "the deploy never started its server"
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    stray = json.loads(state_file.read_text())["pending"][0]["process"]["pid"]
    assert stray in _ours(stack)  # left running by the killed deploy: two servers now, one of them unrouted
    assert _answer(stack["target"].get_deployment(ENDPOINT)["port"]) == 1  # the endpoint still serves v2

    retried = stack["local"].deploy(ENDPOINT, f"models:/{MODEL}/1")
    assert stray not in _ours(stack)
    assert [s["version"] for s in retried["serving"]] == ["1"]
    assert _ours(stack) == _expected_pids(retried)
    assert any(h["action"] == "abandoned" for h in retried["history"])
    assert _answer(retried["port"]) == 0


def test_a_server_killed_before_it_answered_fails_the_deploy_transiently_and_the_retry_recovers(
    stack: dict[str, Any],
) -> None:
    from airflow_mlops.errors import TransientError

    state_file = stack["folder"] / "state.json"
    killed: list[int] = []

    def kill_the_new_server() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pending = json.loads(state_file.read_text())["pending"]
            if pending:
                killed.append(pending[0]["process"]["pid"])
                os.kill(killed[0], signal.SIGKILL)
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_the_new_server)
    killer.start()
    with pytest.raises(TransientError, match="killed by signal 9"):
        stack["local"].deploy(ENDPOINT, f"models:/{MODEL}/2")
    killer.join()
    after_failure = stack["target"].get_deployment(ENDPOINT)
    assert [s["version"] for s in after_failure["serving"]] == ["1"] and after_failure["answering"]
    assert _answer(after_failure["port"]) == 0 and _ours(stack) == _expected_pids(after_failure)

    retried = stack["local"].deploy(ENDPOINT, f"models:/{MODEL}/2")
    assert [s["version"] for s in retried["serving"]] == ["2"] and _answer(retried["port"]) == 1
    assert _ours(stack) == _expected_pids(retried)


def test_a_canary_splits_traffic_and_a_rollback_keeps_the_old_version(stack: dict[str, Any]) -> None:
    target = stack["target"]
    canary = target.update_deployment(ENDPOINT, f"models:/{MODEL}/1", config={"canary_percent": 30})
    assert sorted((s["version"], s["weight"]) for s in canary["serving"]) == [("1", 30), ("2", 70)]
    answers = Counter(_answer(canary["port"]) for _ in range(60))
    assert answers[0] > 3 and answers[1] > 20, answers  # 30 % vs 70 %: both serve
    rolled = stack["local"].rollback(ENDPOINT, "canary breached its bake")
    assert [(s["version"], s["weight"]) for s in rolled["serving"]] == [("2", 100)]
    assert {_answer(rolled["port"]) for _ in range(10)} == {1}
    assert _ours(stack) == _expected_pids(rolled)
    assert rolled["history"][-1]["action"] == "canary_old"


def test_a_killed_proxy_is_restarted_on_the_same_port_and_stop_leaves_no_process(
    stack: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_mlops.cli import main
    from airflow_mlops.deploy.endpoint import http_call

    before = stack["target"].get_deployment(ENDPOINT)
    os.kill(before["proxy"]["pid"], signal.SIGKILL)
    time.sleep(0.2)
    assert not stack["target"].get_deployment(ENDPOINT)["answering"]
    root = ["--root", str(stack["root"])]
    capsys.readouterr()
    assert main(["endpoint", "status", *root]) == 0
    assert "NOT ANSWERING" in capsys.readouterr().out
    # The on-call redeploy of the version serving: reconciles (a new proxy on the same port), switches nothing.
    assert (
        main(["endpoint", "redeploy", ENDPOINT, f"models:/{MODEL}/2", "--tracking-uri", stack["tracking"], *root]) == 0
    )
    again = stack["target"].get_deployment(ENDPOINT)
    assert again["port"] == before["port"] and again["answering"] and again["proxy"] != before["proxy"]
    assert again["history"][-1]["action"] == "unchanged" and _answer(again["port"]) == 1
    assert main(["endpoint", "status", ENDPOINT, *root]) == 0
    assert f"{ENDPOINT}: http://127.0.0.1:{before['port']} answering; serving {MODEL} v2" in capsys.readouterr().out

    assert main(["endpoint", "stop", ENDPOINT, *root]) == 0
    assert _ours(stack) == [] and not Path(stack["folder"]).exists()
    assert main(["endpoint", "stop", ENDPOINT, *root]) == 1
    with pytest.raises(OSError):
        http_call(before["port"], "GET", "/ping", timeout=2)
