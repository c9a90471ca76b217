"""The model and version pages show where the model is deployed, through the plugin app, on a real MLflow store.

The store holds what two pipeline runs with a deploy step leave (written here with the record
vocabulary and governance's own functions): v1 deployed, v2 deployed then rolled back by its smoke
check, ``@champion`` moved back to v1 through ``rollback``. The endpoint's folder is a real one
written by ``EndpointStore``; the app reads it through its ``endpoint_reader`` dependency,
overridden with a reader of that folder. Airflow's login and metadata are overridden as in
test_app.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_mlops.plugins import metadata, records
from airflow_mlops.plugins.endpoints import EndpointReader
from airflow_mlops.record import tag
from tests.unit.plugins.test_app import DAG, serve
from tests.unit.plugins.test_deployments import MODEL, SMOKE, deploy_tags, write_endpoint

ENDPOINT_REASON = "deploy smoke check of v2 at endpoint 'churn': p95 latency 9.0 ms above <max_p95_ms>"
V2_SUMMARY = "smoke check failed: p95 latency 9.0 ms above max_p95_ms 0.001 ms; rolled back: endpoint serves v1"
BAKE_SUMMARY = "bake breached: live labels differ from the offline ones on 100.0% of 1 rows (1 round(s) over 0.1 s)"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from mlflow import MlflowClient

    from airflow_mlops.governance.promotion import promote_version, rollback

    root = tmp_path_factory.mktemp("deploy-ui-store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment_id = client.create_experiment(MODEL, artifact_location=str(root / "artifacts"))
    run_id = client.create_run(experiment_id, tags={tag.DAG_ID: DAG}).info.run_id
    client.create_registered_model(MODEL)
    for _ in range(2):
        client.create_model_version(MODEL, str(root / "artifacts" / "model"), run_id, tags={tag.DAG_ID: DAG})
    promote_version(client, MODEL, "1", expected_champion=None, actor="airflow:churn_retrain/run1", reason="first run")
    for key, value in deploy_tags("mlops-local", "deployed", "2026-01-01T00:00:00+00:00").items():
        client.set_model_version_tag(MODEL, "1", key, value)
    promote_version(client, MODEL, "2", expected_champion="1", actor="airflow:churn_retrain/run2", reason="gate passed")
    rollback(client, MODEL, to_version="1", actor="airflow:churn_retrain/run2", reason=ENDPOINT_REASON,
             expected_champion="2")  # fmt: skip
    v2 = deploy_tags("mlops-local", "rolled_back", "2026-01-02T10:00:02+00:00", summary=V2_SUMMARY)
    v2[tag.DEPLOY_PREFIX + "region"] = "eu-west"  # a tag this UI has no field for
    v2[tag.DEPLOY_BAKE] = json.dumps({"decision": "fail", "summary": BAKE_SUMMARY})
    v2[tag.DEPLOY_ROLLBACK] = json.dumps({"reason": "live labels differ", "alias": "@champion back on v1"})
    for key, value in v2.items():
        client.set_model_version_tag(MODEL, "2", key, value)
    yield {"uri": uri, "root": root}


@pytest.fixture
def app(store: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    extra = {"tracking_uri": store["uri"]}
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEPLOY_UI", json.dumps({"conn_type": "mlflow", "extra": extra}))
    monkeypatch.setattr(metadata, "mlops_dag_ids", lambda session, readable: [DAG])
    monkeypatch.setattr(metadata, "dags_of_model", lambda session, name, dag_ids: [DAG])
    state = write_endpoint(tmp_path, port=9)  # port 9 (discard): nothing answers /ping
    state.history[1]["reason"] = ENDPOINT_REASON
    from airflow_mlops.deploy.state import EndpointStore

    EndpointStore(tmp_path).save(state)
    return serve(records.MlflowReader("mlflow_deploy_ui"), live=EndpointReader(str(tmp_path), ping_timeout=0.5))


def test_the_model_page_shows_where_it_serves_and_every_rollback(app: Any) -> None:
    page = app.get(f"/models/{MODEL}")
    assert page.status_code == 200, page.text
    html = page.text
    section = html[html.index('<section id="deployments">') : html.index('<section id="versions">')]
    assert 'data-endpoint="churn" data-target="mlops-local"' in section
    assert "http://127.0.0.1:9" in section and "not answering" in section
    assert (
        '>v1</a> <span class="weight">90 %</span>' in section and '>v3</a> <span class="weight">10 %</span>' in section
    )
    assert "(now, from the endpoint's state)" in section
    # The last rollout: v2, rolled back, with its summary and smoke check.
    assert '<span class="badge rolled_back">rolled_back</span>' in section and V2_SUMMARY in section
    assert "<strong>breached</strong>: p95 latency 9.0 ms above max_p95_ms 0.001 ms" in section
    # Both rollbacks with the reason, escaped: the endpoint's (its history) and the alias's (promotion history).
    escaped = ENDPOINT_REASON.replace("'", "&#39;").replace("<", "&lt;").replace(">", "&gt;")
    rollbacks = section[section.index('<table class="rollbacks">') :]
    assert rollbacks.count(escaped) == 2 and "<max_p95_ms>" not in html
    assert '<tr class="endpoint">' in rollbacks and '<tr class="alias">' in rollbacks
    assert "bake breached" in rollbacks  # the canary taken back


def test_the_json_view_carries_the_deployments(app: Any) -> None:
    view = app.get(f"/api/models/{MODEL}").json()
    [endpoint] = view["deployments"]["endpoints"]
    assert endpoint["live"] and [s["number"] for s in endpoint["serving"]] == ["1", "3"]
    assert [r["version"] for r in endpoint["rollouts"]] == ["2", "1"]
    assert {(r["kind"], r["source"]) for r in view["deployments"]["rollbacks"]} == {
        ("endpoint", "endpoint history"), ("alias", "promotion history")
    }  # fmt: skip


def test_the_version_page_shows_its_deploy_record_and_its_alias_rollback(app: Any) -> None:
    html = app.get(f"/models/{MODEL}/versions/2").text
    record = html[html.index('<dd id="deployment">') :]
    record = record[: record.index("</dd>")]
    assert (
        '<span class="badge rolled_back">rolled_back</span> to <code>churn</code> on <code>mlops-local</code>' in record
    )
    assert V2_SUMMARY in record and "10 requests, 0 failed" in record
    assert '<span class="muted">region</span> eu-west' in record
    assert f'<span class="muted bake">{BAKE_SUMMARY}</span>' in record
    assert 'rollback v2 → v1 by <span class="mono">airflow:churn_retrain/run2</span>' in html
    never = app.get(f"/models/{MODEL}/versions/1").text
    assert "never rolled out" not in never and "deployed</span> to <code>churn</code>" in never


def test_lineage_prints_the_rollout_beside_the_alias_rollback(store: dict[str, Any]) -> None:
    from mlflow import MlflowClient

    from airflow_mlops.governance.lineage import lineage
    from airflow_mlops.report.lineage_text import format_lineage

    client = MlflowClient(tracking_uri=store["uri"], registry_uri=store["uri"])
    info = lineage(client, MODEL, "2")
    assert info["deployment"]["decision"] == "rolled_back" and info["deployment"]["smoke"] == SMOKE
    text = format_lineage(info)
    assert "  deployed    ROLLED_BACK to mlops-local endpoint churn at http://127.0.0.1:5001 (direct)" in text
    assert f"by airflow:churn_retrain/manual__1: {V2_SUMMARY}" in text and "region eu-west" in text
    assert f"bake: {BAKE_SUMMARY}" in text and info["deployment"]["rollback"]["alias"] == "@champion back on v1"
    assert "rollback v2 -> v1 by airflow:churn_retrain/run2" in text
