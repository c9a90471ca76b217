"""docker-compose.yaml describes the same stack the loopback tier runs, without inline secrets.

No Docker engine is needed: the file is checked as data. ``tests/distributed/components.py``
is the one list of components; the loopback tier starts exactly those, and this test holds
the compose file to it.
"""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.distributed.components import SHARED_AIRFLOW_SETTINGS, STACK

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yaml"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$", re.IGNORECASE)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return document


def _airflow_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items() if name.startswith("airflow-")}


def test_services_match_the_loopback_tier(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {c.compose_service for c in STACK}
    for component in STACK:
        service = compose["services"][component.compose_service]
        assert service.get("deploy", {}).get("replicas", 1) == component.replicas, component


def test_every_airflow_service_shares_the_common_settings(compose: dict[str, Any]) -> None:
    common = compose["x-airflow-common"]
    env = common["environment"]
    assert set(SHARED_AIRFLOW_SETTINGS) <= set(env)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    services = _airflow_services(compose)
    assert len(services) == len([c for c in STACK if c.compose_service.startswith("airflow-")])
    for name, service in services.items():
        assert service["environment"] == env, name
        assert service["image"] == common["image"] and service["build"] == common["build"], name
        assert service["volumes"] == common["volumes"], name
        assert any(v.endswith(":/opt/airflow/dags") for v in service["volumes"]), name


def test_the_image_is_airflows_official_one_with_this_package(compose: dict[str, Any]) -> None:
    dockerfile = compose["x-airflow-common"]["build"]["dockerfile_inline"]
    airflow = version("apache-airflow")
    assert f"FROM apache/airflow:{airflow}-python3.11" in dockerfile
    assert f'"apache-airflow=={airflow}"' in dockerfile
    assert "/opt/airflow-mlops[celery,postgres]" in dockerfile


def test_components_run_the_commands_the_loopback_tier_runs(compose: dict[str, Any]) -> None:
    services = compose["services"]
    commands = {name: svc.get("command") for name, svc in services.items()}
    assert commands["airflow-init"] == ["db", "migrate"]
    assert commands["airflow-apiserver"] == "api-server"
    assert commands["airflow-scheduler"] == "scheduler"
    assert commands["airflow-dag-processor"] == "dag-processor"
    assert commands["airflow-triggerer"] == "triggerer"
    assert commands["airflow-worker"] == "celery worker"
    mlflow = services["mlflow"]["command"]
    assert mlflow[:2] == ["mlflow", "server"]
    assert "--artifacts-destination" in mlflow  # proxied artifacts
    assert mlflow[mlflow.index("--backend-store-uri") + 1].startswith("postgresql+psycopg2://")


def _strings(node: Any) -> list[tuple[str, str]]:
    """(key, value) for every scalar under a mapping key, anywhere in the document."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, (dict, list)):
                found += _strings(value)
            elif value is not None:
                found.append((str(key), str(value)))
    elif isinstance(node, list):
        for item in node:
            found += _strings(item) if isinstance(item, (dict, list)) else [("", str(item))]
    return found


def test_no_secret_is_written_inline(compose: dict[str, Any]) -> None:
    for key, value in _strings(compose):
        if SECRET_NAME.search(key):
            assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", value), f"{key} must come from the environment: {value!r}"
        # Credentials inside URLs must be substituted too.
        for userinfo in re.findall(r"://([^/@\s]+)@", value):
            if ":" in userinfo:
                assert "${" in userinfo.split(":", 1)[1], f"inline password in {value!r}"
