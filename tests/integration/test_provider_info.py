"""Provider metadata as other programs see it: the generator (which formats with ruff) and the
`airflow providers` CLI (tests/unit/test_provider_info.py checks the metadata in process).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_provider_info import DIST_NAME, GENERATED, GENERATOR, ROOT, _load_generator, _modules
from tests.unit.test_provider_info import info as info  # a fixture: pytest finds it by this name

RUFF = Path(sys.executable).with_name("ruff")


AIRFLOW_CLI = Path(sys.executable).with_name("airflow")


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
