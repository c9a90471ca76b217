"""The example pipeline on the production shape: CeleryExecutor, Postgres, Redis, MLflow server.

Postgres (a fresh database), Redis (a database number of its own), the MLflow server (Postgres
backend store, proxied artifacts), the Airflow api-server, scheduler, dag-processor, triggerer
and two Celery workers with concurrency 1 all run on 127.0.0.1. The run is triggered through
the REST API like a user would, and the checks read what Airflow and MLflow recorded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tests.distributed.components import WORKERS
from tests.distributed.stack import LoopbackStack
from tests.distributed.timeline import assignment_table, label, ran_together

DAG_ID = "breast_cancer_retrain"
MODEL_NAME = "breast_cancer_classifier"


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_example_pipeline_on_celery_workers(
    stack: LoopbackStack, tmp_path: Path, distributed_summary: Callable[[str], None]
) -> None:
    from airflow_mlops.demo.datasets import data_versions, to_csv_bytes

    stack.commit_data(to_csv_bytes(data_versions()[0]), "data v1", "data-v1")
    stack.wait_for_dag(DAG_ID)
    run = stack.trigger_and_wait(DAG_ID)
    tis = stack.task_instances(DAG_ID, run["dag_run_id"])
    table = assignment_table(tis)
    (tmp_path / "assignment.txt").write_text(table)
    # In the terminal summary of every run (conftest.py), so CI logs show where each task ran.
    distributed_summary(f"task -> worker assignment, {DAG_ID} {run['dag_run_id']} ({run['state']}):\n{table}")

    assert run["state"] == "success", f"run failed; logs in {stack.logs}\n{table}"
    assert all(ti["state"] == "success" and ti["try_number"] == 1 for ti in tis), table

    # Candidate training ran in parallel: both workers trained, and two instances overlapped in time.
    train = [ti for ti in tis if ti["task_id"] == "train"]
    assert len(train) == 4, table
    assert {ti["hostname"] for ti in train} == set(WORKERS), table
    overlapping = [(a["map_index"], b["map_index"]) for a in train for b in train if ran_together(a, b)]
    assert overlapping, f"no two train instances ran at the same time on different workers\n{table}"
    assert {ti["hostname"] for ti in tis} == set(WORKERS), table

    # The model version is in the MLflow server, and its artifacts went through the server's proxy.
    client = stack.client()
    champion = client.get_model_version_by_alias(MODEL_NAME, "champion")
    assert champion.tags["mlops.run_id"] == run["dag_run_id"]
    for ti in train:
        result = stack.xcom(DAG_ID, run["dag_run_id"], "train", ti["map_index"])
        assert client.get_run(result["mlflow_run_id"]).info.artifact_uri.startswith("mlflow-artifacts:/"), result

    # With a tracking server, the extra links open the MLflow UI itself on the exact run and version
    # (the sqlite branch, which opens the ML view instead, is covered by the browser test).
    links_path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances"
    for ti in train:
        result = stack.xcom(DAG_ID, run["dag_run_id"], "train", ti["map_index"])
        links = stack.call("GET", f"{links_path}/train/links?map_index={ti['map_index']}")["extra_links"]
        mlflow_run = client.get_run(result["mlflow_run_id"])
        assert links["MLflow run"] == (
            f"{stack.mlflow_url}/#/experiments/{mlflow_run.info.experiment_id}/runs/{mlflow_run.info.run_id}"
        ), links
        assert mlflow_run.data.tags["mlops.candidate"] == result["candidate"], mlflow_run.data.tags
    register_links = stack.call("GET", f"{links_path}/register/links")["extra_links"]
    assert register_links["Model version"] == f"{stack.mlflow_url}/#/models/{MODEL_NAME}/versions/{champion.version}"

    # No task read a local file another worker wrote: data moved only through the artifact root URI
    # (outside every worker's directory) and the MLflow server; the workers' directories hold no data.
    dataset = stack.xcom(DAG_ID, run["dag_run_id"], "prepare_data")
    uris = [value for key, value in dataset.items() if key.endswith("_uri")]
    assert uris, dataset
    assert all(uri.startswith(stack.artifact_root + "/") for uri in uris), dataset
    for name, folder in stack.worker_dirs.items():
        assert not (folder / "cwd").exists() or _files(folder / "cwd") == [], f"{name} cwd: {_files(folder / 'cwd')}"
        data = [f for f in _files(folder / "home") if not f.startswith("logs/") and not f.endswith(".cfg")]
        assert data == [], f"{name} home holds files other than task logs: {data}"
    assert not any(str(folder) in uri for uri in uris for folder in stack.worker_dirs.values())
    # ...and the hand-off really crossed workers: a train instance ran where prepare_data did not.
    prepare = next(ti for ti in tis if ti["task_id"] == "prepare_data")
    assert any(ti["hostname"] != prepare["hostname"] for ti in train), table
    assert os.path.isdir(stack.artifact_root.removeprefix("file://"))

    # XCom offload: every return value went to object storage (threshold 0); the database holds
    # only references, and tasks on either worker read their upstream values back through the URI.
    xcom_files = _files(Path(stack.xcom_root.removeprefix("file://")))
    for ti in tis:
        reference = stack.xcom_reference(DAG_ID, run["dag_run_id"], ti["task_id"], ti["map_index"])
        assert isinstance(reference, str) and reference.startswith(stack.xcom_root + "/"), (label(ti), reference)
        assert reference.removeprefix(stack.xcom_root + "/") in xcom_files, (label(ti), reference)
    # The ML view reads the offloaded values through the same backend: its run summary comes from
    # XCom alone (the gate's decision, the registered and promoted versions).
    view = stack.call("GET", f"/mlops/api/dags/{DAG_ID}/runs/{run['dag_run_id']}")
    assert view["run"]["decision"] == "promote", view["run"]
    assert str(view["run"]["promoted_version"]) == champion.version, view["run"]
    assert str(view["run"]["registered_version"]) == champion.version, view["run"]
