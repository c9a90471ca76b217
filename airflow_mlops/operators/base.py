"""What every airflow-mlops operator shares: who is running (DAG and run ids) and MLflow access."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_mlops.hooks.mlflow import MlflowHook

if TYPE_CHECKING:
    from airflow.sdk import Context


def run_identity(context: Context) -> tuple[str, str]:
    """(dag_id, run_id): the key every MLflow object of one pipeline run is tagged with."""
    dag_run = context["dag_run"]
    return str(dag_run.dag_id), str(dag_run.run_id)


class MlflowOperatorMixin:
    """Lazily builds the MLflow hook so constructing the operator at parse time costs nothing."""

    mlflow_conn_id: str

    @cached_property
    def mlflow_hook(self) -> MlflowHook:
        return MlflowHook(self.mlflow_conn_id)


class MlopsBaseOperator(BaseOperator):
    """Marker base class: the UI plugin lists DAGs built from these operators."""

    ui_color = "#e8f0fe"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
