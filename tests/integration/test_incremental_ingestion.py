"""Incremental ingestion through dag.test(): Postgres -> one data interval per run -> appended to the DVC file.

The shipped example (dags/pipelines/orders_ingest_daily.yaml) runs against the real Postgres on
127.0.0.1:5432 (a schema of its own, dropped afterwards) and a real git + DVC repository with a
local remote. Two daily runs append two intervals (a commit each); then the first run again (a
retry, the same DAG run), after a late row and a correction landed in its interval: it replaces
that interval's rows and duplicates none. A rerun with unchanged rows commits nothing (same bytes:
tests/unit/hooks/test_increment.py; the skip itself: test_ingestion.py).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from airflow_mlops.factory.loader import LOADER_STUB
from tests.integration.harness import REPO_ROOT, PipelineEnv

EXAMPLE = REPO_ROOT / "dags" / "pipelines" / "orders_ingest_daily.yaml"
DAG_ID = "orders_ingest_daily"
DATA = "data/orders.parquet"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
DAY1, DAY2 = "2026-01-02T00:00:00+00:00", "2026-01-03T00:00:00+00:00"  # runs for Jan 1 and Jan 2


def _git(repo: Any, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def _pg(*statements: str) -> None:
    import psycopg2

    connection = psycopg2.connect("dbname=test user=postgres host=127.0.0.1 port=5432")
    connection.autocommit = True
    with connection, connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    connection.close()


def _state(deployment: PipelineEnv) -> dict[str, Any]:
    """The branch head, the lineage committed beside the file, and the data events sent so far."""
    repo = deployment.repo
    with sqlite3.connect(deployment.root / "airflow" / "airflow.db") as db:
        events = db.execute(
            "SELECT e.source_run_id, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.uri = ? "
            "ORDER BY e.id",
            (f"mlops://data/dvc_default/{DATA}",),
        ).fetchall()
    return {
        "head": _git(repo, "rev-parse", "HEAD"),
        "lineage": json.loads(_git(repo, "show", f"HEAD:{DATA}.lineage.json") or "{}"),
        "events": [(run, json.loads(extra)) for run, extra in events],
    }


@pytest.fixture(scope="module")
def schema() -> Iterator[str]:
    name = f"ingest_{uuid.uuid4().hex[:10]}"
    _pg(
        f"CREATE SCHEMA {name}",
        f"CREATE TABLE {name}.orders (order_id int, ordered_at timestamp, customer text, amount numeric(10, 2))",
        f"INSERT INTO {name}.orders SELECT g, '2026-01-01'::timestamp + g * interval '1 hour', 'c' || g % 3, g * 1.5 "
        "FROM generate_series(0, 35) g",  # 24 rows on Jan 1, 12 on Jan 2
    )
    yield name
    _pg(f"DROP SCHEMA {name} CASCADE")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, schema: str) -> dict[str, Any]:
    deployment = PipelineEnv(tmp_path_factory.mktemp("incremental"))
    deployment.env["AIRFLOW_CONN_WAREHOUSE"] = PG_URL
    _git(deployment.repo, "config", "receive.denyCurrentBranch", "updateInstead")
    spec = yaml.safe_load(EXAMPLE.read_text())
    spec["data"]["sql"]["query"] = spec["data"]["sql"]["query"].replace("sales.", f"{schema}.")
    spec["retries"] = {"retries": 0}
    (deployment.dags / "pipelines" / f"{DAG_ID}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (deployment.dags / "pipelines" / f"{DAG_ID}.py").write_text(LOADER_STUB)
    found: dict[str, Any] = {"deployment": deployment, "before": _git(deployment.repo, "rev-parse", "HEAD")}
    for name, logical_date in (("day1", DAY1), ("day2", DAY2)):
        found[name] = {"run": deployment.run(DAG_ID, logical_date), **_state(deployment)}
    # A late order and a corrected amount in Jan 1, then its run again: the interval is replaced.
    _pg(
        f"INSERT INTO {schema}.orders VALUES (100, '2026-01-01 23:30', 'late', 9.99)",
        f"UPDATE {schema}.orders SET amount = 0.5 WHERE order_id = 3",
    )
    found["retry"] = {"run": deployment.run(DAG_ID, DAY1), **_state(deployment)}
    # The file as pushed: the DVC remote's object named by the branch's .dvc file (no DVC import here).
    md5 = yaml.safe_load(_git(deployment.repo, "show", f"HEAD:{DATA}.dvc"))["outs"][0]["md5"]
    pushed = deployment.root / "dvc-remote" / "files" / "md5" / md5[:2] / md5[2:]
    found["retry"]["frame"] = pq.read_table(pushed).to_pandas()
    return found


def test_each_interval_is_appended_as_a_commit_of_its_own(runs: dict[str, Any]) -> None:
    repo, day1, day2 = runs["deployment"].repo, runs["day1"], runs["day2"]
    for outcome in (day1, day2):
        assert outcome["run"]["state"] == "success", outcome["run"]["log"][-3000:]
        assert outcome["run"]["tasks"] == {"extract": "success", "version_data": "success"}
    assert _git(repo, "rev-list", "--count", f"{runs['before']}..{day2['head']}") == "2"
    assert _git(repo, "show", "--name-only", "--format=", day2["head"]).split() == [
        f"{DATA}.dvc",
        f"{DATA}.lineage.json",
    ]
    lineage = day2["lineage"]
    assert (day1["lineage"]["rows"], lineage["rows"], lineage["interval_rows"]) == (24, 36, 12)
    assert (lineage["interval_start"], lineage["interval_end"]) == ("2026-01-02T00:00:00+00:00", DAY2)
    assert lineage["increment_key"] == "ordered_at" and lineage["conn_id"] == "warehouse"
    assert "uri" not in lineage and "/snapshots/orders_ingest_daily/" in lineage["interval_uri"]  # one interval's
    assert "appended interval [2026-01-02T00:00:00+00:00" in _git(repo, "log", "-1", "--format=%B", day2["head"])
    [(_, first), (_, second)] = day2["events"]
    assert (first["rows"], second["rows"], second["interval_rows"]) == (24, 36, 12)
    assert second["interval_start"] == "2026-01-02T00:00:00+00:00" and second["commit"] == day2["head"]


def test_a_retried_interval_replaces_its_rows_and_duplicates_none(runs: dict[str, Any]) -> None:
    retry, repo = runs["retry"], runs["deployment"].repo
    assert retry["run"]["run_id"] == runs["day1"]["run"]["run_id"]  # the same DAG run, run again
    assert retry["run"]["tasks"] == {"extract": "success", "version_data": "success"}, retry["run"]["log"][-3000:]
    assert _git(repo, "rev-list", "--count", f"{runs['day2']['head']}..{retry['head']}") == "1"
    assert (retry["lineage"]["rows"], retry["lineage"]["interval_rows"]) == (37, 25)
    frame = retry["frame"]
    assert len(frame) == 37 and frame["order_id"].is_unique
    assert frame.loc[frame["order_id"] == 3, "amount"].tolist() == [0.5]
    assert frame["order_id"].tolist()[22:25] == [22, 23, 100]  # sorted by ordered_at: the late order ends Jan 1
    assert len(retry["events"]) == 3
