"""The whole loop through dag.test(): Postgres -> ingestion -> DVC commit + new_data_version -> retraining.

The two example pipelines (dags/pipelines/breast_cancer_ingest.yaml and breast_cancer_from_sql.yaml)
run against the real Postgres on 127.0.0.1:5432 (a schema of their own, dropped afterwards), a
real git + DVC repository with a local remote, and a real MLflow store. The repository accepts
pushes to its checked-out branch (``receive.denyCurrentBranch updateInstead``), as a git server does.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_mlops.demo.datasets import data_versions
from airflow_mlops.factory.loader import LOADER_STUB
from tests.integration.harness import REPO_ROOT, PipelineEnv

INGEST_EXAMPLE = REPO_ROOT / "dags" / "pipelines" / "breast_cancer_ingest.yaml"
RETRAIN_EXAMPLE = REPO_ROOT / "dags" / "pipelines" / "breast_cancer_from_sql.yaml"
INGEST, RETRAIN, DIRECT = "breast_cancer_ingest", "breast_cancer_from_sql", "breast_cancer_direct_sql"
DATA = "data/breast_cancer.parquet"
ASSET_URI = f"mlops://data/dvc_default/{DATA}"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def _events(deployment: PipelineEnv) -> list[tuple[str, str, dict[str, Any]]]:
    with sqlite3.connect(deployment.root / "airflow" / "airflow.db") as db:
        rows = db.execute(
            "SELECT e.source_dag_id, e.source_run_id, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id "
            "WHERE a.uri = ? ORDER BY e.id",
            (ASSET_URI,),
        ).fetchall()
    return [(dag, run, json.loads(extra)) for dag, run, extra in rows]


def _queued(deployment: PipelineEnv) -> list[str]:
    with sqlite3.connect(deployment.root / "airflow" / "airflow.db") as db:
        rows = db.execute(
            "SELECT q.target_dag_id FROM asset_dag_run_queue q JOIN asset a ON a.id = q.asset_id WHERE a.uri = ?",
            (ASSET_URI,),
        ).fetchall()
    return [r[0] for r in rows]


@pytest.fixture(scope="module")
def schema() -> Iterator[str]:
    import sqlalchemy

    name = f"mlops_ingest_{uuid.uuid4().hex[:10]}"
    engine = sqlalchemy.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg2://"))
    v1, _ = data_versions()
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f"CREATE SCHEMA {name}"))
    v1.rename_axis("sample_id").reset_index().to_sql("breast_cancer", engine, schema=name, index=False)
    yield name
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f"DROP SCHEMA {name} CASCADE"))
    engine.dispose()


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory, schema: str) -> dict[str, Any]:
    """Ingest, ingest the same rows again (a new DAG run), re-run the first DAG run, then retrain."""
    deployment = PipelineEnv(tmp_path_factory.mktemp("ingestion"))
    deployment.env["AIRFLOW_CONN_WAREHOUSE"] = PG_URL
    _git(deployment.repo, "config", "receive.denyCurrentBranch", "updateInstead")
    pipelines = deployment.dags / "pipelines"
    ingest = yaml.safe_load(INGEST_EXAMPLE.read_text())
    ingest["data"]["sql"]["query"] = ingest["data"]["sql"]["query"].replace("labelled.", f"{schema}.")
    ingest["retries"] = {"retries": 0}
    (pipelines / f"{INGEST}.yaml").write_text(yaml.safe_dump(ingest, sort_keys=False))
    (pipelines / f"{RETRAIN}.yaml").write_text(RETRAIN_EXAMPLE.read_text())
    for name in (INGEST, RETRAIN):
        (pipelines / f"{name}.py").write_text(LOADER_STUB)
    # Both DAGs in the database and the consumer unpaused, so an asset event queues it.
    for command in (("dags", "reserialize"), ("dags", "unpause", RETRAIN)):
        subprocess.run(
            [str(Path(sys.executable).with_name("airflow")), *command],
            env=deployment.env,
            check=True,
            capture_output=True,
            timeout=300,
        )
    head_before = _git(deployment.repo, "rev-parse", "HEAD")
    first = deployment.run(INGEST, "2026-01-01T00:00:00+00:00")
    after_first = {"head": _git(deployment.repo, "rev-parse", "HEAD"), "events": _events(deployment)}
    after_first["queued"] = _queued(deployment)
    same = deployment.run(INGEST, "2026-01-02T00:00:00+00:00")
    after_same = {"head": _git(deployment.repo, "rev-parse", "HEAD"), "events": _events(deployment)}
    rerun = deployment.run(INGEST, "2026-01-01T00:00:00+00:00")  # the first DAG run again: a retry
    after_rerun = {"head": _git(deployment.repo, "rev-parse", "HEAD"), "events": _events(deployment)}
    retrain = deployment.run(RETRAIN)
    client = deployment.client()
    version = client.get_model_version_by_alias(RETRAIN, "champion")
    # The same pipeline reading the table directly: resolve_data pins a snapshot, no DVC involved.
    direct = yaml.safe_load(RETRAIN_EXAMPLE.read_text())
    direct.update(pipeline=DIRECT, schedule=None, registry={"model_name": DIRECT, "alias": "champion"})
    table = f"{schema}.breast_cancer"
    direct["data"] = {**direct["data"], "source": "sql", "sql": {"conn_id": "warehouse", "table": table}}
    for key in ("dvc_conn_id", "path", "rev"):
        direct["data"].pop(key)
    (pipelines / f"{DIRECT}.yaml").write_text(yaml.safe_dump(direct, sort_keys=False))
    (pipelines / f"{DIRECT}.py").write_text(LOADER_STUB)
    direct_run = deployment.run(DIRECT)
    direct_version = client.get_model_version_by_alias(DIRECT, "champion")
    return {
        "deployment": deployment,
        "head_before": head_before,
        "first": first,
        "after_first": after_first,
        "same": same,
        "after_same": after_same,
        "rerun": rerun,
        "after_rerun": after_rerun,
        "retrain": retrain,
        "version": version,
        "direct": direct_run,
        "direct_version": direct_version,
        "schema": schema,
    }


def test_first_ingestion_commits_the_snapshot_and_sends_the_event(loop: dict[str, Any]) -> None:
    first, after = loop["first"], loop["after_first"]
    assert first["state"] == "success", first["log"][-3000:]
    assert first["tasks"] == {"extract": "success", "version_data": "success"}
    repo: Path = loop["deployment"].repo
    assert after["head"] != loop["head_before"]
    assert _git(repo, "rev-list", "--count", f"{loop['head_before']}..{after['head']}") == "1"
    message = _git(repo, "log", "-1", "--format=%B")
    assert f"Mlops-Run: {INGEST}/{first['run_id']}" in message
    changed = _git(repo, "show", "--name-only", "--format=", after["head"]).split()
    assert sorted(changed) == sorted(["data/.gitignore", f"{DATA}.dvc", f"{DATA}.lineage.json"])
    lineage = json.loads(_git(repo, "show", f"HEAD:{DATA}.lineage.json"))
    assert lineage["conn_id"] == "warehouse" and lineage["rows"] == 380
    assert lineage["query"] == f"SELECT * FROM {loop['schema']}.breast_cancer ORDER BY sample_id"
    [(dag, run, extra)] = after["events"]
    assert (dag, run) == (INGEST, first["run_id"])
    assert extra["commit"] == after["head"] and extra["rows"] == 380
    assert after["queued"] == [RETRAIN]  # the retraining pipeline's schedule is this asset


def test_unchanged_extract_makes_no_commit_and_no_event(loop: dict[str, Any]) -> None:
    same = loop["same"]
    assert same["state"] == "success", same["log"][-3000:]
    assert same["tasks"] == {"extract": "success", "version_data": "skipped"}
    assert loop["after_same"]["head"] == loop["after_first"]["head"]
    assert len(loop["after_same"]["events"]) == 1


def test_rerun_of_a_committed_run_makes_no_duplicate_commit(loop: dict[str, Any]) -> None:
    rerun = loop["rerun"]
    assert rerun["run_id"] == loop["first"]["run_id"]
    assert rerun["tasks"]["version_data"] == "success"  # its own commit, found by the run's trailer
    assert loop["after_rerun"]["head"] == loop["after_first"]["head"]
    events = loop["after_rerun"]["events"]
    assert [extra["commit"] for _, _, extra in events] == [loop["after_first"]["head"]] * len(events)


def test_retraining_on_the_ingested_data_promotes_with_the_snapshot_lineage(loop: dict[str, Any]) -> None:
    retrain = loop["retrain"]
    assert retrain["state"] == "success", retrain["log"][-3000:]
    tags = loop["version"].tags
    assert tags["mlops.data.path"] == DATA and tags["mlops.data.commit"] == loop["after_first"]["head"]
    assert tags["mlops.data.conn_id"] == "warehouse"
    assert tags["mlops.data.query"] == f"SELECT * FROM {loop['schema']}.breast_cancer ORDER BY sample_id"
    assert tags["mlops.data.rows"] == "380"
    assert tags["mlops.data.ingested_by"] == f"{INGEST}/{loop['first']['run_id']}"
    assert tags["mlops.data.uri"].endswith(f"/snapshots/{INGEST}/{tags['mlops.data.md5']}.parquet")
    assert "postgres@" not in json.dumps(tags)


def test_retraining_straight_from_sql_trains_on_a_pinned_snapshot(loop: dict[str, Any]) -> None:
    direct = loop["direct"]
    assert direct["state"] == "success", direct["log"][-3000:]
    tags = loop["direct_version"].tags
    assert tags["mlops.data.source"] == "sql" and tags["mlops.data.conn_id"] == "warehouse"
    assert tags["mlops.data.query"] == f"SELECT * FROM {loop['schema']}.breast_cancer"
    assert tags["mlops.data.rows"] == "380" and tags["mlops.data.commit"] == tags["mlops.data.md5"]
    snapshot = tags["mlops.data.uri"]
    assert snapshot.endswith(f"/snapshots/{DIRECT}/{tags['mlops.data.md5']}.parquet")
    assert Path(snapshot.removeprefix("file://")).is_file()
