"""The page of one model across its environments, against two real sqlite MLflow stores and one that is gone.

Development and production are each a sqlite store reached through its own Airflow connection
(as ``promote --from --to`` reaches them); a third environment names a tracking server nobody
listens for. Production's champion carries the link tags a promotion across environments writes.
Airflow's login is overridden as in test_app.py; every route's 401 without it is checked there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI

from airflow_mlops.governance.history import append_history
from airflow_mlops.plugins import app as plugin_app
from airflow_mlops.plugins import environments
from airflow_mlops.record import tag
from tests.unit.plugins.test_app import Browser

DECLARED = {
    "dev": {"mlflow_conn_id": "mlflow_env_dev", "model_name": "churn_dev", "policy": {"require_approval": False}},
    "prod": {"mlflow_conn_id": "mlflow_env_prod", "model_name": "churn", "holdout": {"path": "h.csv", "rev": "h1"}},
    "gone": {"mlflow_conn_id": "mlflow_env_gone", "model_name": "churn"},
    "empty": {"mlflow_conn_id": "mlflow_env_prod", "model_name": "churn_qa"},
}


def _store(root: Path, model: str, version_tags: dict[str, str], actor: str) -> str:
    from mlflow import MlflowClient

    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("e", artifact_location=str(root / "artifacts"))
    run = client.create_run(experiment).info.run_id
    client.create_registered_model(model)
    for _ in range(2):
        client.create_model_version(model, str(root / "artifacts" / "model"), run, tags=version_tags)
    client.set_registered_model_alias(model, "champion", "2")
    append_history(client, model, action="promote", actor=actor, from_version="1", to_version="2", reason="ok",
                   forced=False, at="2026-03-01T10:00:00+00:00")  # fmt: skip
    return uri


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    dev = _store(tmp_path_factory.mktemp("dev"), "churn_dev", {}, "airflow:churn_retrain/r1")
    prod_root = tmp_path_factory.mktemp("prod")
    link = {
        tag.ENV_SOURCE_NAME: "dev", tag.ENV_SOURCE_CONN_ID: "mlflow_env_dev", tag.ENV_SOURCE_REGISTRY: dev,
        tag.ENV_SOURCE_MODEL: "churn_dev", tag.ENV_SOURCE_VERSION: "2",
        tag.ENV_GATE_SUMMARY: "PROMOTE: f1 0.97 >= 0.9", f"{tag.ENV_APPROVAL_PREFIX}by": "alice",
    }  # fmt: skip
    prod = _store(prod_root, "churn", link, "airflow:promote_dev_to_prod/r7")
    return {"dev": dev, "prod": prod}


@pytest.fixture
def declared(tmp_path: Path, stores: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("dev", "prod"):
        conn = {"conn_type": "mlflow", "extra": {"tracking_uri": stores[name]}}
        monkeypatch.setenv(f"AIRFLOW_CONN_MLFLOW_ENV_{name.upper()}", json.dumps(conn))
    gone = {"conn_type": "mlflow", "host": "127.0.0.1", "port": 9, "schema": "http"}  # port 9: discard
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_ENV_GONE", json.dumps(gone))
    path = tmp_path / "defaults.yaml"
    path.write_text(yaml.safe_dump({"environments": DECLARED}, sort_keys=False))
    return str(path)


def _serve(source: str | None) -> Browser:
    from airflow.api_fastapi.core_api.security import get_user

    app: FastAPI = plugin_app.create_app()
    app.dependency_overrides.update(
        {get_user: lambda: object(), environments.environments_source: lambda: source}
    )  # fmt: skip
    return Browser(app)


def _rows(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["environment"]: row for row in view["environments"]}


def test_each_environment_shows_its_champion_when_it_moved_and_where_it_came_from(declared: str) -> None:
    response = _serve(declared).get("/api/environments")
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["error"] is None and [r["environment"] for r in view["environments"]] == list(DECLARED)
    rows = _rows(view)
    dev, prod = rows["dev"]["champion"], rows["prod"]["champion"]
    assert (dev["version"], dev["moved_at"], dev["moved_by"], dev["source"]) == (
        "2", "2026-03-01T10:00:00+00:00", "airflow:churn_retrain/r1", None
    )  # fmt: skip
    assert (prod["version"], prod["previous"], prod["moved_by"]) == ("2", "1", "airflow:promote_dev_to_prod/r7")
    assert (prod["regate"], prod["approved_by"]) == ("PROMOTE: f1 0.97 >= 0.9", "alice")
    source = prod["source"]
    assert (source["environment"], source["model_name"], source["version"], source["row"]) == (
        "dev", "churn_dev", "2", "dev"
    )  # fmt: skip
    assert source["mlflow_ui"] is None  # a sqlite store has no UI to link to
    assert rows["empty"]["exists"] is False and rows["empty"]["error"] is None


def test_an_unreachable_environment_is_a_row_naming_its_connection_and_the_page_still_renders(declared: str) -> None:
    view = _serve(declared).get("/api/environments").json()
    gone = _rows(view)["gone"]
    assert gone["champion"] is None
    assert "environment 'gone'" in gone["error"] and "connection 'mlflow_env_gone'" in gone["error"], gone
    assert "127.0.0.1:9" in gone["error"]
    page = _serve(declared).get("/environments")
    assert page.status_code == 200
    html = page.text
    assert 'id="env-gone"' in html and "unreachable" in html and "mlflow_env_gone" in html
    assert '<a href="#env-dev">dev</a>' in html  # prod's champion links back to the version it came from
    assert 'id="env-prod"' in html and "approved by <strong>alice</strong>" in html


def test_a_version_in_the_uis_own_registry_links_to_its_page_and_a_server_to_its_mlflow_ui(declared: str) -> None:
    view = environments.environments_view(declared, reader_conn_id="mlflow_env_dev")
    rows = _rows(view)
    assert rows["dev"]["champion"]["page"] == "/models/churn_dev/versions/2"
    assert rows["prod"]["champion"]["source"]["page"] == "/models/churn_dev/versions/2"
    assert "page" not in rows["prod"]["champion"]  # production is another registry than the UI reads
    source = {"environment": "x", "model_name": "m", "version": "3", "registry_uri": "https://u:pw@mlflow.example"}
    links = environments._source_links(source, {}, "mlflow_default")
    assert links == {"row": None, "page": None, "mlflow_ui": "https://mlflow.example/#/models/m/versions/3"}


def test_without_declared_environments_the_page_says_how_to_declare_them(tmp_path: Path) -> None:
    view = _serve(None).get("/api/environments").json()
    assert view["environments"] == [] and "No environments are declared" in view["error"]
    broken = tmp_path / "defaults.yaml"
    broken.write_text("environments:\n  prod: {model_name: churn}\n")
    view = _serve(str(broken)).get("/api/environments").json()
    assert f"{broken}:2:" in view["error"] and "mlflow_conn_id" in view["error"], view["error"]
    html = _serve(str(broken)).get("/environments").text
    assert 'id="environments-error"' in html
