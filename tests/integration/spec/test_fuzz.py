"""Fuzzing the real ``airflow-mlops validate`` CLI in a fresh interpreter: it reports every file and
never prints a traceback (tests/unit/spec/test_fuzz.py fuzzes the loader and the factory in process).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.spec.test_fuzz import (
    BROKEN_FILES,
    BUILD_CRASHERS,
    EXAMPLE,
    FUZZ_PROFILE,
    KNOWN_CRASHERS,
    REPO,
    _counter,
    _write,
)
from tests.unit.spec.test_fuzz import workdir as workdir  # a fixture: pytest finds it by this name


@given(files=st.lists(BROKEN_FILES, min_size=6, max_size=6))
@settings(FUZZ_PROFILE, max_examples=1)
def test_validate_cli_reports_every_file_and_never_a_traceback(workdir: Path, files: list[str | bytes]) -> None:
    """One ``airflow-mlops validate`` run over generated files, the minimised crashers and a valid file."""
    folder = workdir / f"cli{next(_counter)}"
    folder.mkdir()
    shutil.copytree(workdir / "suites", folder / "suites")
    valid = folder / "valid.yaml"
    shutil.copy(EXAMPLE, valid)
    contents = [*files, *KNOWN_CRASHERS.values(), *BUILD_CRASHERS.values()]
    paths = [_write(folder, content, f"f{i:02}.yaml") for i, content in enumerate(contents)]

    result = subprocess.run(
        [sys.executable, "-m", "airflow_mlops.cli", "validate", str(folder)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
    )

    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-3000:]
    assert result.returncode == 1, result.stdout  # the crashers are invalid
    assert f"{valid}: ok (breast_cancer_retrain, retraining, 2 candidates)" in result.stdout.splitlines()
    for line in result.stdout.splitlines():
        assert any(line.startswith(f"{p}: ok (") for p in [valid, *paths]), line
    for line in result.stderr.splitlines():
        # One issue per line: file[:line[:col]]: message; the file is a pipeline or a suite it names.
        named = Path(line.split(":", 1)[0])
        assert named in paths or named.is_file(), line
    for path in paths:
        reported = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith(f"{path}:")]
        assert reported, f"{path} is not in the output"
