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

    # What an on-call engineer runs next, against the demo's own record (the README's commands).
    tracking = ["--tracking-uri", f"sqlite:///{tmp_path / 'demo' / 'mlflow.db'}"]
    champion = "2" if "gate        PROMOTE" in run2 else "1"
    lineage = _cli("lineage", "breast_cancer_classifier@champion", *tracking)
    for field in ("data ", "md5 ", "validation  PASSED", "code ", "spec_sha256", "params ", "metrics ",
                  "gate ", "approver    not required", "history "):  # fmt: skip
        assert field in lineage, f"lineage lacks {field!r}:\n{lineage}"
    assert lineage.startswith(f"breast_cancer_classifier v{champion}  @champion")
    if champion == "2":
        rolled = _cli("rollback", "breast_cancer_classifier", "--reason", "demo drill", *tracking)
        assert "v2 -> v1" in rolled
        restored = _cli("lineage", "breast_cancer_classifier@champion", *tracking)
        assert restored.startswith("breast_cancer_classifier v1  @champion")
        assert "rollback v2 -> v1" in restored and "demo drill" in restored


def _cli(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "airflow_mlops.cli", *args], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout
