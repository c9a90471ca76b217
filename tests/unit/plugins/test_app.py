"""The plugin app's view models, routes and access rules, against a real sqlite MLflow store.

MLflow reaches the views through the app's ``records.mlflow_reader`` dependency, so each test
hands the app a reader of its own (``app.dependency_overrides``): a reader of a real sqlite
store, or of a tracking server that is not there. Airflow's metadata is faked, and Airflow's
login is overridden for the routes that are read here; the real thing (a running api-server,
SimpleAuthManager users, MLflow) is in tests/integration/test_ui.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from airflow_mlops.plugins import app as plugin_app
from airflow_mlops.plugins import endpoints, metadata, records, views
from airflow_mlops.record import paths, tag

DAG = "churn_retrain"
RUN = "manual__2026-01-01T00:00:00+00:00"
EARLIER_RUN = "manual__2025-12-01T00:00:00+00:00"
VERDICT = {
    "decision": "reject",
    "candidate": "forest",
    "champion_version": "3",
    "first_run": False,
    "n_test": 100,
    "outcomes": [
        {"rule": "f1 >= 0.9", "metric": "f1", "kind": "threshold", "candidate_value": 0.95,
         "champion_value": None, "threshold": 0.9, "passed": True, "reason": "ok"},
        {"rule": "f1 drops at most 0.01 below champion", "metric": "f1", "kind": "champion",
         "candidate_value": 0.95, "champion_value": 0.97, "threshold": 0.96, "passed": False, "reason": "no"},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One sqlite MLflow store, only read by the tests: the record of RUN and a registered ``churn``.

    ``churn`` v1-v3 come from an earlier run of the DAG and v4 from RUN, which promoted it; the
    recorded verdict says "promote" where the XCom below says "reject", so a test can tell which
    one a page shows. Three more runs: one of the DAG, one of a DAG the user may not read, one untagged.
    """
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("ui-store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment_id = client.create_experiment("churn", artifact_location=str(root / "artifacts"))

    def run(tags: dict[str, str]) -> str:
        return str(client.create_run(experiment_id, tags=tags).info.run_id)

    parent = run({tag.DAG_ID: DAG, tag.RUN_ID: RUN, tag.ROLE: "pipeline"})
    client.log_text(parent, json.dumps({**VERDICT, "decision": "promote"}), paths.GATE_VERDICT)
    earlier = run({tag.DAG_ID: DAG, tag.RUN_ID: EARLIER_RUN, tag.ROLE: "pipeline"})
    client.create_registered_model("churn")
    for version_run, run_id in ((earlier, EARLIER_RUN),) * 3 + ((parent, RUN),):
        version_tags = {tag.DAG_ID: DAG, tag.RUN_ID: run_id}
        client.create_model_version("churn", str(root / "artifacts" / "model"), version_run, tags=version_tags)
    client.set_registered_model_alias("churn", "champion", "4")
    # v4's model card, as register stores it, with text someone could have written into the YAML.
    card = {"model_name": "churn", "version": "4", "purpose": {"intended_use": "<script>alert(1)</script> churn"}}
    client.log_text(parent, json.dumps(card), paths.MODEL_CARD_DATA)
    return {
        "uri": uri,
        "parent": parent,
        "ours": run({tag.DAG_ID: DAG, tag.ROLE: "candidate"}),
        "hidden": run({tag.DAG_ID: "secret_dag"}),
        "untagged": run({}),
    }


@pytest.fixture
def reader(store: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> records.MlflowReader:
    """The real reader, of a connection to the sqlite store."""
    extra = {"tracking_uri": store["uri"]}
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_UI_TEST", json.dumps({"conn_type": "mlflow", "extra": extra}))
    return records.MlflowReader("mlflow_ui_test")


@pytest.fixture
def dead_reader(monkeypatch: pytest.MonkeyPatch) -> records.MlflowReader:
    """The real reader, of a tracking server nobody listens for (port 9, discard)."""
    conn = {"conn_type": "mlflow", "host": "127.0.0.1", "port": 9, "schema": "http"}
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_UI_DEAD", json.dumps(conn))
    return records.MlflowReader("mlflow_ui_dead")


class Browser:
    """Requests to the app in-process (httpx over ASGI), one at a time."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def get(self, path: str) -> httpx.Response:
        async def fetch() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://plugin") as client:
                return await client.get(path)

        return asyncio.run(fetch())


def serve(
    reader: records.MlflowReader, readable: set[str] | None = None, live: endpoints.EndpointReader | None = None
) -> Browser:
    """The app as a signed-in user who may read ``readable`` sees it, reading MLflow through ``reader``.

    Only Airflow's own checks are overridden (the login, the per-DAG checks, the ORM session);
    the routes and their view models are the real ones. Local endpoints are read from ``live``'s
    folder, by default one that does not exist (nothing deployed).
    """
    live = live or endpoints.EndpointReader(default_root="/nonexistent/mlops-endpoints")
    from airflow.api_fastapi.common.db.common import _get_session
    from airflow.api_fastapi.core_api.security import get_user

    app: FastAPI = plugin_app.create_app()
    app.dependency_overrides.update(
        {
            get_user: lambda: object(),
            plugin_app.CAN_READ_DAG_RUNS.dependency: lambda: None,
            plugin_app.CAN_READ_DAG.dependency: lambda: None,
            plugin_app.readable_dag_ids: lambda: {DAG} if readable is None else readable,
            _get_session: lambda: None,
            records.mlflow_reader: lambda: reader,
            endpoints.endpoint_reader: lambda: live,
        }
    )
    return Browser(app)


@pytest.fixture
def airflow_run(monkeypatch: pytest.MonkeyPatch, store: dict[str, str]) -> Iterator[dict[str, Any]]:
    run = {
        "summary": {"run_id": RUN, "state": "success"},
        "xcoms": {
            "resolve_data": {"commit": "c0ffee", "path": "d.csv", "repo": "https://bot:tok3n@git.example.com/d.git"},
            "validate_data": {"success": True, "statistics": {}, "mlflow_run_id": store["parent"]},
            "evaluate": {"n_test": 100, "candidates": [{"candidate": "forest", "metrics": {"f1": 0.95}}],
                         "champion": {"version": "3", "metrics": {"f1": 0.97}}},
            "gate": {"verdict": VERDICT},
        },
        "trained": [],
        "tasks": [],
        "models": ["churn"],
    }  # fmt: skip
    monkeypatch.setattr(metadata, "is_mlops_dag", lambda session, dag_id: dag_id == DAG)
    monkeypatch.setattr(metadata, "dag_run", lambda session, dag_id, run_id: run if run_id == RUN else None)
    yield run


def _run_json(client: Browser) -> dict[str, Any]:
    response = client.get(f"/api/dags/{DAG}/runs/{RUN}")
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


def test_run_view_falls_back_to_xcom_when_mlflow_is_down(
    dead_reader: records.MlflowReader, airflow_run: dict[str, Any]
) -> None:
    view = _run_json(serve(dead_reader))
    assert view["mlflow_error"] == "MLflow could not be read (MlflowException)"
    assert view["verdict"] == VERDICT
    assert view["data"]["repo"] == "https://git.example.com/d.git"  # credentials never reach a page
    rows = view["gate_rows"]
    # delta is against the champion on the same rows whenever the champion was scored.
    assert [r["champion"] for r in rows] == [0.97, 0.97]
    assert rows[0]["delta"] == pytest.approx(-0.02) and rows[1]["delta"] == pytest.approx(-0.02)
    assert [r["passed"] for r in rows] == [True, False]
    assert [c["name"] for c in view["candidate_rows"]] == ["forest", "champion v3"]


def test_run_view_prefers_the_mlflow_record(
    reader: records.MlflowReader, airflow_run: dict[str, Any], store: dict[str, str]
) -> None:
    view = _run_json(serve(reader))
    assert view["mlflow_error"] is None
    assert view["verdict"]["decision"] == "promote"
    assert view["mlflow_run_id"] == store["parent"]  # the hint our validate task returned
    assert view["registered"] == [{"model_name": "churn", "version": "4"}]  # v1-v3 are another run's
    assert view["aliases"] == {"churn": {"champion": "4"}}


def test_run_view_refuses_dags_not_built_by_the_package(
    reader: records.MlflowReader, airflow_run: dict[str, Any]
) -> None:
    with pytest.raises(views.NotFoundError):
        views.run_view(None, reader, "someone_elses_dag", RUN)
    with pytest.raises(views.NotFoundError):
        views.run_view(None, reader, DAG, "no_such_run")
    response = serve(reader).get(f"/api/dags/someone_elses_dag/runs/{RUN}")
    assert response.status_code == 404
    assert response.json() == {"detail": "someone_elses_dag was not built by airflow-mlops (no 'mlops' tag)."}


def test_model_pages_need_a_readable_pipeline_that_builds_the_model(
    monkeypatch: pytest.MonkeyPatch, reader: records.MlflowReader
) -> None:
    monkeypatch.setattr(metadata, "mlops_dag_ids", lambda session, readable: sorted(set(readable) & {DAG}))
    monkeypatch.setattr(
        metadata, "dags_of_model", lambda session, name, dag_ids: [d for d in dag_ids if name == "churn"]
    )
    view = serve(reader).get("/api/models/churn").json()
    assert view["dag_ids"] == [DAG]
    assert view["model"]["aliases"] == {"champion": "4"}
    assert [v["version"] for v in view["model"]["versions"]] == ["4", "3", "2", "1"]
    assert view["deployments"] == {"endpoints": [], "rollbacks": []}  # no version was rolled out, nothing serves
    for readable, model in (({"other_dag"}, "churn"), ({DAG}, "not_ours")):
        with pytest.raises(views.NotFoundError):
            views.model_view(None, reader, readable, model)
        assert serve(reader, readable).get(f"/api/models/{model}").status_code == 404


def test_unregistered_model_of_a_known_pipeline_is_a_page_not_an_error(
    monkeypatch: pytest.MonkeyPatch, reader: records.MlflowReader
) -> None:
    monkeypatch.setattr(metadata, "mlops_dag_ids", lambda session, readable: [DAG])
    monkeypatch.setattr(metadata, "dags_of_model", lambda session, name, dag_ids: [DAG])
    assert views.model_view(None, reader, {DAG}, "fraud")["model"] is None  # the store has no "fraud"
    response = serve(reader).get("/api/models/fraud")
    assert response.status_code == 200 and response.json()["model"] is None


def test_mlflow_run_pages_only_for_runs_of_readable_pipelines(
    monkeypatch: pytest.MonkeyPatch, reader: records.MlflowReader, store: dict[str, str]
) -> None:
    monkeypatch.setattr(metadata, "mlops_dag_ids", lambda session, readable: sorted(set(readable) & {DAG}))
    found = {**store, "missing": "0" * 32}
    assert views.mlflow_run_view(None, reader, {DAG, "secret_dag"}, found["ours"])["info"]["dag_id"] == DAG
    for run, readable in (("hidden", {DAG}), ("untagged", {DAG}), ("missing", {DAG}), ("ours", set())):
        with pytest.raises(views.NotFoundError):
            views.mlflow_run_view(None, reader, readable, found[run])
    client = serve(reader)
    assert client.get(f"/mlflow-runs/{found['ours']}").status_code == 200
    assert client.get(f"/mlflow-runs/{found['hidden']}").status_code == 404


def test_a_page_that_needs_mlflow_says_so_when_it_is_down(
    monkeypatch: pytest.MonkeyPatch, dead_reader: records.MlflowReader
) -> None:
    monkeypatch.setattr(metadata, "mlops_dag_ids", lambda session, readable: [DAG])
    monkeypatch.setattr(metadata, "dags_of_model", lambda session, name, dag_ids: [DAG])
    response = serve(dead_reader).get("/models/churn/versions/1")
    assert response.status_code == 503
    assert "MLflow could not be read (MlflowException)" in response.text
    assert "127.0.0.1" not in response.text  # the message names the error type, never the address


def test_the_version_page_shows_its_model_card_escaped(
    monkeypatch: pytest.MonkeyPatch, reader: records.MlflowReader
) -> None:
    monkeypatch.setattr(metadata, "mlops_dag_ids", lambda session, readable: [DAG])
    monkeypatch.setattr(metadata, "dags_of_model", lambda session, name, dag_ids: [DAG])
    client = serve(reader)
    page = client.get("/models/churn/versions/4")
    assert page.status_code == 200, page.text
    assert '<section class="model-card" id="model-card">' in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; churn" in page.text and "<script>" not in page.text
    assert "no card was stored" not in page.text
    markdown = client.get("/models/churn/versions/4/model_card.md")
    assert markdown.headers["content-type"] == "text/markdown; charset=utf-8"
    assert (
        markdown.text.startswith("# Model card: churn version 4\n")
        and "&lt;script>alert(1)&lt;/script>" in markdown.text
    )
    # A version registered without a card gets one rebuilt from its tags, and the page says so.
    older = client.get("/models/churn/versions/1")
    assert "Model card: churn v1" in older.text and "no card was stored at registration" in older.text
    assert client.get("/models/churn/versions/9/model_card.md").status_code == 404


def test_the_reader_dependency_reads_the_default_connection() -> None:
    assert records.mlflow_reader().hook.mlflow_conn_id == "mlflow_default"


def test_trend_is_oldest_first_over_the_first_gate_metric() -> None:
    runs = [
        {"run_id": "r3", "metric": "f1", "metrics": {"f1": 0.93}, "decision": "promote"},
        {"run_id": "r2", "metric": None, "metrics": {}, "decision": None},
        {"run_id": "r1", "metric": "f1", "metrics": {"f1": 0.91}, "decision": "reject"},
    ]
    trend = views._trend(runs)
    assert trend["metric"] == "f1" and trend["latest"] == 0.93
    assert [p["label"] for p in trend["points"]] == ["r1", "r2", "r3"]


def test_scrub_removes_credentials_at_any_depth() -> None:
    value = {"a": ["http://u:p@h/x", {"b": "https://t@h/y"}], "c": "user@example.com", "d": 1}
    assert views.scrub(value) == {"a": ["http://h/x", {"b": "https://h/y"}], "c": "user@example.com", "d": 1}


def test_every_route_requires_authentication() -> None:
    """In-process: no credential at all is refused before any data is touched (401)."""
    app = plugin_app.create_app()
    route_paths = [
        route.path.replace("{run_id:path}", "r").format(
            dag_id="d", run_id="r", model_name="m", version="1", mlflow_run_id="x", name="style.css"
        )
        for route in app.routes
    ]

    async def get_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://plugin") as client:
            return [await client.get(path) for path in route_paths]

    responses = asyncio.run(get_all())
    assert len(responses) >= 10
    for path, response in zip(route_paths, responses, strict=True):
        assert response.status_code == 401, (path, response.status_code)
        assert response.headers["x-content-type-options"] == "nosniff"
