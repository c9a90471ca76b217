"""Provider metadata: one source (provider.yaml), one generated file, and what Airflow really sees."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
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
RUFF = Path(sys.executable).with_name("ruff")
AIRFLOW_CLI = Path(sys.executable).with_name("airflow")
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


def test_generator_renders_the_same_dict(info: dict[str, Any]) -> None:
    rendered = _load_generator().render()
    namespace: dict[str, Any] = {}
    exec(compile(rendered, str(GENERATOR), "exec"), namespace)
    assert namespace["get_provider_info"]() == info
    # The rendered file keeps the generated-file banner that tells people not to hand-edit it.
    assert "GENERATED from providers/provider.yaml" in rendered


def test_committed_module_is_the_generators_text() -> None:
    """Byte for byte: regenerating after a provider.yaml edit must not leave a diff or break lint."""
    rendered = _load_generator().render()
    committed = GENERATED.read_text()
    assert rendered == committed, (
        "airflow_mlops/get_provider_info.py is not what scripts/generate_provider_info.py writes; "
        "run `.venv/bin/python scripts/generate_provider_info.py`"
    )


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["ruff-check", "ruff-format"])
def test_generated_text_is_ruff_clean(command: list[str]) -> None:
    """What the generator writes passes `make lint` as written (once it did not, and lint broke)."""
    rendered = _load_generator().render()
    result = subprocess.run(
        [str(RUFF), *command, "--config", str(ROOT / "pyproject.toml"), "--stdin-filename", str(GENERATED), "-"],
        input=rendered,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_generator_check_mode_detects_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generator = _load_generator()
    assert generator.main(["--check"]) == 0
    stale = tmp_path / "get_provider_info.py"
    stale.write_text(GENERATED.read_text().replace("airflow_mlops.hooks.dvc.DvcHook", "airflow_mlops.hooks.dvc.Old"))
    monkeypatch.setattr(generator, "TARGET", stale)
    assert generator.main(["--check"]) == 1
    assert "DvcHook" not in stale.read_text()  # --check writes nothing


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


def _airflow_json(tmp_path: Path, *args: str) -> Any:
    """``airflow <args> --output json`` in a fresh AIRFLOW_HOME, as an operator's shell would run it."""
    assert AIRFLOW_CLI.is_file(), f"no airflow CLI next to {sys.executable}"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    result = subprocess.run(
        [str(AIRFLOW_CLI), *args, "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # stdout may carry log lines before the JSON document; the document is the last line.
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_airflow_providers_list_shows_the_provider(tmp_path: Path) -> None:
    listed = _airflow_json(tmp_path, "providers", "list")
    ours = [p for p in listed if p["package_name"] == DIST_NAME]
    assert len(ours) == 1, listed
    assert ours[0]["version"] == importlib.metadata.version(DIST_NAME)


def test_airflow_maps_our_connection_types_to_our_hooks(tmp_path: Path) -> None:
    """Airflow's own provider registry (what the connection form and BaseHook.get_hook use)."""
    hooks = _airflow_json(tmp_path, "providers", "hooks")
    by_type = {h["connection_type"]: h for h in hooks}
    expected = {
        "mlflow": ("airflow_mlops.hooks.mlflow.MlflowHook", "MLflow", "mlflow_conn_id"),
        "dvc": ("airflow_mlops.hooks.dvc.DvcHook", "DVC", "dvc_conn_id"),
    }
    for conn_type, (class_name, hook_name, conn_id_attribute) in expected.items():
        assert conn_type in by_type, f"Airflow does not know connection type {conn_type!r}: {sorted(by_type)}"
        entry = by_type[conn_type]
        assert entry["class"] == class_name
        assert entry["package_name"] == DIST_NAME
        assert entry["hook_name"] == hook_name
        # Airflow reads this attribute off the imported class, so the hook really imported in Airflow.
        assert entry["conn_id_attribute_name"] == conn_id_attribute
    assert {h["connection_type"] for h in hooks if h["package_name"] == DIST_NAME} == set(expected)


def test_airflow_lists_our_operator_and_hook_modules(tmp_path: Path, info: dict[str, Any]) -> None:
    [seen] = _airflow_json(tmp_path, "providers", "get", DIST_NAME, "--full")
    assert seen["package-name"] == DIST_NAME
    assert _modules(seen, "operators") == _modules(info, "operators")
    assert _modules(seen, "hooks") == ["airflow_mlops.hooks.mlflow", "airflow_mlops.hooks.dvc"]
    assert {"airflow_mlops.operators.train", "airflow_mlops.operators.registry"} <= set(_modules(seen, "operators"))
    assert [(c["connection-type"], c["hook-class-name"]) for c in seen["connection-types"]] == [
        ("mlflow", "airflow_mlops.hooks.mlflow.MlflowHook"),
        ("dvc", "airflow_mlops.hooks.dvc.DvcHook"),
    ]
    assert set(seen["config"]["mlops"]["options"]) == set(info["config"]["mlops"]["options"])
