"""The drift_monitor template's DAG shape, its asset contract with retraining, and the publish step; no DB."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from airflow.sdk import DAG, Asset
from airflow.sdk.definitions.xcom_arg import XComArg
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from airflow.serialization.serialized_objects import DagSerialization

from airflow_mlops.factory.drift_monitor import build_drift_monitor_dag
from airflow_mlops.factory.retraining import build_retraining_dag
from airflow_mlops.factory.templates import build_dag
from airflow_mlops.operators.drift import DriftCheckOperator, PublishDriftOperator, training_data_ref
from airflow_mlops.spec.loader import load_pipeline_spec

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "dags" / "pipelines" / "breast_cancer_drift.yaml"
RETRAINING_EXAMPLE = ROOT / "dags" / "pipelines" / "breast_cancer.yaml"
DAG_ID = "breast_cancer_drift"
MODEL = "breast_cancer_classifier"
TASK_IDS = {"resolve_data", "check_drift", "publish_drift", "close_runs"}


def _spec(tmp_path: Path, example: Path = EXAMPLE, **changes: Any) -> Any:
    data = yaml.safe_load(example.read_text())
    data.update(changes)
    path = tmp_path / f"{data['pipeline']}.yaml"
    if example == RETRAINING_EXAMPLE:
        (tmp_path / "suites").mkdir(exist_ok=True)
        (tmp_path / "suites" / "breast_cancer.yaml").write_text(
            (example.parent / "suites" / "breast_cancer.yaml").read_text()
        )
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_pipeline_spec(path)


@pytest.fixture(scope="module")
def dag() -> DAG:
    return build_drift_monitor_dag(load_pipeline_spec(EXAMPLE), source="breast_cancer_drift.yaml")


def test_task_ids_and_chain(dag: DAG) -> None:
    assert dag.dag_id == DAG_ID
    assert set(dag.task_ids) == TASK_IDS
    edges = {(up, t.task_id) for t in dag.tasks for up in t.upstream_task_ids}
    assert edges == {
        ("resolve_data", "check_drift"),
        ("check_drift", "publish_drift"),
        ("publish_drift", "close_runs"),
    }
    assert [t.task_id for t in dag.roots] == ["resolve_data"]
    assert [t.task_id for t in dag.leaves] == ["close_runs"] and dag.get_task("close_runs").is_teardown


def test_step_names_match_the_tasks() -> None:
    assert set(load_pipeline_spec(EXAMPLE).step_names()) == TASK_IDS


def test_check_reads_the_pinned_ref_and_the_spec_thresholds(dag: DAG) -> None:
    check = dag.get_task("check_drift")
    assert isinstance(check, DriftCheckOperator)
    assert isinstance(check.data, XComArg)
    assert check.data.operator.task_id == "resolve_data"
    assert (check.model_name, check.alias, check.features) == (MODEL, "champion", None)
    assert (check.psi_threshold, check.ks_pvalue, check.min_drifted_features, check.bins) == (0.2, 0.01, 1, 10)
    assert (check.experiment, check.dvc_conn_id, check.mlflow_conn_id) == (DAG_ID, "dvc_default", "mlflow_default")
    resolve = dag.get_task("resolve_data")
    assert (resolve.path, resolve.rev, resolve.dvc_conn_id) == ("data/breast_cancer.csv", "main", "dvc_default")


def test_only_publish_emits_the_drift_asset(dag: DAG) -> None:
    publish = dag.get_task("publish_drift")
    assert isinstance(publish, PublishDriftOperator)
    assert isinstance(publish.report, XComArg)
    assert publish.report.operator.task_id == "check_drift"
    [asset] = publish.outlets
    assert isinstance(asset, Asset)
    assert (asset.uri, asset.name) == (f"mlops://drift/{MODEL}", f"mlops.drift.{MODEL}")
    assert not dag.get_task("check_drift").outlets
    assert not dag.get_task("resolve_data").outlets


def test_retraining_on_drift_detected_schedules_on_the_asset_publish_emits(tmp_path: Path, dag: DAG) -> None:
    # Producer and consumer agree on the asset by name and URI, without sharing code.
    consumer = build_retraining_dag(
        _spec(tmp_path, RETRAINING_EXAMPLE, pipeline="retrain_on_drift", schedule={"on": "drift_detected"}), "r.yaml"
    )
    scheduled_on = consumer.schedule
    [emitted] = dag.get_task("publish_drift").outlets
    assert (scheduled_on.name, scheduled_on.uri) == (emitted.name, emitted.uri)
    assert type(consumer.timetable).__name__ == "AssetTriggeredTimetable"


def test_schedule_tags_and_settings(dag: DAG) -> None:
    assert dag.schedule == "@daily"
    assert set(dag.tags) == {"mlops", "mlops:drift_monitor", "demo"}
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    for task in dag.tasks:
        assert task.retries == 2, task.task_id


def test_spec_overrides_reach_the_operator(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path,
        features=["mean_radius", "mean_texture"],
        drift={"psi_threshold": 0.1, "ks_pvalue": 0.001, "min_drifted_features": 3, "bins": 20},
        model={"name": "other_model", "alias": "prod"},
        experiment="drift-exp",
        timeouts={"check_drift": 5, "publish_drift": 1},
    )
    dag = build_drift_monitor_dag(spec, "x.yaml")
    check = dag.get_task("check_drift")
    assert check.features == ["mean_radius", "mean_texture"]
    assert (check.psi_threshold, check.ks_pvalue, check.min_drifted_features, check.bins) == (0.1, 0.001, 3, 20)
    assert (check.model_name, check.alias, check.experiment) == ("other_model", "prod", "drift-exp")
    assert check.execution_timeout.total_seconds() == 300
    assert dag.get_task("publish_drift").execution_timeout.total_seconds() == 60
    assert dag.get_task("resolve_data").execution_timeout is None
    assert [a.uri for a in dag.get_task("publish_drift").outlets] == ["mlops://drift/other_model"]


def test_serializes_and_builds_through_the_template_registry(dag: DAG) -> None:
    restored = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    assert set(restored.task_ids) == TASK_IDS
    built = build_dag(load_pipeline_spec(EXAMPLE), "breast_cancer_drift.yaml")
    assert set(built.task_ids) == TASK_IDS


# -- operator parts that need no MLflow ------------------------------------------------------


def _report(drifted: bool) -> dict[str, Any]:
    top = [
        {
            "feature": "mean_radius",
            "kind": "numeric",
            "psi": 3.14159,
            "ks_statistic": 0.6,
            "ks_pvalue": 0.0,
            "drifted": True,
        },
        {
            "feature": "mean_area",
            "kind": "numeric",
            "psi": 0.05,
            "ks_statistic": 0.1,
            "ks_pvalue": 0.3,
            "drifted": False,
        },
    ]
    return {
        "model": {"name": MODEL, "alias": "champion", "version": "3"},
        "reference": {"repo": "/r", "path": "d.csv", "rev": "main", "commit": "a" * 40, "md5": "x"},
        "current": {"repo": "/r", "path": "d.csv", "rev": "main", "commit": "b" * 40, "md5": "y"},
        "summary": {
            "drifted": drifted,
            "n_drifted": 1 if drifted else 0,
            "features_checked": 30,
            "min_drifted_features": 1,
            "drifted_features": ["mean_radius"] if drifted else [],
        },
        "top_features": top if drifted else [{**t, "drifted": False} for t in top],
        "mlflow_run_id": "run-1",
    }


class _OutletEvents(dict[Any, Any]):
    def __missing__(self, key: Any) -> SimpleNamespace:
        self[key] = SimpleNamespace(extra={})
        return self[key]


def _publish() -> PublishDriftOperator:
    return PublishDriftOperator(task_id="publish_drift", report={}, outlets=[Asset(name="d", uri="mlops://drift/m")])


def test_publish_skips_without_drift() -> None:
    op = _publish()
    op.report = _report(drifted=False)
    events = _OutletEvents()
    with pytest.raises(AirflowSkipException, match="no drift: 0 of 30 features drifted, 1 needed"):
        op.execute({"outlet_events": events})  # type: ignore[arg-type]
    assert not events


def test_publish_sets_the_event_extra_on_drift() -> None:
    op = _publish()
    op.report = _report(drifted=True)
    events = _OutletEvents()
    extra = op.execute({"outlet_events": events})  # type: ignore[arg-type]
    assert extra == {
        "model_name": MODEL,
        "model_version": "3",
        "data_path": "d.csv",
        "data_commit": "b" * 40,
        "reference_commit": "a" * 40,
        "n_drifted": 1,
        "features_checked": 30,
        "top_features": [{"feature": "mean_radius", "psi": 3.1416}],
        "mlflow_run_id": "run-1",
    }
    [event] = events.values()
    assert event.extra == extra


def test_training_data_ref_comes_from_lineage_tags() -> None:
    tags = {
        f"mlops.data.{k}": v for k, v in {"repo": "/r", "path": "d.csv", "rev": "v1", "commit": "c", "md5": "m"}.items()
    }
    version = SimpleNamespace(name=MODEL, version="2", tags=tags)
    assert training_data_ref(version) == {"repo": "/r", "path": "d.csv", "rev": "v1", "commit": "c", "md5": "m"}  # type: ignore[arg-type]
    with pytest.raises(AirflowFailException, match=r"version 2 has no training-data lineage \(mlops.data.commit"):
        training_data_ref(
            SimpleNamespace(name=MODEL, version="2", tags={"mlops.data.repo": "/r", "mlops.data.path": "d"})
        )  # type: ignore[arg-type]
