"""The loopback stack every test of the tier shares, and the tier's terminal summary.

The stack takes minutes to start, so one serves the whole tier; each test runs its own pipeline
(and fault tests their own models) so they cannot see each other's results. pytest captures a
test's output and shows it only on failure; the task-to-worker table is wanted in every CI log,
so tests hand it to ``distributed_summary`` and it is printed at the end.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.distributed.faults import FAULT_PIPELINES
from tests.distributed.stack import LoopbackStack, exclusive_lock, services_reachable
from tests.distributed.tuning_pipeline import DAG_ID as TUNING_DAG_ID
from tests.distributed.tuning_pipeline import OVERRIDES as TUNING_OVERRIDES

_SECTIONS = pytest.StashKey[list[str]]()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackStack]:
    reason = services_reachable()
    if reason:
        pytest.skip(reason)
    # One loopback stack per machine at a time: concurrent runs would share the Redis database.
    with exclusive_lock(Path(tempfile.gettempdir()) / "airflow-mlops-distributed.lock"):
        deployment = LoopbackStack(tmp_path_factory.mktemp("distributed"), users={"admin": "admin-password"})
        # Written before the dag-processor starts: it lists the folder again only every 5 minutes.
        for dag_id, overrides in {**FAULT_PIPELINES, TUNING_DAG_ID: TUNING_OVERRIDES}.items():
            deployment.write_pipeline(dag_id, **overrides)
        try:
            deployment.start()
            yield deployment
        finally:
            deployment.stop()
            for name in (deployment.database, deployment.mlflow_database):
                assert not deployment.database_exists(name), f"database {name} was not dropped"


@pytest.fixture
def distributed_summary(request: pytest.FixtureRequest) -> Callable[[str], None]:
    sections = request.config.stash.setdefault(_SECTIONS, [])
    return sections.append


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    sections = config.stash.get(_SECTIONS, [])
    if sections:
        terminalreporter.write_sep("-", "distributed tier")
        for text in sections:
            terminalreporter.write_line(text)
