"""The plugin app's view models and access rules, with Airflow's metadata and MLflow faked.

The real thing (a running api-server, SimpleAuthManager users, MLflow) is in
tests/integration/test_ui.py; here each rule is pinned on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_mlops import governance
from airflow_mlops.plugins import app as plugin_app
from airflow_mlops.plugins import metadata, records

DAG = "churn_retrain"
RUN = "manual__2026-01-01T00:00:00+00:00"
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


class FakeReader:
    """MlflowReader without MLflow: ``client()`` yields a marker, or fails like an unreachable server."""

    def __init__(self, *, down: bool = False) -> None:
        self.down = down

    @contextlib.contextmanager
    def client(self) -> Iterator[Any]:
        if self.down:
            raise records.MlflowUnavailableError("MLflow could not be read (ConnectionError)")
        yield object()

    def ui_base(self) -> str | None:
        return None


@pytest.fixture
def airflow_run(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    run = {
        "summary": {"run_id": RUN, "state": "success"},
        "xcoms": {
            "resolve_data": {"commit": "c0ffee", "path": "d.csv", "repo": "https://bot:tok3n@git.example.com/d.git"},
            "validate_data": {"success": True, "statistics": {}, "mlflow_run_id": "parent1"},
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
    return run


def test_run_view_falls_back_to_xcom_when_mlflow_is_down(
    monkeypatch: pytest.MonkeyPatch, airflow_run: dict[str, Any]
) -> None:
    monkeypatch.setattr(records, "MlflowReader", lambda: FakeReader(down=True))
    view = plugin_app.run_view(None, DAG, RUN)
    assert view["mlflow_error"] == "MLflow could not be read (ConnectionError)"
    assert view["verdict"] == VERDICT
    assert view["data"]["repo"] == "https://git.example.com/d.git"  # credentials never reach a page
    rows = view["gate_rows"]
    # delta is against the champion on the same rows whenever the champion was scored.
    assert [r["champion"] for r in rows] == [0.97, 0.97]
    assert rows[0]["delta"] == pytest.approx(-0.02) and rows[1]["delta"] == pytest.approx(-0.02)
    assert [r["passed"] for r in rows] == [True, False]
    assert [c["name"] for c in view["candidate_rows"]] == ["forest", "champion v3"]


def test_run_view_prefers_the_mlflow_record(monkeypatch: pytest.MonkeyPatch, airflow_run: dict[str, Any]) -> None:
    monkeypatch.setattr(records, "MlflowReader", lambda: FakeReader())
    recorded = {**VERDICT, "decision": "promote"}
    monkeypatch.setattr(
        records,
        "run_record",
        lambda client, dag_id, run_id, hint, model_names: {
            "mlflow_run_id": hint,
            "verdict": recorded,
            "aliases": {"churn": {"champion": "4"}},
            "registered": [{"model_name": "churn", "version": "4"}],
        },
    )
    view = plugin_app.run_view(None, DAG, RUN)
    assert view["verdict"]["decision"] == "promote"
    assert view["mlflow_run_id"] == "parent1"  # the hint our validate task returned
    assert view["registered"] == [{"model_name": "churn", "version": "4"}]


def test_run_view_refuses_dags_not_built_by_the_package(airflow_run: dict[str, Any]) -> None:
    with pytest.raises(plugin_app.NotFoundError):
        plugin_app.run_view(None, "someone_elses_dag", RUN)
    with pytest.raises(plugin_app.NotFoundError):
        plugin_app.run_view(None, DAG, "no_such_run")


def test_model_pages_need_a_readable_pipeline_that_builds_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metadata, "mlops_dag_ids", lambda session, readable: sorted(set(readable) & {DAG}))
    monkeypatch.setattr(
        metadata, "dags_of_model", lambda session, name, dag_ids: [d for d in dag_ids if name == "churn"]
    )
    monkeypatch.setattr(records, "MlflowReader", lambda: FakeReader())
    monkeypatch.setattr(records, "model_record", lambda client, name: {"model_name": name, "aliases": {}})
    assert plugin_app.model_view(None, {DAG}, "churn")["dag_ids"] == [DAG]
    for readable, model in (({"other_dag"}, "churn"), ({DAG}, "not_ours")):
        with pytest.raises(plugin_app.NotFoundError):
            plugin_app.model_view(None, readable, model)


def test_unregistered_model_of_a_known_pipeline_is_a_page_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metadata, "mlops_dag_ids", lambda session, readable: [DAG])
    monkeypatch.setattr(metadata, "dags_of_model", lambda session, name, dag_ids: [DAG])
    monkeypatch.setattr(records, "MlflowReader", lambda: FakeReader())

    def missing(client: Any, name: str) -> Any:
        raise governance.NotFoundError(f"no registered model named {name!r}")

    monkeypatch.setattr(records, "model_record", missing)
    assert plugin_app.model_view(None, {DAG}, "churn")["model"] is None


def test_mlflow_run_pages_only_for_runs_of_readable_pipelines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "MlflowReader", lambda: FakeReader())
    monkeypatch.setattr(metadata, "mlops_dag_ids", lambda session, readable: sorted(set(readable) & {DAG}))
    found = {"ours": {"dag_id": DAG}, "hidden": {"dag_id": "secret_dag"}, "untagged": {"dag_id": None}}
    monkeypatch.setattr(records, "mlflow_run_record", lambda client, run_id: found.get(run_id))
    assert plugin_app.mlflow_run_view(None, {DAG, "secret_dag"}, "ours")["info"]["dag_id"] == DAG
    for run_id, readable in (("hidden", {DAG}), ("untagged", {DAG}), ("missing", {DAG}), ("ours", set())):
        with pytest.raises(plugin_app.NotFoundError):
            plugin_app.mlflow_run_view(None, readable, run_id)


def test_trend_is_oldest_first_over_the_first_gate_metric() -> None:
    runs = [
        {"run_id": "r3", "metric": "f1", "metrics": {"f1": 0.93}, "decision": "promote"},
        {"run_id": "r2", "metric": None, "metrics": {}, "decision": None},
        {"run_id": "r1", "metric": "f1", "metrics": {"f1": 0.91}, "decision": "reject"},
    ]
    trend = plugin_app._trend(runs)
    assert trend["metric"] == "f1" and trend["latest"] == 0.93
    assert [p["label"] for p in trend["points"]] == ["r1", "r2", "r3"]


def test_scrub_removes_credentials_at_any_depth() -> None:
    value = {"a": ["http://u:p@h/x", {"b": "https://t@h/y"}], "c": "user@example.com", "d": 1}
    assert plugin_app.scrub(value) == {"a": ["http://h/x", {"b": "https://h/y"}], "c": "user@example.com", "d": 1}


def test_every_route_requires_authentication() -> None:
    """In-process: no credential at all is refused before any data is touched (401)."""
    app = plugin_app.create_app()
    paths = [
        route.path.replace("{run_id:path}", "r").format(
            dag_id="d", run_id="r", model_name="m", version="1", mlflow_run_id="x", name="style.css"
        )
        for route in app.routes
    ]

    async def get_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://plugin") as client:
            return [await client.get(path) for path in paths]

    responses = asyncio.run(get_all())
    assert len(responses) >= 10
    for path, response in zip(paths, responses, strict=True):
        assert response.status_code == 401, (path, response.status_code)
        assert response.headers["x-content-type-options"] == "nosniff"
