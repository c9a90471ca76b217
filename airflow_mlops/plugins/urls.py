"""Where each page of the ML view lives, shared by the server (the plugin app) and the workers (extra links).

Standard library only: the operators import this through ``airflow_mlops.links`` at DAG parse
time. Every path is relative to the plugin's mount point, ``URL_PREFIX`` under Airflow's own
base URL; each variable segment is percent-encoded, so a run id like
``manual__2026-01-01T00:00:00+00:00`` (or one holding ``/`` or ``#``) survives the round trip.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

URL_PREFIX = "/mlops"


def _q(value: str) -> str:
    return quote(str(value), safe="")


def pipelines_path() -> str:
    return "/pipelines"


def run_path(dag_id: str, run_id: str) -> str:
    return f"/dags/{_q(dag_id)}/runs/{_q(run_id)}"


def validation_path(dag_id: str, run_id: str) -> str:
    return f"{run_path(dag_id, run_id)}/validation"


def dag_model_path(dag_id: str) -> str:
    return f"/dags/{_q(dag_id)}/model"


def model_path(model_name: str) -> str:
    return f"/models/{_q(model_name)}"


def model_version_path(model_name: str, version: str) -> str:
    return f"{model_path(model_name)}/versions/{_q(version)}"


def model_card_markdown_path(model_name: str, version: str) -> str:
    return f"{model_version_path(model_name, version)}/model_card.md"


def environments_path() -> str:
    return "/environments"


def mlflow_run_path(mlflow_run_id: str) -> str:
    return f"/mlflow-runs/{_q(mlflow_run_id)}"


def mlflow_ui_run(ui_base: str, mlflow_run_id: str, experiment_id: str | None = None) -> str:
    """A run in the MLflow UI; without the experiment id the UI looks it up itself (``#/runs/<id>``)."""
    run = _q(mlflow_run_id)
    if experiment_id:
        return f"{ui_base.rstrip('/')}/#/experiments/{_q(experiment_id)}/runs/{run}"
    return f"{ui_base.rstrip('/')}/#/runs/{run}"


def mlflow_ui_model_version(ui_base: str, model_name: str, version: str) -> str:
    return f"{ui_base.rstrip('/')}/#/models/{_q(model_name)}/versions/{_q(version)}"


def absolute(base_url: str, path: str) -> str:
    """``path`` (from the functions above) under Airflow's ``[api] base_url``; root-relative without one."""
    return f"{base_url.rstrip('/')}{URL_PREFIX}{path}"


def without_userinfo(url: str) -> str:
    """``url`` minus any ``user:password@``: a tracking URI or git remote may carry credentials.

    Everything the ML view shows or links to passes through here first, so a password put in a
    connection host (``http://user:secret@mlflow:5000``) never reaches a page or an XCom.
    """
    if "@" not in url:
        return url
    try:
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            return url
        netloc = parts.netloc.rpartition("@")[2]
    except ValueError:
        return url
    return urlunsplit(parts._replace(netloc=netloc))
