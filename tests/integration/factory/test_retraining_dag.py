"""The folder loader under Airflow's parsing context, in fresh interpreters: a worker that parses to
run one task builds only that task's DAG (tests/unit/factory/test_retraining_dag.py has the rest).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.unit.factory.test_retraining_dag import DAG_ID, _write_pipeline

PARSING_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from airflow_mlops.factory.loader import load_pipelines
    namespace = {}
    built = load_pipelines(namespace, sys.argv[1])
    print("RESULT=" + json.dumps({"built": built, "globals": sorted(namespace)}))
    """
)


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [("other", ["other"]), (DAG_ID, [DAG_ID]), (None, [DAG_ID, "other"])],
)
def test_parsing_context_builds_only_the_wanted_dag(tmp_path: Path, wanted: str | None, expected: list[str]) -> None:
    folder = tmp_path / "pipelines"
    _write_pipeline(folder, "breast_cancer.yaml")
    _write_pipeline(folder, "other.yaml", pipeline="other")
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    env.pop("_AIRFLOW_PARSING_CONTEXT_DAG_ID", None)
    env.pop("_AIRFLOW_PARSING_CONTEXT_TASK_ID", None)
    if wanted is not None:
        # The variables airflow.sdk.get_parsing_context() reads when a worker parses to run one task.
        env["_AIRFLOW_PARSING_CONTEXT_DAG_ID"] = wanted
        env["_AIRFLOW_PARSING_CONTEXT_TASK_ID"] = "train"
    proc = subprocess.run(
        [sys.executable, "-c", PARSING_SCRIPT, str(folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    [line] = [line for line in proc.stdout.splitlines() if line.startswith("RESULT=")]
    result = json.loads(line.removeprefix("RESULT="))
    assert sorted(result["built"]) == expected
    assert result["globals"] == expected
