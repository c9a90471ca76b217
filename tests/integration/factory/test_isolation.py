"""One broken pipeline file fails only its own DAG; strict loading (for CI) fails them all.

Parsed by Airflow's own DagBag and `airflow dags list-import-errors` in a fresh process,
because the dags folder and [mlops] settings are read when Airflow is imported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_mlops.factory.loader import sync_loaders
from tests.unit.factory.test_isolation import SUITE, _pipeline

PARSE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
with open(sys.argv[2], "w") as out:
    json.dump({"dags": sorted(bag.dag_ids), "errors": {k: str(v) for k, v in bag.import_errors.items()}}, out)
"""


@pytest.fixture
def dags(tmp_path: Path) -> Path:
    folder = tmp_path / "dags" / "pipelines"
    (folder / "suites").mkdir(parents=True)
    shutil.copy(SUITE, folder / "suites" / "breast_cancer.yaml")
    _pipeline(folder, "good_one")
    _pipeline(folder, "good_two")
    broken = _pipeline(folder, "broken")
    broken.write_text(broken.read_text().replace("select_by: f1", "select_by: f2"))
    assert sync_loaders(folder)["created"]
    return tmp_path / "dags"


def _env(dags: Path, tmp_path: Path, strict: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(tmp_path / "home"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__MLOPS__STRICT_LOADING": str(strict),
        }
    )
    return env


def _select_by_line(dags: Path) -> int:
    """The line of the broken value in pipelines/broken.yaml."""
    lines = (dags / "pipelines" / "broken.yaml").read_text().splitlines()
    return next(n for n, text in enumerate(lines, 1) if text.startswith("select_by"))


def _parse(dags: Path, tmp_path: Path, strict: bool = False) -> dict[str, object]:
    out = tmp_path / "parsed.json"
    subprocess.run(
        [sys.executable, "-c", PARSE, str(dags), str(out)],
        env=_env(dags, tmp_path, strict),
        capture_output=True,
        check=True,
    )
    parsed = json.loads(out.read_text())
    # Without a bundle, DagBag keys import errors by absolute path; compare them relative.
    parsed["errors"] = {Path(k).relative_to(dags).as_posix(): v for k, v in parsed["errors"].items()}
    return dict(parsed)


def test_one_broken_file_fails_only_its_own_dag(dags: Path, tmp_path: Path) -> None:
    result = _parse(dags, tmp_path)
    assert result["dags"] == ["good_one", "good_two"]
    errors = result["errors"]
    assert isinstance(errors, dict)
    assert list(errors) == ["pipelines/broken.py"]
    message = errors["pipelines/broken.py"]
    assert "broken.yaml:" in message and "select_by: unknown classification metric 'f2'" in message
    assert f"broken.yaml:{_select_by_line(dags)}:" in message
    assert f"{dags / 'pipelines' / 'broken.yaml'}: pipeline 'broken' was not loaded, 1 problem:" in message


def test_strict_loading_fails_every_pipeline(dags: Path, tmp_path: Path) -> None:
    result = _parse(dags, tmp_path, strict=True)
    assert result["dags"] == []
    errors = result["errors"]
    assert isinstance(errors, dict)
    assert sorted(errors) == ["pipelines/broken.py", "pipelines/good_one.py", "pipelines/good_two.py"]
    assert all("broken.yaml" in message for message in errors.values())
    # Each loader's error names its own pipeline, and why it was not loaded.
    for name in ("broken", "good_one", "good_two"):
        assert f"pipeline '{name}' was not loaded: strict loading" in errors[f"pipelines/{name}.py"]


def test_airflow_lists_the_import_error(dags: Path, tmp_path: Path) -> None:
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=_env(dags, tmp_path), capture_output=True, check=True)
    result = subprocess.run(
        [airflow, "dags", "list-import-errors", "--local", "-o", "json"],
        env=_env(dags, tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )
    # Airflow logs to stdout too; the JSON document is the line that starts with '['.
    listed = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("[")))
    assert [Path(e["filepath"]).name for e in listed] == ["broken.py"]
    error = listed[0]["error"]
    assert "broken.yaml" in error
    assert f"broken.yaml:{_select_by_line(dags)}:1: select_by: unknown classification metric 'f2'" in error
    assert "pipeline 'broken' was not loaded" in error

    # Without tracebacks (docs/deploy.md), the listed error is exactly the loader's report.
    quiet = {**_env(dags, tmp_path), "AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACKS": "False"}
    result = subprocess.run(
        [airflow, "dags", "list-import-errors", "--local", "-o", "json"],
        env=quiet,
        capture_output=True,
        text=True,
        check=False,
    )
    listed = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("[")))
    broken = dags / "pipelines" / "broken.yaml"
    assert listed[0]["error"].splitlines() == [
        f"{broken}: pipeline 'broken' was not loaded, 1 problem:",
        f"{broken}:{_select_by_line(dags)}:1: select_by: unknown classification metric 'f2' "
        "(hint: known classification metrics: accuracy, f1, log_loss, precision, recall, roc_auc)",
    ]


def test_sync_loaders_check_fails_in_ci_when_a_stub_is_missing(tmp_path: Path) -> None:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    _pipeline(folder, "a")
    command = [sys.executable, "-m", "airflow_mlops.cli", "sync-loaders", str(folder), "--check"]
    failed = subprocess.run(command, capture_output=True, text=True, check=False)
    assert failed.returncode == 1 and "a.py: missing" in failed.stdout
    assert not (folder / "a.py").exists()
    subprocess.run(command[:-1], check=True, capture_output=True)
    assert subprocess.run(command, capture_output=True, check=False).returncode == 0
