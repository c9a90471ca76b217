"""Fixtures more than one integration file reads."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration import demo_clone as _demo_clone
from tests.integration.demo_clone import DemoClone
from tests.integration.harness import MlflowServer


@pytest.fixture(scope="session")
def demo_clone() -> Iterator[DemoClone]:
    """One `make demo` run, shared by test_ui.py and test_demo.py (see tests/integration/demo_clone.py)."""
    yield from _demo_clone.demo_clone()


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, MlflowServer]]:
    """Development's and production's `mlflow server`, for test_environments.py and test_environments_dag.py.

    Both files use models of their own names on them, so they share the two servers rather than
    start two each (tests/conftest.py schedules them on one worker).
    """
    from concurrent.futures import ThreadPoolExecutor

    started = {name: MlflowServer(tmp_path_factory.mktemp(f"env-{name}")) for name in ("dev", "prod")}
    try:
        # Both start at once: each spends most of a minute importing MLflow on a busy machine.
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda server: server.start(timeout=240), started.values()))
        yield started
    finally:
        for server in started.values():
            server.stop()
