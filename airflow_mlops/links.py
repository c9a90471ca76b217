"""Operator extra links: "MLflow run", "Model version" and "Validation report" buttons on our tasks.

In Airflow 3 the worker calls ``get_link`` once, when the task ends (success or failure), and
stores the URL in XCom; the API server only reads it back. So each link is computed from what
the task itself returned (its XCom ``return_value``), on the worker, with the task's MLflow
connection:

- when that connection points at an MLflow tracking *server* (``http(s)://``), the buttons open
  the MLflow UI on the exact run or model version;
- otherwise (a ``sqlite:///`` store has no UI) they open the matching page of the ML view that
  the airflow-mlops plugin serves inside Airflow, under ``[api] base_url``.

"Validation report" always opens the plugin's report, which reads the stored Great
Expectations result from MLflow: it exists even when validation failed and the task returned
nothing. Credentials in a tracking URI never end up in a link.

Import-light (standard library and ``airflow.sdk``): operators import this at DAG parse time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

from airflow_mlops.plugins import urls

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey


def _return_value(ti_key: TaskInstanceKey) -> Any:
    from airflow.sdk.execution_time.xcom import XCom

    return XCom.get_value(ti_key=ti_key, key="return_value")


def _api_base_url() -> str:
    from airflow.sdk.configuration import conf

    return str(conf.get("api", "base_url", fallback="") or "")


def _mlflow_ui_base(operator: BaseOperator) -> str | None:
    """The MLflow UI of the task's tracking server, or None for a store without one (sqlite, file)."""
    hook = getattr(operator, "mlflow_hook", None)
    if hook is None:
        return None
    uri = str(hook.tracking_uri)
    if not uri.startswith(("http://", "https://")):
        return None
    return urls.without_userinfo(uri).rstrip("/")


def _plugin_url(path: str) -> str:
    return urls.absolute(_api_base_url(), path)


def mlflow_run_url(operator: BaseOperator, mlflow_run_id: str, experiment_id: str | None = None) -> str:
    base = _mlflow_ui_base(operator)
    if base is None:
        return _plugin_url(urls.mlflow_run_path(mlflow_run_id))
    return urls.mlflow_ui_run(base, mlflow_run_id, experiment_id)


def model_version_url(operator: BaseOperator, model_name: str, version: str) -> str:
    base = _mlflow_ui_base(operator)
    if base is None:
        return _plugin_url(urls.model_version_path(model_name, version))
    return urls.mlflow_ui_model_version(base, model_name, version)


class MlflowRunLink(BaseOperatorLink):
    """The MLflow run the task wrote to: a candidate's run for ``train``, the pipeline run for validation."""

    name = "MLflow run"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        result = _return_value(ti_key)
        if not isinstance(result, dict) or not result.get("mlflow_run_id"):
            return ""
        experiment_id = result.get("experiment_id")
        return mlflow_run_url(operator, str(result["mlflow_run_id"]), str(experiment_id) if experiment_id else None)


class ModelVersionLink(BaseOperatorLink):
    """The model version ``register`` created (none when the gate rejected and the task skipped)."""

    name = "Model version"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        result = _return_value(ti_key)
        if not isinstance(result, dict) or not result.get("model_name") or not result.get("version"):
            return ""
        return model_version_url(operator, str(result["model_name"]), str(result["version"]))


class ValidationReportLink(BaseOperatorLink):
    """The plugin's page for this DAG run's Great Expectations result, passed or failed."""

    name = "Validation report"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        return _plugin_url(urls.validation_path(ti_key.dag_id, ti_key.run_id))
