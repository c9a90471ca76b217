"""Security claims that need another process: the real `airflow-mlops validate` CLI, and a DvcHook
over a data repository built with the real `git` binary (tests/unit/test_security.py has the rest).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from airflow_mlops.errors import DataVersionError
from tests.unit.test_security import PASSWORD, REPO, UNKNOWN_EXTRAS, _example, _marker_package, _payload, _set_conn

# =============================================================== 1-3 through the real CLI


@dataclass
class CliRun:
    folder: Path
    markers: dict[str, Path]
    result: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    """One ``airflow-mlops validate`` over a payload, a secret and a foreign import; the package is importable."""
    root = tmp_path_factory.mktemp("cli")
    name, import_marker = _marker_package(root / "site")
    folder = root / "dags"
    payload_marker = root / "payload-ran"
    _example(folder, "payload.yaml", ("description: Retrain", f"description: {_payload(payload_marker)}\nowner: R"))
    _example(folder, "secret.yaml", ("  rev: main", f"  rev: main\n  password: {PASSWORD}"))
    _example(folder, "foreign.yaml", ("sklearn.linear_model.LogisticRegression", f"{name}.Estimator"))
    env = {
        **os.environ,
        "PYTHONPATH": f"{root / 'site'}{os.pathsep}{REPO}",
        "AIRFLOW__MLOPS__ALLOWED_IMPORT_PREFIXES": "",
    }
    result = subprocess.run(
        [sys.executable, "-m", "airflow_mlops.cli", "validate", str(folder)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
        check=False,
    )
    return CliRun(folder, {"payload": payload_marker, "import": import_marker}, result)


def _cli_lines(run: CliRun, file: str) -> list[str]:
    return [line for line in run.result.stderr.splitlines() if line.startswith(f"{run.folder / file}:")]


def test_cli_refuses_the_payload_without_running_it(cli_run: CliRun) -> None:
    assert cli_run.result.returncode == 1
    assert "Traceback" not in cli_run.result.stdout + cli_run.result.stderr
    assert not cli_run.markers["payload"].exists()
    [line] = _cli_lines(cli_run, "payload.yaml")
    assert ":4:" in line and "could not determine a constructor for the tag" in line


def test_cli_refuses_the_secret_without_printing_it(cli_run: CliRun) -> None:
    [line] = _cli_lines(cli_run, "secret.yaml")
    assert "data.password: looks like a secret" in line and "Airflow connection" in line
    assert PASSWORD not in cli_run.result.stdout + cli_run.result.stderr


def test_cli_refuses_the_foreign_import_without_importing_it(cli_run: CliRun) -> None:
    [line] = _cli_lines(cli_run, "foreign.yaml")
    assert "models[0].estimator:" in line and "outside the allowed import prefixes ['sklearn.']" in line
    assert not cli_run.markers["import"].exists()
    assert cli_run.result.stdout == ""


# =============================================================== 4. the DVC hook over a real git repository


@pytest.fixture
def dvc_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from airflow_mlops.demo.data_repo import commit_data_version, create_data_repo

    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(tmp_path / "dvc-site-cache"))
    root = create_data_repo(tmp_path / "repo", tmp_path / "remote")
    commit_data_version(root, "data/train.csv", b"x,y\n1,a\n2,b\n", "data v1")
    return root


def test_dvc_hook_ignores_unknown_extras_and_never_leaks_the_password(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    dvc_repo: Path,
) -> None:
    from airflow_mlops.hooks.dvc import DvcHook

    _set_conn(
        monkeypatch, "dvc_x", "dvc", login="bob", password=PASSWORD, extra={**UNKNOWN_EXTRAS, "repo": str(dvc_repo)}
    )
    caplog.set_level(logging.DEBUG)
    hook = DvcHook("dvc_x")
    hook.log.warning("canary-%s", "dvc")  # the capture below does see the hook's own log lines

    ref = hook.resolve("data/train.csv", "HEAD")  # what the resolve task returns to XCom
    frame = hook.read_dataframe(ref)
    with pytest.raises(DataVersionError) as missing:
        hook.resolve("data/missing.csv", "HEAD")

    assert ref["repo"] == str(dvc_repo) and list(frame.columns) == ["x", "y"]
    assert "evil" not in json.dumps(ref)  # extras such as a different remote are not used
    out, err = capfd.readouterr()
    logged = out + err + caplog.text
    assert "canary-dvc" in logged
    for text in (logged, json.dumps(ref), str(missing.value), repr(hook), str(hook)):
        assert PASSWORD not in text
    for record in caplog.records:
        assert PASSWORD not in record.getMessage() and PASSWORD not in repr(record.args)
