"""The unit tier runs in this process only: starting any other process fails the test.

``make unit`` promises minutes, not the half hour of the whole suite. Each test that shells out
to the ``airflow`` CLI, pip or a clean interpreter costs seconds, and a few of them would undo that
promise without anyone noticing. Such a test belongs in tests/integration/, and this says so.

The guard wraps every phase of a unit test (setup, call, teardown) and the import of its module,
rather than being a function-scoped autouse fixture: module- and session-scoped fixtures are set
up before any function-scoped fixture and would slip past one. It is a hook of this folder's
conftest, so it covers tests under tests/unit/ only, also when xdist mixes tiers on one worker.
"""

from __future__ import annotations

import multiprocessing.process
import os
import subprocess
import sys
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

# Libraries that ask the machine about itself, once per process and in milliseconds; whichever
# test happens to be first would be blamed for them. The standard library's platform module runs
# `uname -p` and `file -b python` (MLflow and croniter call it while they are imported); MLflow
# tags each run with the git commit of the main file through GitPython (`git version`,
# `git check-ignore`), resolved once per process.
_LIBRARY_PROBES = {"platform", "git.cmd"}

_ADVICE = (
    "a unit test started a process ({what}); the unit tier runs in-process only. "
    "Call the code in this process, or move the test to tests/integration/."
)


class SubprocessInUnitTest(BaseException):
    """A BaseException, so library code catching ``Exception`` or ``OSError`` cannot swallow it."""


def _called_by_a_library_probe() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_globals.get("__name__") in _LIBRARY_PROBES:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _refuse(what: str, seen: list[str], original: Callable[..., Any]) -> Callable[..., Any]:
    def refused(*args: Any, **kwargs: Any) -> Any:
        if _called_by_a_library_probe():
            return original(*args, **kwargs)
        seen.append(what)
        raise SubprocessInUnitTest(_ADVICE.format(what=what))

    return refused


@contextmanager
def _no_processes() -> Iterator[list[str]]:
    """Every way this interpreter starts a process, refused; yields what was tried."""
    seen: list[str] = []
    targets: list[tuple[Any, str, str]] = [
        (subprocess.Popen, "_execute_child", "subprocess.Popen"),  # run/call/check_output, os.popen, asyncio
        (multiprocessing.process.BaseProcess, "start", "multiprocessing Process.start"),  # and process pools
        (os, "posix_spawn", "os.posix_spawn"),
        (os, "posix_spawnp", "os.posix_spawnp"),
        (os, "fork", "os.fork"),
        (os, "forkpty", "os.forkpty"),
        (os, "system", "os.system"),
    ]
    with pytest.MonkeyPatch.context() as patcher:
        for owner, name, label in targets:
            if hasattr(owner, name):
                patcher.setattr(owner, name, _refuse(label, seen, getattr(owner, name)))
        yield seen


def _guarded() -> Generator[None, Any, Any]:
    with _no_processes() as seen:
        result = yield
    if seen:  # also when the code under test caught the refusal and carried on
        pytest.fail(_ADVICE.format(what=", ".join(seen)), pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, Any, Any]:
    return (yield from _guarded())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    return (yield from _guarded())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, Any]:
    return (yield from _guarded())


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """Importing a unit test module must not start a process either; the module then fails to collect."""
    with _no_processes() as seen:
        report = yield
    if seen and report.outcome != "failed":
        report.outcome = "failed"
        report.longrepr = _ADVICE.format(what=", ".join(seen))
    return report


@pytest.fixture
def listener(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Airflow's own StatsD backend, chosen from [metrics] as the CLI chooses it, sending to a real UDP socket.

    Yields a ``tests.statsd_capture.StatsdListener``; afterwards metrics go nowhere again.
    """
    from airflow.sdk._shared.observability.metrics.base_stats_logger import NoStatsLogger
    from airflow.sdk.observability import stats

    from airflow_mlops.observability import emit
    from tests.statsd_capture import StatsdListener

    udp = StatsdListener()
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(udp.port))
    emit.use_airflow_config()
    yield udp
    stats.initialize(factory=NoStatsLogger, export_legacy_names=False)
    udp.close()
