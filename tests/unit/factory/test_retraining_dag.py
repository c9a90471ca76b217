"""The retraining template's DAG shape, retry policy and the folder loader; no metadata DB."""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow.sdk import DAG, Asset
from airflow.sdk.definitions.mappedoperator import MappedOperator
from airflow.serialization.serialized_objects import DagSerialization

from airflow_mlops import __version__
from airflow_mlops.errors import PipelineConfigError
from airflow_mlops.factory.loader import load_pipelines
from airflow_mlops.factory.retraining import build_retraining_dag
from airflow_mlops.spec.loader import load_pipeline_spec
from tests.pipeline_steps import retraining_steps

ROOT = Path(__file__).resolve().parents[3]
PIPELINES = ROOT / "dags" / "pipelines"
EXAMPLE = PIPELINES / "breast_cancer.yaml"
DAG_ID = "breast_cancer_retrain"

TASK_IDS = set(retraining_steps())
# Every edge comes from an XComArg (a task consuming another's output) except validate_data >> prepare_data,
# which is explicit: a dataset is only prepared from data that passed validation.
EDGES = {
    ("resolve_data", "validate_data"),
    ("resolve_data", "prepare_data"),
    ("validate_data", "prepare_data"),
    ("prepare_data", "train"),
    ("train", "evaluate"),
    ("prepare_data", "evaluate"),
    ("evaluate", "gate"),
    # the gate's winner is served, on the test rows prepare_data split, before anything is registered
    ("gate", "serving_check"),
    ("prepare_data", "serving_check"),
    ("serving_check", "register"),
    ("gate", "register"),
    ("resolve_data", "register"),
    ("validate_data", "register"),
    # register copies the data contract prepare_data checked onto the version.
    ("prepare_data", "register"),
    ("register", "promote"),
    ("gate", "promote"),
    # the teardown after the only leaf: it ends the DAG run's MLflow runs
    ("promote", "close_runs"),
}


def _edges(dag: DAG) -> set[tuple[str, str]]:
    return {(up, task.task_id) for task in dag.tasks for up in task.upstream_task_ids}


def _write_pipeline(folder: Path, filename: str, **overrides: Any) -> Path:
    """A copy of the example pipeline (and its suite folder) with top-level keys replaced."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "suites").exists():
        shutil.copytree(PIPELINES / "suites", folder / "suites")
    data = yaml.safe_load(EXAMPLE.read_text())
    data.update(overrides)
    path = folder / filename
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def dag() -> DAG:
    return build_retraining_dag(load_pipeline_spec(EXAMPLE), source="breast_cancer.yaml")


def test_task_ids(dag: DAG) -> None:
    assert set(dag.task_ids) == TASK_IDS
    assert dag.dag_id == DAG_ID


def test_edges_are_exactly_the_pinned_ones(dag: DAG) -> None:
    assert _edges(dag) == EDGES


def test_ordering_invariants(dag: DAG) -> None:
    train_upstream = dag.get_task("train").get_flat_relative_ids(upstream=True)
    assert {"resolve_data", "validate_data", "prepare_data"} <= train_upstream
    assert "validate_data" in dag.get_task("prepare_data").upstream_task_ids
    assert "gate" in dag.get_task("register").upstream_task_ids
    assert "register" in dag.get_task("promote").upstream_task_ids
    assert dag.get_task("promote").get_flat_relative_ids(upstream=True) == TASK_IDS - {"promote", "close_runs"}
    assert dag.get_task("close_runs").get_flat_relative_ids(upstream=True) == TASK_IDS - {"close_runs"}
    assert dag.get_task("close_runs").is_teardown
    assert [t.task_id for t in dag.roots] == ["resolve_data"]
    assert [t.task_id for t in dag.leaves] == ["close_runs"]


def test_train_is_mapped_over_the_two_candidates(dag: DAG) -> None:
    train = dag.get_task("train")
    assert isinstance(train, MappedOperator)
    candidates = train.expand_input.value["candidate"]
    assert [c["name"] for c in candidates] == ["logreg", "forest"]
    assert [c["estimator"] for c in candidates] == [
        "sklearn.linear_model.LogisticRegression",
        "sklearn.ensemble.RandomForestClassifier",
    ]
    assert candidates[0]["params"] == {"C": 1.0, "max_iter": 5000}
    assert candidates[1]["preprocessing"]["scale"] == "none"
    assert train.partial_kwargs["map_index_template"] == "{{ task.candidate['name'] }}"
    assert train.partial_kwargs["experiment"] == DAG_ID


def test_lineage_is_pinned_to_the_spec(dag: DAG) -> None:
    lineage = dag.get_task("train").partial_kwargs["lineage"]
    spec = load_pipeline_spec(EXAMPLE)
    assert lineage == {
        "spec_sha256": hashlib.sha256(spec.model_dump_json().encode()).hexdigest(),
        "spec_file": "breast_cancer.yaml",
        "package_version": __version__,
    }
    assert dag.get_task("register").lineage == lineage


def test_default_retry_policy(dag: DAG) -> None:
    assert dag.default_args == {
        "owner": "airflow",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(seconds=600),
    }
    for task in dag.tasks:
        assert task.retries == 2, task.task_id
        assert task.retry_delay == timedelta(seconds=30), task.task_id
        assert task.max_retry_delay == timedelta(seconds=600), task.task_id
        assert task.retry_exponential_backoff, task.task_id


def test_backoff_survives_serialization_as_a_doubling_multiplier(dag: DAG) -> None:
    # Airflow 3.3 reads retry_exponential_backoff as a multiplier; it must survive serialization.
    restored = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    for task in restored.tasks:
        assert task.retry_exponential_backoff == 2.0, task.task_id
        assert task.retries == 2, task.task_id


def test_spec_level_retries_override_the_defaults(tmp_path: Path) -> None:
    path = _write_pipeline(
        tmp_path,
        "fragile.yaml",
        retries={"retries": 5, "delay_seconds": 10, "backoff_multiplier": 0, "max_delay_seconds": 45},
        owner="ml-team",
    )
    dag = build_retraining_dag(load_pipeline_spec(path), source="fragile.yaml")
    assert dag.default_args["retries"] == 5
    for task in dag.tasks:
        assert task.retries == 5, task.task_id
        assert task.retry_delay == timedelta(seconds=10), task.task_id
        assert task.max_retry_delay == timedelta(seconds=45), task.task_id
        assert not task.retry_exponential_backoff, task.task_id
        assert task.owner == "ml-team", task.task_id


def test_schedule_tags_and_run_settings(dag: DAG) -> None:
    assert dag.schedule == "0 3 * * *"
    assert set(dag.tags) == {"mlops", "mlops:retraining", "demo"}
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.start_date == datetime(2024, 1, 1, tzinfo=UTC)
    assert dag.doc_md == "Retrain the breast cancer classifier when new labelled data lands."


def test_promote_emits_the_champion_asset(dag: DAG) -> None:
    outlets = dag.get_task("promote").outlets
    assert len(outlets) == 1
    asset = outlets[0]
    assert isinstance(asset, Asset)
    assert asset.uri == "mlflow://models/breast_cancer_classifier"
    assert asset.name == "mlops.champion.breast_cancer_classifier"
    for task_id in TASK_IDS - {"promote"}:
        assert not dag.get_task(task_id).outlets, task_id


def test_load_pipelines_fills_the_globals(tmp_path: Path) -> None:
    _write_pipeline(tmp_path, "breast_cancer.yaml")
    namespace: dict[str, Any] = {"unrelated": 1}
    built = load_pipelines(namespace, tmp_path)
    assert built == [DAG_ID]
    assert set(namespace) == {"unrelated", DAG_ID}
    assert isinstance(namespace[DAG_ID], DAG)
    assert namespace[DAG_ID].dag_id == DAG_ID
    assert set(namespace[DAG_ID].task_ids) == TASK_IDS


def test_load_pipelines_on_the_repo_example_folder() -> None:
    namespace: dict[str, Any] = {}
    built = load_pipelines(namespace, PIPELINES)
    assert DAG_ID in built and sorted(built) == sorted(namespace)
    lineage = namespace[DAG_ID].get_task("train").partial_kwargs["lineage"]
    assert lineage["spec_file"] == "breast_cancer.yaml"


def test_duplicate_dag_id_names_both_files(tmp_path: Path) -> None:
    first = _write_pipeline(tmp_path, "a.yaml", pipeline="same_id")
    second = _write_pipeline(tmp_path, "b.yaml", pipeline="same_id")
    with pytest.raises(PipelineConfigError) as caught:
        load_pipelines({}, tmp_path)
    message = str(caught.value)
    assert str(first) in message
    assert str(second) in message
    assert "same_id" in message
    assert len(caught.value.issues) == 1


def test_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(PipelineConfigError, match="does not exist") as caught:
        load_pipelines({}, missing)
    assert str(missing) in str(caught.value)
