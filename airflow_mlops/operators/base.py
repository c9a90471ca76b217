"""What every airflow-mlops operator shares: who is running (DAG and run ids), MLflow access, typed inputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar, Union, cast

from airflow.sdk import BaseOperator

from airflow_mlops.hooks.mlflow import MlflowHook

if TYPE_CHECKING:
    from airflow.sdk import Context, XComArg
    from pydantic import JsonValue

T = TypeVar("T")
#: A task input as the DAG passes it: the value itself, or the output of the task that produces it.
Upstream = Union[T, "XComArg"]  # a string: XComArg is only imported for type checking


def upstream(value: Upstream[T]) -> T:
    """A templated input as ``execute()`` sees it: the upstream task's return value.

    When the DAG is built the input is usually an ``XComArg``; Airflow renders every templated
    field before ``execute()`` runs, replacing it with what that task returned (its contract in
    airflow_mlops.contracts). The attribute is typed for ``execute()``, the only place it is read,
    and this is the one place that says so.
    """
    return cast("T", value)


def upstream_each(value: Upstream[Sequence[Upstream[T]]]) -> Sequence[T]:
    """:func:`upstream` for a list of inputs (one per upstream task) or one mapped task's outputs."""
    return cast("Sequence[T]", value)


def event_extra(record: Mapping[str, Any]) -> dict[str, JsonValue]:
    """A contract (or part of one) as an asset event's extra: a copy, since Airflow keeps the dict.

    Contracts hold JSON values only, which a TypedDict cannot promise mypy; XCom would refuse
    anything else before the event is stored.
    """
    return dict(record)


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


class MlflowBaseOperator(MlflowOperatorMixin, MlopsBaseOperator):
    """An operator that talks to MLflow through the connection ``mlflow_conn_id``.

    The hook is built on first use (``mlflow_hook``), so constructing the operator at parse time
    reads no connection. Operator links find the tracking server through the same hook.
    """

    def __init__(self, *, mlflow_conn_id: str = MlflowHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mlflow_conn_id = mlflow_conn_id
