"""The ``[mlops]`` Airflow config section, read lazily so parsing a DAG never touches it twice.

Users set these like any Airflow option, e.g. ``AIRFLOW__MLOPS__ARTIFACT_ROOT=s3://bucket/mlops``.
"""

from __future__ import annotations

import os

from airflow_mlops.spec.models_base import DEFAULT_ALLOWED_IMPORT_PREFIXES


def _get(option: str) -> str | None:
    from airflow.sdk.configuration import conf

    value = conf.get("mlops", option, fallback=None)
    return str(value) if value not in (None, "") else None


def artifact_root() -> str:
    """Where datasets are written by reference. Default: a folder under AIRFLOW_HOME."""
    configured = _get("artifact_root")
    if configured:
        return configured.rstrip("/")
    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return "file://" + os.path.join(os.path.abspath(home), "mlops-artifacts")


def allowed_import_prefixes() -> tuple[str, ...]:
    """Import prefixes an estimator path may start with (comma-separated in config)."""
    configured = _get("allowed_import_prefixes")
    if not configured:
        return DEFAULT_ALLOWED_IMPORT_PREFIXES
    return tuple(p.strip() for p in configured.split(",") if p.strip())


def endpoints_root() -> str:
    """Where the ``local`` deployment target keeps its endpoints' state. Default: a folder under AIRFLOW_HOME."""
    configured = _get("endpoints_root")
    if configured:
        return configured
    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return os.path.join(os.path.abspath(home), "mlops-endpoints")


def environments_file() -> str | None:
    """The YAML file that declares ``environments:``, for the UI's page across environments.

    ``[mlops] environments_file``, else ``$AIRFLOW_MLOPS_ENVIRONMENTS`` (what the command reads),
    else the dags folder's ``defaults.yaml`` when it declares them; None when none is found.
    """
    configured = _get("environments_file") or os.environ.get("AIRFLOW_MLOPS_ENVIRONMENTS")
    if configured:
        return configured
    from airflow.sdk.configuration import conf

    dags_folder = conf.get("core", "dags_folder", fallback=None)
    candidate = os.path.join(str(dags_folder), "defaults.yaml") if dags_folder else None
    return candidate if candidate and os.path.isfile(candidate) else None
