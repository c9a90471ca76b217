"""The deploy step's bake with real processes: MLflow's scoring servers behind the endpoint's proxy.

One module-scoped stack: a SQLite registry with three versions of a constant classifier, each
with the offline predictions ``evaluate`` would have recorded on its run:
- v1 answers 0, and evaluate saw 0;
- v2 answers 1, but evaluate saw 0 (a model that serves otherwise than it was gated: the drift
  the bake watches for);
- v3 answers 1, and evaluate saw 1.
``DeployModelOperator.execute`` runs in-process against one ``mlops-local`` endpoint, in order:
v1 deployed; v2 as a canary breaches during its bake, and both the endpoint and ``@champion`` go
back to v1; v3 as a canary, whose pinned requests reach the version asked, bakes clean and keeps
both.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_mlops.record import tag

MODEL, ENDPOINT = "bake_model", "bake"
COLUMNS = ["a", "b", "c"]
ROWS = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0], [1.5, 2.5, 3.5]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import mlflow
    import pandas as pd
    from sklearn.dummy import DummyClassifier

    from airflow_mlops.deploy.local import LocalEndpoints
    from airflow_mlops.governance.promotion import promote_version
    from airflow_mlops.ml.flavors import log_model
    from airflow_mlops.record import paths

    started = time.monotonic()
    root = tmp_path_factory.mktemp("bake")
    tracking = f"sqlite:///{root}/mlflow.db"
    saved = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking)
    experiment = mlflow.create_experiment("bake", artifact_location=(root / "artifacts").as_uri())
    features = pd.DataFrame(ROWS, columns=COLUMNS)
    labels = pd.Series([0, 1, 0, 1])
    for answers, recorded in ((0, 0), (1, 0), (1, 1)):
        with mlflow.start_run(experiment_id=experiment):
            model = DummyClassifier(strategy="constant", constant=answers).fit(features, labels)
            info, _, _ = log_model(model, features, labels, "classification")
            mlflow.log_dict({"rows": len(ROWS), "predictions": [recorded] * len(ROWS)}, paths.OFFLINE_PREDICTIONS)
        mlflow.register_model(info.model_uri, MODEL)
    client = mlflow.MlflowClient()
    promote_version(client, MODEL, "1", expected_champion=None, actor="test", reason="first", forced=True)
    test_file = root / "test.parquet"
    features.assign(label=labels).to_parquet(test_file)
    endpoints = root / "endpoints"
    with pytest.MonkeyPatch.context() as patch:
        connection = {"conn_type": "mlflow", "extra": {"tracking_uri": tracking}}
        patch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", json.dumps(connection))
        try:
            yield {
                "client": client,
                "endpoints": endpoints,
                "dataset": {"test_uri": test_file.as_uri(), "target": "label"},
                "started": started,
            }
        finally:
            LocalEndpoints(str(endpoints)).delete(ENDPOINT)
            mlflow.set_tracking_uri(saved)


def _deploy(stack: dict[str, Any], version: str, previous: str | None, **arguments: Any) -> Any:
    """The deploy task of a run that promoted ``version`` over ``previous``, executed in-process."""
    from airflow_mlops.operators.deploy import DeployModelOperator

    operator = DeployModelOperator(
        task_id="deploy",
        promotion={"model_name": MODEL, "version": version, "previous": previous},  # type: ignore[typeddict-item]
        dataset=stack["dataset"],  # type: ignore[arg-type]
        target=f"mlops-local:{stack['endpoints']}",
        endpoint=ENDPOINT,
        smoke_requests=4,
        problem="classification",
        **arguments,
    )
    context: Any = {"dag_run": SimpleNamespace(dag_id="bake", run_id=f"run_v{version}")}
    return operator.execute(context)


def _promote(stack: dict[str, Any], version: str, over: str) -> None:
    from airflow_mlops.governance.promotion import promote_version

    promote_version(stack["client"], MODEL, version, expected_champion=over, actor="test", reason="gate", forced=True)


def _serving(stack: dict[str, Any]) -> list[tuple[str, int]]:
    from airflow_mlops.deploy.local import LocalEndpoints

    return [(s["version"], s["weight"]) for s in LocalEndpoints(str(stack["endpoints"])).get(ENDPOINT)["serving"]]


def _champion(stack: dict[str, Any]) -> str:
    return str(stack["client"].get_model_version_by_alias(MODEL, "champion").version)


def _pinned(port: int, pin: str | None) -> tuple[int, dict[str, str], bytes]:
    import http.client

    from airflow_mlops.deploy.proxy import PIN_HEADER

    body = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [ROWS[0]]}})
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": "application/json", **({PIN_HEADER: pin} if pin else {})}
        connection.request("POST", "/invocations", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_a_breach_during_the_bake_rolls_back_the_endpoint_and_the_champion(stack: dict[str, Any]) -> None:
    from airflow_mlops.errors import DeploymentRolledBackError

    first = _deploy(stack, "1", None)
    assert first["decision"] == tag.DeployDecision.DEPLOYED and first["bake"]["parity"]["disagreeing"] == 0
    assert _serving(stack) == [("1", 100)]

    _promote(stack, "2", over="1")
    started = time.monotonic()
    with pytest.raises(DeploymentRolledBackError) as raised:
        _deploy(stack, "2", "1", strategy="canary", canary_percent=50, bake_seconds=30)
    assert time.monotonic() - started < 25  # the first breaching round ended the 30 s bake
    message = str(raised.value)
    assert (
        "live labels differ from the offline ones on 100.0%" in message
        and "first at row 0: offline 0, live 1" in message
    )
    assert _serving(stack) == [("1", 100)]  # the canary's server is gone; v1 kept every request
    client = stack["client"]
    assert _champion(stack) == "1"
    assert str(client.get_model_version_by_alias(MODEL, "previous").version) == "2"
    assert client.get_model_version(MODEL, "1").tags[tag.PROMOTION_ACTION] == "rollback"  # the CLI's audit record
    tags = client.get_model_version(MODEL, "2").tags
    assert tags[tag.DEPLOY_DECISION] == tag.DeployDecision.ROLLED_BACK
    bake = json.loads(tags[tag.DEPLOY_BAKE])
    assert bake["decision"] == "fail" and bake["rounds"] == 1 and bake["parity"]["compared"] == 1
    rolled = json.loads(tags[tag.DEPLOY_ROLLBACK])
    assert rolled["alias"] == "@champion back on v1" and "again" in rolled["endpoint"]
    assert "live labels differ" in rolled["reason"]


def test_pinned_requests_reach_the_version_asked_and_a_clean_bake_keeps_both(stack: dict[str, Any]) -> None:
    from airflow_mlops.deploy.endpoint import http_call
    from airflow_mlops.deploy.proxy import BACKEND_HEADER, MODEL_URI_HEADER, STATS_PATH
    from airflow_mlops.deploy.rollout import LocalTarget
    from airflow_mlops.errors import DeploymentRolledBackError

    assert _champion(stack) == "1" and _serving(stack) == [("1", 100)]  # as the rollback of the test before left them
    _promote(stack, "3", over="1")
    from airflow_mlops.deploy.endpoint import Timeouts

    # The canary the deploy step starts, started first here to meet both versions through one proxy.
    target = LocalTarget(str(stack["endpoints"]), Timeouts())
    port = target.deploy(ENDPOINT, f"models:/{MODEL}/3", canary_percent=50, reason="canary")["port"]
    since = time.time()
    for pin, label in (("1", 0), (f"models:/{MODEL}/3", 1), ("3", 1)):
        for _ in range(5):
            status, headers, body = _pinned(port, pin)
            assert status == 200 and json.loads(body)["predictions"] == [label]
            assert headers[MODEL_URI_HEADER] == f"models:/{MODEL}/{'1' if label == 0 else '3'}"
            assert headers[BACKEND_HEADER].startswith("127.0.0.1:")
    status, _, body = _pinned(port, "2")
    assert status == 409 and b"not serving" in body
    status, stats = http_call(port, "GET", f"{STATS_PATH}?since={since}", timeout=5)
    versions = json.loads(stats)["versions"]
    assert (versions[f"models:/{MODEL}/1"]["requests"], versions[f"models:/{MODEL}/3"]["requests"]) == (5, 10)

    try:
        done = _deploy(stack, "3", "1", strategy="canary", canary_percent=50, bake_seconds=3)
    except DeploymentRolledBackError as err:  # pragma: no cover - the assertion below says what breached
        pytest.fail(str(err))
    assert done["decision"] == tag.DeployDecision.DEPLOYED
    bake = done["bake"]
    assert (
        bake["decision"] == "pass"
        and bake["rounds"] == 3
        and bake["seconds"] >= 3
        and bake["parity"]["disagreeing"] == 0
    )
    assert bake["live"]["requests"] >= 4 and bake["live"]["errors"] == 0  # the proxy's count of v3's answers
    assert _serving(stack) == [("3", 100)] and _champion(stack) == "3"
    tags = stack["client"].get_model_version(MODEL, "3").tags
    assert tags[tag.DEPLOY_DECISION] == tag.DeployDecision.DEPLOYED and not tags.get(tag.DEPLOY_ROLLBACK)
    print(f"bake module: {time.monotonic() - stack['started']:.1f} s")
