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
from typing import Any

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its folder's tier; run the costly tiers first.

    The order is distributed, integration, unit (stable, so a file's tests stay together): under
    xdist the longest work units then start first and the short unit files fill the gaps at the end.
    """
    for item in items:
        tier = _tier(item.path)
        other = {mark.name for mark in item.iter_markers() if mark.name in TIERS} - {tier}
        if other:
            raise pytest.UsageError(f"{item.nodeid} is marked {sorted(other)} but lives in tests/{tier}/")
        item.add_marker(tier)
    items.sort(key=lambda item: (-TIERS.index(_tier(item.path)), _FIRST.get(_relative(item.path), 0)))


#: Files that share a session fixture run on one worker, as one scope (see ``_xdist_scope``):
#: test_ui.py and test_demo.py read one demo run, the environments files use one pair of MLflow
#: servers (tests/integration/conftest.py's ``demo_clone`` and ``servers``).
_SHARED_SCOPES = {
    "tests/integration/test_ui.py": "tests/integration/demo_clone",
    "tests/integration/test_demo.py": "tests/integration/demo_clone",
    "tests/integration/test_environments.py": "tests/integration/servers",
    "tests/integration/test_environments_dag.py": "tests/integration/servers",
}
#: Files that must run before the rest of their tier: test_ui.py only reads the shared demo, and
#: test_demo.py's drill then rolls its champion back and stops its endpoint.
_FIRST = {"tests/integration/test_ui.py": -1}


def _relative(path: Path) -> str:
    try:
        return path.resolve().relative_to(_TESTS.parent).as_posix()
    except ValueError:
        return str(path)


def _xdist_scope(nodeid: str) -> str:
    """What one xdist worker runs as a whole: a test file, files sharing a session fixture, or the distributed tier.

    A file's tests share its module fixtures (an Airflow database, trained models, an MLflow or API
    server); split across workers, each would build them again. The distributed tier shares one
    loopback stack per session (Postgres databases, Redis database 7 under a machine-wide lock), so
    it runs on one worker: on two, the second would wait for the first worker's whole session.
    """
    path = nodeid.split("::", 1)[0]
    return "tests/distributed" if path.startswith("tests/distributed/") else _SHARED_SCOPES.get(path, path)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Schedule by ``_xdist_scope`` whatever load mode was asked for.

    Not ``--dist loadgroup`` with ``xdist_group`` marks: pytest-xdist 3.8.0 marks a group by
    rewriting ``item._nodeid``, which pytest 9.2 no longer reads (pytest-xdist issue #1386), so the
    groups are silently ignored and tests are spread one by one.
    """
    if config.getvalue("dist") in ("each", "no"):
        return None
    from xdist.scheduler import LoadScopeScheduling

    class TierScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return _xdist_scope(nodeid)

    config.option.loadscopereorder = False  # keep the tier order above, not "most tests first"
    return TierScheduling(config, log)
