"""Test-wide Airflow settings, applied before anything imports Airflow, and the test tiers.

Airflow reads AIRFLOW_HOME and its config when first imported; pointing it at a throwaway
folder here keeps tests away from a developer's ~/airflow and from each other's state. Under
pytest-xdist each worker is its own process and imports this file itself, so each worker gets
its own home.

The tier of a test is the folder it lives in (tests/unit, tests/integration, tests/distributed),
so a new test file cannot forget its marker and `make unit` cannot pick up a slow test by accident.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

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


TIERS = ("unit", "integration", "distributed")
_TESTS = Path(__file__).resolve().parent


def _tier(path: Path) -> str:
    try:
        folder = path.resolve().relative_to(_TESTS).parts[0]
    except (ValueError, IndexError):
        folder = ""
    if folder not in TIERS:
        folders = ", ".join(f"tests/{tier}/" for tier in TIERS)
        raise pytest.UsageError(f"{path}: a test file belongs in one of {folders}; the folder sets its tier")
    return folder


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups (xdist/remote.py)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its folder's tier, and keep what shares expensive state on one xdist worker.

    A file's tests share its module fixtures (an Airflow database, a trained model, an MLflow
    server), so a file is one xdist group: split across workers, each would build them again.
    The distributed tier shares one loopback stack (Postgres databases, Redis database, ports)
    per session, so all of it is one group, on one worker, started once.
    """
    for item in items:
        tier = _tier(item.path)
        other = {mark.name for mark in item.iter_markers() if mark.name in TIERS} - {tier}
        if other:
            raise pytest.UsageError(f"{item.nodeid} is marked {sorted(other)} but lives in tests/{tier}/")
        item.add_marker(tier)
        group = "distributed" if tier == "distributed" else item.path.resolve().relative_to(_TESTS).as_posix()
        item.add_marker(pytest.mark.xdist_group(group))
