"""Operator extra links: computed on the worker from the task's own return value."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.serialization.serialized_objects import DagSerialization

from airflow_mlops import links
from airflow_mlops.factory.retraining import build_retraining_dag
from airflow_mlops.operators.registry import PromoteModelOperator, RegisterModelOperator
from airflow_mlops.operators.train import TrainCandidateOperator
from airflow_mlops.operators.validation import ValidateDataOperator
from airflow_mlops.spec.loader import load_pipeline_spec

EXAMPLE = Path(__file__).resolve().parents[3] / "dags" / "pipelines" / "breast_cancer.yaml"
RUN_ID = "manual__2026-01-01T00:00:00+00:00"
KEY = SimpleNamespace(dag_id="my_dag", task_id="train", run_id=RUN_ID, map_index=0, try_number=1)


def _operator(tracking_uri: str) -> Any:
    return SimpleNamespace(mlflow_hook=SimpleNamespace(tracking_uri=tracking_uri))


@pytest.fixture
def returned(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    value: dict[str, Any] = {}
    monkeypatch.setattr(links, "_return_value", lambda ti_key: value.get("xcom"))
    monkeypatch.setattr(links, "_api_base_url", lambda: "https://airflow.example.com/")
    return value


def test_mlflow_run_opens_the_mlflow_ui_of_a_tracking_server(returned: dict[str, Any]) -> None:
    returned["xcom"] = {"mlflow_run_id": "abc123", "experiment_id": "7"}
    url = links.MlflowRunLink().get_link(_operator("https://user:s3cret@mlflow.example.com/"), ti_key=KEY)
    assert url == "https://mlflow.example.com/#/experiments/7/runs/abc123"


def test_mlflow_run_without_experiment_lets_the_mlflow_ui_find_it(returned: dict[str, Any]) -> None:
    returned["xcom"] = {"mlflow_run_id": "abc123"}
    url = links.MlflowRunLink().get_link(_operator("http://mlflow:5000"), ti_key=KEY)
    assert url == "http://mlflow:5000/#/runs/abc123"


def test_mlflow_run_of_a_store_without_ui_opens_the_plugin_page(returned: dict[str, Any]) -> None:
    returned["xcom"] = {"mlflow_run_id": "abc123", "experiment_id": "7"}
    url = links.MlflowRunLink().get_link(_operator("sqlite:////data/mlflow.db"), ti_key=KEY)
    assert url == "https://airflow.example.com/mlops/mlflow-runs/abc123"


@pytest.mark.parametrize("xcom", [None, {}, {"mlflow_run_id": ""}, "not a dict"])
def test_no_run_no_link(returned: dict[str, Any], xcom: Any) -> None:
    returned["xcom"] = xcom
    assert links.MlflowRunLink().get_link(_operator("http://mlflow:5000"), ti_key=KEY) == ""


def test_model_version(returned: dict[str, Any]) -> None:
    returned["xcom"] = {"model_name": "churn model", "version": "3"}
    server = links.ModelVersionLink().get_link(_operator("http://mlflow:5000/"), ti_key=KEY)
    assert server == "http://mlflow:5000/#/models/churn%20model/versions/3"
    plugin = links.ModelVersionLink().get_link(_operator("sqlite:///x.db"), ti_key=KEY)
    assert plugin == "https://airflow.example.com/mlops/models/churn%20model/versions/3"


def test_skipped_register_has_no_model_version_link(returned: dict[str, Any]) -> None:
    returned["xcom"] = None
    assert links.ModelVersionLink().get_link(_operator("http://mlflow:5000"), ti_key=KEY) == ""


def test_validation_report_needs_no_return_value(returned: dict[str, Any]) -> None:
    """A failed validation returns nothing, and that is exactly when the report matters."""
    url = links.ValidationReportLink().get_link(_operator("http://mlflow:5000"), ti_key=KEY)
    assert url == (
        "https://airflow.example.com/mlops/dags/my_dag/runs/manual__2026-01-01T00%3A00%3A00%2B00%3A00/validation"
    )


def test_without_base_url_links_are_root_relative(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(links, "_api_base_url", lambda: "")
    assert links.ValidationReportLink().get_link(_operator("x"), ti_key=KEY).startswith("/mlops/dags/my_dag/")


def test_operators_carry_the_links() -> None:
    def names(cls: type) -> set[str]:
        return {link.name for link in cls.operator_extra_links}  # type: ignore[attr-defined]

    assert names(TrainCandidateOperator) == {"MLflow run"}
    assert names(ValidateDataOperator) == {"MLflow run", "Validation report"}
    assert names(RegisterModelOperator) == {"Model version"}
    assert names(PromoteModelOperator) == set()


def test_links_survive_dag_serialization() -> None:
    """The API server renders links from the serialized DAG: ``{name: xcom_key}`` per task."""
    dag = build_retraining_dag(load_pipeline_spec(EXAMPLE), source="breast_cancer.yaml")
    tasks = {t["__var"]["task_id"]: t["__var"] for t in DagSerialization.to_dict(dag)["dag"]["tasks"]}
    assert tasks["train"]["_operator_extra_links"] == {"MLflow run": "_link_MlflowRunLink"}
    assert tasks["validate_data"]["_operator_extra_links"] == {
        "Validation report": "_link_ValidationReportLink",
        "MLflow run": "_link_MlflowRunLink",
    }
    assert tasks["register"]["_operator_extra_links"] == {"Model version": "_link_ModelVersionLink"}
