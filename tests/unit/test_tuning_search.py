"""ml/tuning.py with an in-memory trial log: the budget, the timeout, pruning, a search where nothing completes."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from airflow_mlops.errors import ConfigurationError
from airflow_mlops.ml.tuning import TrialRecord, tune

SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0, "log": False, "step": None}}


class MemoryLog:
    def __init__(self, finished: list[TrialRecord] | None = None) -> None:
        self.finished: list[TrialRecord] = list(finished or [])
        self.started: list[int] = []

    def recover(self) -> list[TrialRecord]:
        return list(self.finished)

    def recorded(self) -> list[TrialRecord]:
        return list(self.finished)

    def start(self, number: int, params: Mapping[str, Any]) -> str:
        self.started.append(number)
        return str(number)

    def finish(self, handle: str, record: TrialRecord) -> None:
        self.finished.append(record)


def _search(log: MemoryLog, score: Any, **tuning: Any) -> Any:
    block = {"space": SPACE, "n_trials": 6, "sampler": "random", "pruner": "none", **tuning}
    return tune(score, tuning=block, direction="higher", seed=0, log=log)


def test_the_best_of_the_budget_wins_and_recovered_trials_count_toward_it() -> None:
    earlier = [TrialRecord(0, {"x": 0.99}, "complete", 0.99, {0: 0.99}), TrialRecord(1, {"x": 0.5}, "fail", error="E")]
    log = MemoryLog(earlier)
    result = _search(log, lambda p: iter([p["x"]]))
    assert log.started == [2, 3, 4, 5] and result.resumed == 2
    assert result.best_params == {"x": 0.99} and result.best_trial == 0  # the recovered trial is still the best
    assert (result.complete, result.failed) == (5, 1)


def test_the_timeout_stops_starting_trials() -> None:
    def slow(params: dict[str, Any]) -> Iterator[float]:
        time.sleep(0.2)
        yield params["x"]

    log = MemoryLog()
    result = _search(log, slow, timeout_seconds=0.1)
    assert log.started == [0] and result.complete == 1


def test_a_pruned_trial_stops_after_the_fold_that_pruned_it() -> None:
    folds_run: list[int] = []

    def score(params: dict[str, Any]) -> Iterator[float]:
        for fold in range(3):
            folds_run.append(fold)
            yield params["x"]

    log = MemoryLog()
    result = _search(log, score, n_trials=12, pruner="median")
    assert result.pruned >= 1 and len(folds_run) < 12 * 3
    assert all(r.state in ("complete", "pruned") for r in log.finished)


def test_when_no_trial_completes_the_first_error_is_named() -> None:
    def broken(params: dict[str, Any]) -> Iterator[float]:
        raise ValueError("bad x")
        yield 0.0

    with pytest.raises(
        ConfigurationError, match=r"no tuning trial completed \(3 tried\); the first error: ValueError: bad x"
    ):
        _search(MemoryLog(), broken, n_trials=3)
