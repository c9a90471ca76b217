"""Provider metadata: one source (provider.yaml), one generated file, and what Airflow really sees."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import airflow
import jsonschema
import pytest
import yaml
from airflow.sdk import BaseHook
from packaging.utils import canonicalize_name

from airflow_mlops.get_provider_info import get_provider_info

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_YAML = ROOT / "providers" / "provider.yaml"
GENERATOR = ROOT / "scripts" / "generate_provider_info.py"
GENERATED = ROOT / "airflow_mlops" / "get_provider_info.py"
DIST_NAME = "airflow-mlops"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_generate_provider_info_under_test", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _modules(info: dict[str, Any], key: str) -> list[str]:
    return [module for entry in info.get(key, []) for module in entry["python-modules"]]


@pytest.fixture(scope="module")
def info() -> dict[str, Any]:
    return get_provider_info()


def test_generated_module_matches_provider_yaml(info: dict[str, Any]) -> None:
    assert info == yaml.safe_load(PROVIDER_YAML.read_text())


def test_validates_against_airflow_runtime_schema(info: dict[str, Any]) -> None:
    schema_path = Path(airflow.__file__).parent / "provider_info.schema.json"
    assert schema_path.is_file(), f"Airflow's runtime schema moved: {schema_path}"
    schema = json.loads(schema_path.read_text())
    jsonschema.validate(info, schema)
    # Sanity check that the validator is not vacuous: the same schema refuses a broken dict.
    broken = {k: v for k, v in info.items() if k != "description"}
    with pytest.raises(jsonschema.ValidationError, match="description"):
        jsonschema.validate(broken, schema)


def test_package_name_is_the_installed_canonical_name(info: dict[str, Any]) -> None:
    dist = importlib.metadata.distribution(DIST_NAME)
    assert info["package-name"] == canonicalize_name(dist.metadata["Name"]) == DIST_NAME


def test_listed_operator_and_hook_modules_import(info: dict[str, Any]) -> None:
    modules = _modules(info, "operators") + _modules(info, "hooks")
    assert "airflow_mlops.hooks.mlflow" in modules
    assert "airflow_mlops.operators.train" in modules
    for name in modules:
        importlib.import_module(name)


def test_every_operator_module_in_the_package_is_listed(info: dict[str, Any]) -> None:
    package_dir = ROOT / "airflow_mlops" / "operators"
    on_disk = {
        f"airflow_mlops.operators.{p.stem}" for p in package_dir.glob("*.py") if p.stem not in ("__init__", "base")
    }
    assert on_disk == set(_modules(info, "operators"))


def test_hook_class_names_resolve(info: dict[str, Any]) -> None:
    connection_types = info["connection-types"]
    assert [c["connection-type"] for c in connection_types] == ["mlflow", "dvc"]
    for entry in connection_types:
        module_name, _, class_name = entry["hook-class-name"].rpartition(".")
        hook_class = getattr(importlib.import_module(module_name), class_name)
        assert issubclass(hook_class, BaseHook)
        assert hook_class.conn_type == entry["connection-type"]
        assert module_name in _modules(info, "hooks")


def test_entry_point_is_installed_and_loads() -> None:
    points = [
        ep
        for ep in importlib.metadata.entry_points(group="apache_airflow_provider")
        if ep.dist is not None and canonicalize_name(ep.dist.metadata["Name"]) == DIST_NAME
    ]
    assert [(ep.name, ep.value) for ep in points] == [
        ("provider_info", "airflow_mlops.get_provider_info:get_provider_info")
    ]
    assert points[0].load() is get_provider_info
