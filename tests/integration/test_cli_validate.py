"""``airflow-mlops validate`` as CI runs it, in a fresh interpreter: exit codes, ``file:line`` reports,
no tracebacks (tests/unit/test_cli_validate.py calls the same CLI in process).
"""

from __future__ import annotations

import subprocess
import sys

from tests.unit.test_cli_validate import (
    EXAMPLE,
    INVALID,
    PIPELINES,
    REPO,
    assert_every_fixture_reported,
)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow_mlops.cli", "validate", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )


def test_valid_folder_exits_zero_and_says_ok() -> None:
    result = run_cli(str(PIPELINES))

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"{EXAMPLE}: ok (breast_cancer_retrain, retraining, 2 candidates)" in lines
    # One "ok" line per example pipeline file, and nothing else.
    assert sorted(line.split(":")[0] for line in lines) == sorted(str(p) for p in PIPELINES.glob("*.yaml"))
    assert "Traceback" not in result.stderr
    assert result.stderr == ""


def test_invalid_fixtures_folder_exits_one_with_file_and_line_for_each() -> None:
    result = run_cli(str(INVALID))

    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == ""  # no fixture is valid
    assert_every_fixture_reported(result.stderr)
    # Suite files are read through the pipelines that name them, never as pipelines.
    assert str(INVALID / "suites" / "breast_cancer.yaml") not in result.stderr


def test_mixed_files_report_each_and_fail() -> None:
    bad = INVALID / "bad_cron_schedule.yaml"

    result = run_cli(str(EXAMPLE), str(bad), str(INVALID / "does_not_exist.yaml"))

    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == f"{EXAMPLE}: ok (breast_cancer_retrain, retraining, 2 candidates)\n"
    assert f"{bad}:7:1: schedule: 'every day' is neither a cron expression" in result.stderr
    assert f"{INVALID / 'does_not_exist.yaml'}: cannot read file: No such file or directory" in result.stderr
