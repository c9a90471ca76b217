"""`make demo` runs `airflow-mlops demo`; CI runs it too, so the README's first command cannot rot."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_twice_and_shows_the_champion_comparison(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow_mlops.cli", "demo", "--workdir", str(tmp_path / "demo"),
         "--dags-folder", str(REPO_ROOT / "dags")],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "Traceback" not in out + result.stderr
    run1, run2 = out.split("==> Run 2")
    assert "Run 1 (success)" in run1 and "no champion yet" in run1
    assert "@champion -> v1, @previous -> none" in run1
    assert re.search(r"champion v1\s+0\.\d{4}", run2), "run 2 must score the champion on the same test rows"
    assert re.search(r"f1 0\.\d{4} (meets|misses) >= 0\.\d{4} \(champion 0\.\d{4}\)", run2)
    assert "validation  PASSED" in run1 and "validation  PASSED" in run2
    # Run 2's verdict decides where @champion points, and the summary must say so consistently.
    if "gate        PROMOTE" in run2:
        assert "@champion -> v2, @previous -> v1" in run2
    else:
        assert "@champion -> v1" in run2 and "registered  nothing" in run2
