"""Parse-time discipline: importing the provider and parsing the DAG folder pulls in no ML library.

Airflow parses DAG files every 30 seconds and again at every task start, so a heavy import at
module level is paid over and over. The check runs in a fresh interpreter, because the test
process itself may already have imported mlflow or pandas through other tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.pipeline_steps import retraining_steps

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
# numpy is banned at module level by the ruff config as well, so it is checked too.
# OpenLineage's client and the provider's extractors (about 1.3 s) load only inside the operators' lineage
# methods. Airflow itself imports the provider's package, its get_provider_info (provider discovery) and,
# when a serialized DAG is read back, its plugin module, which loads nothing more while OpenLineage is
# not configured.
HEAVY = (
    "mlflow", "great_expectations", "dvc", "sklearn", "pandas", "scipy", "skops", "numpy",
    "openlineage", "airflow.providers.openlineage.extractors",
)  # fmt: skip
# Loaded only by MLflow's deployments plugin manager (in a process that already runs MLflow), which needs a
# BaseDeploymentClient subclass at the plugin module's level; nothing DAG-facing imports it (checked below).
MLFLOW_ONLY = ("airflow_mlops.deploy.mlflow_plugin", "airflow_mlops.deploy.kserve_plugin")

SCRIPT = textwrap.dedent(
    """
    import importlib
    import json
    import pkgutil
    import sys

    HEAVY = {heavy!r}
    DAGS = {dags!r}
    MLFLOW_ONLY = {mlflow_only!r}

    def loaded_heavy():
        loaded = set(sys.modules)
        return sorted(h for h in HEAVY if h in loaded or any(m.startswith(h + ".") for m in loaded))

    result = {{"imported": [], "heavy_after": {{}}}}

    import airflow_mlops
    result["imported"].append("airflow_mlops")
    result["heavy_by_module"] = {{}}

    def import_and_attribute(name):
        before = set(loaded_heavy())
        importlib.import_module(name)
        result["imported"].append(name)
        pulled = sorted(set(loaded_heavy()) - before)
        if pulled:
            result["heavy_by_module"][name] = pulled

    # Every module of the package, subpackages included (plugins, ml, commands, demo, report, ...).
    # walk_packages imports each package to look inside it, so attribute packages first.
    def on_error(name):
        raise ImportError(f"cannot import {{name}} while walking the package")

    for info in pkgutil.walk_packages(airflow_mlops.__path__, "airflow_mlops.", onerror=on_error):
        if info.name not in MLFLOW_ONLY:
            import_and_attribute(info.name)
    result["heavy_after"]["imports"] = loaded_heavy()

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=DAGS)
    result["import_errors"] = {{str(k): str(v) for k, v in bag.import_errors.items()}}
    result["dag_ids"] = sorted(bag.dags)
    result["heavy_after"]["dagbag"] = loaded_heavy()

    from airflow.serialization.serialized_objects import DagSerialization

    dag = bag.dags["breast_cancer_retrain"]
    data = DagSerialization.to_dict(dag)
    json.dumps(data)  # what the dag processor stores must be plain JSON
    round_trip = DagSerialization.from_dict(data)
    result["serialized_dag_id"] = data["dag"]["dag_id"]
    result["round_trip_task_ids"] = sorted(round_trip.task_ids)
    result["heavy_after"]["serialize"] = loaded_heavy()
    result["mlflow_only_imported"] = sorted(set(MLFLOW_ONLY) & set(sys.modules))
    print("RESULT=" + json.dumps(result))
    """
)


@pytest.fixture(scope="module")
def parse_result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("airflow-home")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }
    script = SCRIPT.format(heavy=HEAVY, dags=str(DAGS), mlflow_only=MLFLOW_ONLY)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT=")]
    assert len(lines) == 1, proc.stdout[-4000:] + proc.stderr[-4000:]
    result: dict[str, Any] = json.loads(lines[0].removeprefix("RESULT="))
    return result


def _modules_on_disk() -> set[str]:
    package = ROOT / "airflow_mlops"
    names = set()
    for path in package.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_every_module_of_the_package_was_imported(parse_result: dict[str, Any]) -> None:
    on_disk = _modules_on_disk()
    assert len(on_disk) > 50
    assert on_disk - set(parse_result["imported"]) == set(MLFLOW_ONLY)


def test_nothing_dag_facing_imports_the_mlflow_plugin(parse_result: dict[str, Any]) -> None:
    assert parse_result["mlflow_only_imported"] == []


def test_all_light_modules_were_imported(parse_result: dict[str, Any]) -> None:
    imported = set(parse_result["imported"])
    for expected in (
        "airflow_mlops",
        "airflow_mlops.hooks.mlflow",
        "airflow_mlops.hooks.dvc",
        "airflow_mlops.hooks.gx",
        "airflow_mlops.operators.train",
        "airflow_mlops.operators.registry",
        "airflow_mlops.operators.validation",
        "airflow_mlops.factory.loader",
        "airflow_mlops.factory.retraining",
        "airflow_mlops.spec.loader",
        "airflow_mlops.spec.models",
        "airflow_mlops.gates.decision",
        "airflow_mlops.plugins.plugin",
        "airflow_mlops.plugins.app",
        "airflow_mlops.plugins.views",
        "airflow_mlops.plugins.records",
        "airflow_mlops.ml.estimators",
        "airflow_mlops.ml.metrics",
        "airflow_mlops.commands.lineage",
        "airflow_mlops.cli",
        "airflow_mlops.report",
        "airflow_mlops.governance",
        "airflow_mlops.governance.promotion",
        "airflow_mlops.links",
        "airflow_mlops.demo.runner",
    ):
        assert expected in imported


def test_importing_the_provider_loads_no_ml_library(parse_result: dict[str, Any]) -> None:
    assert parse_result["heavy_by_module"] == {}, "module-level imports of ML libraries (module: libraries)"
    assert parse_result["heavy_after"]["imports"] == []


def test_dag_folder_parses_cleanly(parse_result: dict[str, Any]) -> None:
    assert parse_result["import_errors"] == {}
    assert "breast_cancer_retrain" in parse_result["dag_ids"]


def test_parsing_the_dag_folder_loads_no_ml_library(parse_result: dict[str, Any]) -> None:
    assert parse_result["heavy_after"]["dagbag"] == []


def test_dag_serializes_without_ml_libraries(parse_result: dict[str, Any]) -> None:
    assert parse_result["serialized_dag_id"] == "breast_cancer_retrain"
    assert parse_result["round_trip_task_ids"] == sorted(retraining_steps())
    assert parse_result["heavy_after"]["serialize"] == []
