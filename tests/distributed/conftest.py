"""Show what the distributed tier observed in the terminal summary, even under ``pytest -q``.

pytest captures a test's output and shows it only on failure; the task-to-worker table is
wanted in every CI log, so tests hand it to ``distributed_summary`` and it is printed at the end.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

_SECTIONS = pytest.StashKey[list[str]]()


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
