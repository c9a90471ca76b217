"""``airflow-mlops render`` checked from other processes: Airflow's own DagBag parsing the dags folder
through the loader stubs in a fresh interpreter configured like a deployment, and the CLI itself in a
fresh interpreter (no traceback, no ML library, no database). tests/unit/test_cli_render.py has the rest.
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

from tests.unit.test_cli_render import DAGS, EXAMPLE, EXAMPLES, HEAVY, INVALID, REPO, built, render_json

DAGBAG = textwrap.dedent(
    """
    import json, sys
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    bag = DagBag(dag_folder=sys.argv[1])
    dags = {}

    def uris(condition):
        if hasattr(condition, "objects"):  # AssetAll / AssetAny
            return [uri for inner in condition.objects for uri in uris(inner)]
        return [condition.uri]

    for dag_id, dag in bag.dags.items():
        schedule = dag.schedule
        if schedule is not None and not isinstance(schedule, str):
            # assets: their URIs; a timetable object (an incremental ingestion's data intervals): its summary
            condition = getattr(dag.timetable, "asset_condition", None)
            schedule = sorted(uris(condition)) if condition is not None else str(dag.timetable.expression)
        dags[dag_id] = {
            "fileloc": dag.fileloc,
            "tasks": sorted(dag.task_ids),
            "edges": sorted([up, t.task_id] for t in dag.tasks for up in t.upstream_task_ids),
            "mapped": sorted(t.task_id for t in dag.tasks if isinstance(t, MappedOperator)),
            "outlets": {t.task_id: [o.uri for o in t.outlets] for t in dag.tasks},
            "schedule": schedule,
        }
    errors = {str(k): str(v) for k, v in bag.import_errors.items()}
    with open(sys.argv[2], "w") as out:
        json.dump({"dags": dags, "errors": errors}, out)
    """
)


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What Airflow itself parses from the example dags folder, in a fresh interpreter."""
    home = tmp_path_factory.mktemp("airflow-home")
    out = home / "dagbag.json"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }
    proc = subprocess.run(
        [sys.executable, "-c", DAGBAG, str(DAGS), str(out)],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    parsed: dict[str, Any] = json.loads(out.read_text())
    return parsed


def schedule_uris(schedule: Any) -> Any:
    """A rendered asset schedule as the sorted URIs in it; cron and None as they are."""
    if not isinstance(schedule, dict):
        return schedule
    if "asset" in schedule:
        return [schedule["asset"]]
    found: list[str] = []
    for items in schedule.values():
        for item in items:
            found.extend(schedule_uris(item) if isinstance(item, dict) else [item])
    return sorted(found)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_json_matches_what_airflow_parses(
    capsys: pytest.CaptureFixture[str], dagbag: dict[str, Any], path: Path
) -> None:
    stub = path.with_suffix(".py")
    assert stub.is_file(), f"no loader stub {stub.name} beside {path.name}: Airflow never sees it (run sync-loaders)"
    errors = {k: v for k, v in dagbag["errors"].items() if Path(k).name == stub.name}
    assert not errors, errors
    spec, _ = built(path)
    parsed = dagbag["dags"][spec.pipeline]
    assert Path(parsed["fileloc"]).name == stub.name

    graph = render_json(capsys, path)

    assert sorted(t["task_id"] for t in graph["tasks"]) == parsed["tasks"]
    assert sorted(graph["edges"]) == parsed["edges"]
    assert sorted(t["task_id"] for t in graph["tasks"] if t["mapped_over"] is not None) == parsed["mapped"]
    assert {t["task_id"]: t["outlets"] for t in graph["tasks"]} == parsed["outlets"]
    assert schedule_uris(graph["schedule"]) == parsed["schedule"]


def test_broken_file_in_a_fresh_process_has_no_traceback() -> None:
    fixture = INVALID / "bad_cron_schedule.yaml"

    proc = subprocess.run(
        [sys.executable, "-m", "airflow_mlops.cli", "render", str(fixture)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )

    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith(f"{fixture}:7:1: schedule: 'every day' is neither a cron expression")
    assert "Traceback" not in proc.stderr


WRAPPER = textwrap.dedent(
    """
    import json, sys
    from airflow_mlops.cli import main

    code = main(["render", *sys.argv[2:]])
    heavy = sorted({{name.split(".")[0] for name in sys.modules}} & set({heavy!r}))
    with open(sys.argv[1], "w") as out:
        json.dump({{"code": code, "heavy": heavy}}, out)
    """
)


@pytest.mark.parametrize("fmt", ["text", "json", "mermaid"])
def test_render_loads_no_ml_library_and_touches_no_database(tmp_path: Path, fmt: str) -> None:
    # A sqlite URL in a folder that does not exist: any query would fail, any write would show.
    missing = tmp_path / "no-such-dir"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "home"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{missing}/airflow.db",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    result = tmp_path / "result.json"

    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER.format(heavy=HEAVY), str(result), str(EXAMPLE), "--format", fmt],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert proc.returncode == 0, proc.stderr[-4000:]
    assert json.loads(result.read_text()) == {"code": 0, "heavy": []}
    assert "breast_cancer_retrain" in proc.stdout
    assert not missing.exists()
    assert not list((tmp_path / "home").glob("*.db"))
