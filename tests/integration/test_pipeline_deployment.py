"""The retraining pipeline's deploy step with real processes: two ``dag.test()`` runs on one PipelineEnv.

- Run 1 promotes v1 and deploys it on the default ``mlops-local`` target (endpoints under
  ``$AIRFLOW_HOME/mlops-endpoints``): the endpoint's stable URL answers predictions.
- Run 2 promotes v2, whose smoke limit cannot be met (p95 at most 0.001 ms): the endpoint serves
  v1 again and ``@champion`` is back on v1, through rollback's audit path, and the task fails.
The endpoint's processes outlive the runs (they are the service); the module stops them at the end
and checks that none is left.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_mlops.record import tag
from tests.integration.harness import PipelineEnv

PIPELINE = "deploy_retrain"
MODEL = "breast_cancer_classifier"  # the example pipeline's model, and so the endpoint's default name


def _deployment(**smoke: Any) -> dict[str, Any]:
    return {"smoke": {"requests": 10, **smoke}}


def _overrides(**smoke: Any) -> dict[str, Any]:
    """The example pipeline with its first candidate only (one train task is enough here) and a deployment."""
    import yaml

    from tests.integration.harness import EXAMPLE_PIPELINE

    first = yaml.safe_load(EXAMPLE_PIPELINE.read_text())["models"][:1]
    return {"models": first, "deployment": _deployment(**smoke)}


def _predict(env_root: Any, frame: Any) -> tuple[int, Any]:
    from airflow_mlops.deploy.endpoint import http_call
    from airflow_mlops.deploy.local import LocalEndpoints
    from airflow_mlops.ml.serving_requests import frame_body

    state = LocalEndpoints(str(env_root)).get(MODEL)
    status, body = http_call(state["port"], "POST", "/invocations", frame_body(frame), timeout=30)
    return status, json.loads(body)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from airflow_mlops.demo.datasets import data_versions, to_csv_bytes
    from airflow_mlops.deploy.local import LocalEndpoints

    started = time.monotonic()
    env = PipelineEnv(tmp_path_factory.mktemp("deploy-pipeline"))
    endpoints = env.root / "airflow" / "mlops-endpoints"
    data = data_versions()[0]
    rows = data.drop(columns=["target"]).head(3)
    try:
        env.commit_data(to_csv_bytes(data), "v1")
        env.write_pipeline(PIPELINE, **_overrides())
        first = env.run(PIPELINE)
        after_first = {
            "endpoint": LocalEndpoints(str(endpoints)).get(MODEL) if (endpoints / MODEL).exists() else None,
            "answer": _predict(endpoints, rows) if (endpoints / MODEL).exists() else None,
        }
        env.write_pipeline(PIPELINE, **_overrides(max_p95_ms=0.001))
        # no_cache: train new models (else the same model as the champion wins, and nothing changed)
        second = env.run(PIPELINE, conf={"no_cache": True})
        yield {
            "env": env,
            "endpoints": endpoints,
            "rows": rows,
            "first": first,
            "after_first": after_first,
            "second": second,
            "seconds": time.monotonic() - started,
        }
    finally:
        LocalEndpoints(str(endpoints)).delete(MODEL)


def test_the_new_champion_is_deployed_and_answers_at_its_url(runs: dict[str, Any]) -> None:
    outcome = runs["first"]
    assert outcome["state"] == "success", outcome["log"][-3000:]
    assert outcome["tasks"]["promote"] == "success" and outcome["tasks"]["deploy"] == "success"
    endpoint = runs["after_first"]["endpoint"]
    assert endpoint["answering"] and [s["version"] for s in endpoint["serving"]] == ["1"]
    assert endpoint["model_uri"] == f"models:/{MODEL}/1"  # the version promote moved the alias to
    status, answer = runs["after_first"]["answer"]
    assert status == 200 and len(answer["predictions"]) == 3
    tags = runs["env"].client().get_model_version(MODEL, "1").tags
    assert tags[tag.DEPLOY_DECISION] == tag.DeployDecision.DEPLOYED and tags[tag.DEPLOY_URL] == endpoint["url"]
    assert json.loads(tags[tag.DEPLOY_SMOKE])["requests"] == 10
    bake = json.loads(tags[tag.DEPLOY_BAKE])  # evaluate recorded the rows' predictions; v1 served them alike
    assert bake["decision"] == "pass" and bake["parity"]["compared"] == 10 and bake["parity"]["disagreeing"] == 0
    assert bake["pinned"] == {"sent": 10, "failed": 0}
    assert bake["live"]["requests"] >= 10 and bake["live"]["errors"] == 0


def test_an_impossible_smoke_limit_rolls_back_the_endpoint_and_the_champion(runs: dict[str, Any]) -> None:
    from airflow_mlops.deploy.local import LocalEndpoints

    outcome = runs["second"]
    assert outcome["state"] == "failed"
    assert outcome["tasks"]["promote"] == "success" and outcome["tasks"]["deploy"] == "failed"
    assert outcome["tries"]["deploy"] == 1  # a DeploymentSmokeError is never retried
    log = outcome["log"]
    assert "DeploymentRolledBackError" in log and f"endpoint '{MODEL}'" in log and f"{MODEL} v2" in log
    assert "max_p95_ms 0.001 ms" in log
    client = runs["env"].client()
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    assert str(client.get_model_version_by_alias(MODEL, "previous").version) == "2"
    assert client.get_model_version(MODEL, "1").tags[tag.PROMOTION_ACTION] == "rollback"
    assert client.get_model_version(MODEL, "2").tags[tag.DEPLOY_DECISION] == tag.DeployDecision.ROLLED_BACK
    endpoint = LocalEndpoints(str(runs["endpoints"])).get(MODEL)
    assert [s["version"] for s in endpoint["serving"]] == ["1"] and endpoint["answering"]
    assert endpoint["port"] == runs["after_first"]["endpoint"]["port"]  # the same stable URL
    assert _predict(runs["endpoints"], runs["rows"])[0] == 200


def test_the_model_page_shows_the_endpoint_serving_and_both_rollbacks(
    runs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The UI plugin's app in-process (Airflow's login overridden) on the runs' real record and live endpoint."""
    from airflow_mlops.plugins import metadata, records
    from airflow_mlops.plugins.endpoints import EndpointReader
    from tests.unit.plugins.test_app import serve

    connection = {"conn_type": "mlflow", "extra": {"tracking_uri": runs["env"].tracking_uri}}
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEPLOY_RUNS", json.dumps(connection))
    monkeypatch.setattr(metadata, "mlops_dag_ids", lambda session, readable: [PIPELINE])
    monkeypatch.setattr(metadata, "dags_of_model", lambda session, name, dag_ids: [PIPELINE])
    app = serve(records.MlflowReader("mlflow_deploy_runs"), {PIPELINE}, EndpointReader(str(runs["endpoints"])))
    started = time.monotonic()
    view = app.get(f"/api/models/{MODEL}").json()["deployments"]
    [endpoint] = view["endpoints"]
    assert endpoint["live"] and endpoint["answering"] and endpoint["target"] == "mlops-local"
    assert [(s["number"], s["weight"], s["running"]) for s in endpoint["serving"]] == [("1", 100, True)]
    assert endpoint["url"] == runs["after_first"]["endpoint"]["url"]
    last = endpoint["last_rollout"]
    assert (last["version"], last["decision"]) == ("2", tag.DeployDecision.ROLLED_BACK)
    assert "max_p95_ms 0.001 ms" in last["smoke"]["breaches"][0]
    # The endpoint went back (its history says "rollback") and so did the alias, for the same recorded reason.
    endpoint_back = [r for r in view["rollbacks"] if r["kind"] == "endpoint"]
    alias_back = [r for r in view["rollbacks"] if r["kind"] == "alias"]
    assert [(r["from"], r["to"]) for r in endpoint_back] == [("v2", "v1")]
    assert [(r["from"], r["to"]) for r in alias_back] == [("v2", "v1")]
    assert endpoint_back[0]["reason"] == alias_back[0]["reason"] and "max_p95_ms" in alias_back[0]["reason"]
    page = app.get(f"/models/{MODEL}").text
    assert '<span class="badge pass answering">answering</span>' in page and "100 %" in page
    assert page.count("deploy smoke check of v2 at endpoint") >= 2
    version_page = app.get(f"/models/{MODEL}/versions/2").text
    assert '<span class="badge rolled_back">rolled_back</span>' in version_page
    print(f"model page with a live endpoint: {time.monotonic() - started:.2f} s")


def test_a_repeated_deploy_starts_no_server_a_canary_rolls_back_and_stopping_leaves_no_process(
    runs: dict[str, Any],
) -> None:
    """The rollout target the deploy step uses, on the endpoint the runs left: retries, a real canary, stop."""
    import mlflow

    from airflow_mlops.deploy.endpoint import Timeouts
    from airflow_mlops.deploy.local import LocalEndpoints
    from airflow_mlops.deploy.processes import marked
    from airflow_mlops.deploy.rollout import LocalTarget
    from airflow_mlops.ml.serving_requests import single_row_bodies

    folder = runs["endpoints"] / MODEL
    target = LocalTarget(str(runs["endpoints"]), Timeouts())
    before = sorted(p.pid for p in marked(str(folder)))
    assert len(before) == 2  # the proxy and v1's server
    target.deploy(MODEL, f"models:/{MODEL}/1", canary_percent=None, reason="retry")
    assert sorted(p.pid for p in marked(str(folder))) == before

    saved = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    # the new version's files come from the runs' registry (set both: another test file in this
    # process may have pointed the registry URI elsewhere)
    mlflow.set_tracking_uri(runs["env"].tracking_uri)
    mlflow.set_registry_uri(runs["env"].tracking_uri)
    try:
        canary = target.deploy(MODEL, f"models:/{MODEL}/2", canary_percent=50, reason="canary")
        with_canary = sorted(p.pid for p in marked(str(folder)))
        assert sorted((s["version"], s["weight"]) for s in canary["serving"]) == [("1", 50), ("2", 50)]
        # the deploy step's retry finds its canary serving: nothing started
        target.deploy(MODEL, f"models:/{MODEL}/2", canary_percent=50, reason="retry")
        assert sorted(p.pid for p in marked(str(folder))) == with_canary and len(with_canary) == 3
    finally:
        mlflow.set_tracking_uri(saved[0])
        mlflow.set_registry_uri(saved[1])
    assert all(target.probe(MODEL, body).ok for body in single_row_bodies(runs["rows"], 6))
    assert target.rollback(MODEL, f"models:/{MODEL}/1", "smoke") == f"serves models:/{MODEL}/1 again"
    assert [s["version"] for s in LocalEndpoints(str(runs["endpoints"])).get(MODEL)["serving"]] == ["1"]
    assert sorted(p.pid for p in marked(str(folder))) == before  # the canary's server is stopped

    assert LocalEndpoints(str(runs["endpoints"])).delete(MODEL)
    assert marked(str(folder)) == []
    print(f"two pipeline runs with a deploy step: {runs['seconds']:.1f} s")
