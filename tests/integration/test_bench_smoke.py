"""The benchmark still runs: ``bench/run.py --smoke`` end to end, at tiny sizes, with no timing assertions.

``make bench`` is run by hand, so without this test a renamed operator argument or a moved
Airflow API would only be noticed the next time somebody wants numbers. The smoke run uses
N = 2, k = 1 and 10k rows; its numbers mean nothing and are not looked at, only that every
measure produced a finite ratio. dag-factory is pointed at an empty folder so the test does
not depend on the developer's ``.bench/`` and covers the "not installed" path CI takes.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "bench" / "run.py"

# One entry per row of the table, as a substring of its measure.
EXPECTED = (
    "import `airflow_mlops` + loader",
    "import everything a DAG build needs",
    "N=2: factory, per-pipeline stubs vs hand-written Python",
    "N=2: factory, one folder loader vs hand-written Python",
    "N=2: factory, per-pipeline stubs vs dag-factory",
    "N=2: factory, one folder loader vs dag-factory",
    "task-time parse, stub loader",
    "task-time parse, folder loader with parsing context",
    "folder loader: with vs without parsing context",
    "stub loader vs hand-written file",
    "stub loader vs dag-factory loader",
    "operator `resolve_data`",
    "operator `validate_data`",
    "operator `prepare_data`",
    "operator `train (2 candidates)`",
    "operator `evaluate`",
    "operator `gate`",
    "operator `register`",
    "operator `promote`",
    "operators, whole chain",
    "`serving_check` alone",
    "`serving_check` + local rollout",
    "one-row request p50: local endpoint",
    "one-row request p95: local endpoint",
    "MLflow `log_model`",
    "validate 10k rows x 20 cols",
    "step cache: unchanged re-run vs full run",
    "step cache: one candidate changed vs full run",
    "ingest 10,000 Postgres rows: snapshot (COPY, chunks) vs pandas.read_sql",
    "ingest 10,000 rows: peak memory above imports",
    *(
        f"scale 2,000 rows: `{step}` {what}"
        for step in ("validate_data", "prepare_data", "train_logreg", "train_forest", "evaluate")
        for what in ("execute() vs plain script", "peak memory above imports vs the frame")
    ),
    "2 `tune` workers vs 1",
    "trials in one `tune` task vs a plain Optuna script",
    "of the demo's 380 rows, 100 trees: `n_jobs: 2` vs 1",
    "synthetic rows, 5 trees: `n_jobs: 2` vs 1",
    "instructions: what a DAG build imports after `airflow.sdk`",
    "instructions: parse + serialize at N=3, per-pipeline stubs",
    "instructions: parse + serialize per DAG after the first (mean, GC included), at N=3",
    "instructions: parse + serialize at N=3, extrapolated from N=3",
    "instructions: a typical DAG's ratio (median DAG, stubs / hand-written) at N=3 vs at N=2",
)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench")
    env = {k: v for k, v in os.environ.items() if not k.startswith("_AIRFLOW_PARSING_CONTEXT")}
    proc = subprocess.run(
        [sys.executable, str(RUN), "--smoke", "--dagfactory", str(out / "no-dag-factory"),
         "--out", str(out / "benchmarks.md"), "--json", str(out / "rows.json")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads((out / "rows.json").read_text())
    return {
        "rows": result["rows"],
        "notes": result["notes"],
        "doc": (out / "benchmarks.md").read_text(),
        "stdout": proc.stdout,
    }


def test_every_measure_is_in_the_table(smoke: dict[str, Any]) -> None:
    measures = [row["measure"] for row in smoke["rows"]]
    assert len(measures) == len(EXPECTED), measures
    for expected in EXPECTED:
        assert sum(expected in m for m in measures) == 1, (expected, measures)


def test_every_ratio_is_finite_except_dag_factory(smoke: dict[str, Any]) -> None:
    for row in smoke["rows"]:
        if "dag-factory" in row["measure"]:
            assert row["ratio"] is None
            assert row["missing"] == "dag-factory not installed"
            assert row["ours"] is not None and math.isfinite(row["ours"])
            continue
        if row["measure"].startswith("instructions:") and shutil.which("valgrind") is None:
            assert row["ours"] is None and row["missing"] == "valgrind not installed", row
            continue
        if "`serving_check`" in row["measure"]:  # absolute seconds: the plain script serves nothing
            assert row["ratio"] is None and row["missing"] == "", row
            assert row["ours"] is not None and math.isfinite(row["ours"]) and row["ours"] > 0, row
            continue
        assert row["missing"] == "", row
        assert row["ratio"] is not None and math.isfinite(row["ratio"]) and row["ratio"] > 0, row


def test_table_is_printed_and_written_with_machine_info(smoke: dict[str, Any]) -> None:
    header = "| measure | ours (median s) | baseline (median s) | ratio | goal | holds? |"
    assert smoke["stdout"].splitlines()[0] == header
    assert len([line for line in smoke["stdout"].splitlines() if line.startswith("| ")]) == len(EXPECTED) + 1
    doc = smoke["doc"]
    for section in ("## Machine", "## Results", "## Reading", "## How to run", header, "| apache-airflow |"):
        assert section in doc
    assert "dag-factory not installed" in doc
    # The diagnostic parts (import profile, where the factory's parse time goes) ran too.
    assert "under `-X importtime`" in doc
    assert "(not measured)" not in doc


def test_hand_written_baseline_still_matches_the_factory(smoke: dict[str, Any]) -> None:
    # The parse baseline is only fair while the hand-written twin builds the factory's DAG.
    same = [n for n in smoke["notes"] if "serializes exactly like the factory's DAG" in n]
    assert same, (
        "bench/generate.py's HANDWRITTEN template no longer builds what factory/retraining.py builds; "
        f"update it to pass the same arguments. Notes: {smoke['notes']}"
    )


def test_the_cache_rows_measure_what_they_claim(smoke: dict[str, Any]) -> None:
    # The smoke run's B reused every step and ended unchanged, and its C retrained one candidate:
    # a cache that stops hitting (or hits too much) fails here, not only in a number nobody reads.
    notes = [n for n in smoke["notes"] if n.startswith("Step cache:")]
    assert any("B hit every caching step" in n and "ended `unchanged`" in n for n in notes), notes
    assert any("C (forest with" in n and "retrained exactly one candidate, `forest`" in n for n in notes), notes
    assert not any("**not**" in n for n in notes), notes
    assert "### Step cache, per step" in smoke["doc"]


def test_the_plain_optuna_script_still_runs_our_trials(smoke: dict[str, Any]) -> None:
    # The tuning overhead row is only fair while bench/tuning_plain.py runs the trials our task runs.
    same = [n for n in smoke["notes"] if "the plain script ran the same 2 trials" in n]
    assert same, (
        "bench/tuning_plain.py no longer draws the points, cuts the folds or scores the way TuneTrialsOperator "
        f"does; update it. Notes: {smoke['notes']}"
    )


def test_the_scale_group_writes_its_detail(smoke: dict[str, Any]) -> None:
    # Every step of both variants ran (the rows above have finite ratios); the doc shows each one's seconds and peak.
    assert "### Data at scale, per step" in smoke["doc"]
    assert any(n.startswith("Data at scale: 2,000 rows are") for n in smoke["notes"]), smoke["notes"]
