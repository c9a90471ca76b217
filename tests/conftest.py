"""Test-wide Airflow settings, applied before anything imports Airflow.

Airflow reads AIRFLOW_HOME and its config when first imported; pointing it at a throwaway
folder here keeps tests away from a developer's ~/airflow and from each other's state.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator

import pytest

_HOME = tempfile.mkdtemp(prefix="airflow-mlops-tests-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@pytest.fixture(autouse=True)
def _restore_process_state() -> Iterator[None]:
    """Undo what a test leaves in the environment and in MLflow's process-wide state.

    Named so that no test module's own fixture can shadow it by accident (one did, and its
    leaked ``MLFLOW_REGISTRY_URI`` sent a later subprocess to a server that does not exist).

    ``mlflow.set_tracking_uri``/``set_registry_uri`` (called by MlflowHook.session() when a
    test runs an operator in-process) set module globals and MLFLOW_* environment variables;
    a later test's client or subprocess would silently talk to a deleted store.
    """
    saved = dict(os.environ)  # the whole environment: tests (and in-process CLI calls) set variables
    yield
    os.environ.clear()
    os.environ.update(saved)
    if "mlflow" in sys.modules:
        from mlflow.tracking import _model_registry, _tracking_service

        _tracking_service.utils._tracking_uri = None
        _model_registry.utils._registry_uri = None
