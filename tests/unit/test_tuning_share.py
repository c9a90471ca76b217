"""A search spread over workers (ml/tuning_study.py, ml/tuning.tune_share): the share, the seeds, the rebuilt study.

The workers here share one in-memory trial log, as the real ones share the trial runs in MLflow.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from airflow_mlops.errors import ConfigurationError
from airflow_mlops.ml.tuning import TrialRecord, distributions, summary, tune, tune_share
from airflow_mlops.ml.tuning_study import best, fitting, rebuild, share, trial_seed

SPACE = {
    "x": {"type": "float", "low": 0.0, "high": 1.0, "log": False, "step": None},
    "k": {"choices": ["a", "b", "c"]},
}


class SharedLog:
    """One trial log for every worker; ``task`` tags what each worker started."""

    def __init__(self, finished: list[TrialRecord] | None = None) -> None:
        self.finished: list[TrialRecord] = list(finished or [])
        self.started: list[tuple[str, int]] = []
        self.reads = 0
        self.task = ""

    def recover(self) -> list[TrialRecord]:
        return list(self.finished)

    def recorded(self) -> list[TrialRecord]:
        self.reads += 1
        return list(self.finished)

    def start(self, number: int, params: Mapping[str, Any]) -> str:
        self.started.append((self.task, number))
        return str(number)

    def finish(self, handle: str, record: TrialRecord) -> None:
        self.finished.append(record)


def objective(params: dict[str, Any]) -> Iterator[float]:
    bonus = {"a": 0.0, "b": 0.1, "c": 0.05}[params["k"]]
    yield -((params["x"] - 0.3) ** 2) + bonus


def _block(**fields: Any) -> dict[str, Any]:
    return {"space": SPACE, "n_trials": 8, "sampler": "random", "pruner": "none", **fields}


def _spread(workers: int, block: dict[str, Any], seed: int = 7) -> SharedLog:
    log = SharedLog()
    for worker in range(workers):
        log.task = f"w{worker}"
        tune_share(objective, tuning=block, direction="higher", seed=seed, log=log,
                   numbers=share(int(block["n_trials"]), workers, worker))  # fmt: skip
    return log


def test_the_share_deals_every_trial_number_to_exactly_one_worker() -> None:
    assert share(10, 3, 0) == [0, 3, 6, 9] and share(10, 3, 1) == [1, 4, 7] and share(10, 3, 2) == [2, 5, 8]
    for n_trials, workers in ((1, 1), (7, 2), (20, 4), (5, 5)):
        dealt = [n for w in range(workers) for n in share(n_trials, workers, w)]
        assert sorted(dealt) == list(range(n_trials))
    with pytest.raises(ValueError, match="worker 2 is not one of 2 workers"):
        share(4, 2, 2)


def test_trial_seeds_are_stable_and_do_not_overlap_between_neighbouring_seeds() -> None:
    assert trial_seed(7, 3) == trial_seed(7, 3)
    seeds = {trial_seed(s, n) for s in range(5) for n in range(50)}
    assert len(seeds) == 250  # seed s's trial n+1 is not seed s+1's trial n


def test_the_rebuilt_study_holds_the_recorded_trials_in_number_order() -> None:
    from optuna.trial import TrialState

    dists = distributions(SPACE)
    records = [
        TrialRecord(3, {"x": 0.5, "k": "a"}, "pruned", 0.2, {0: 0.2}),
        TrialRecord(0, {"x": 0.1, "k": "b"}, "complete", 0.4, {0: 0.3, 1: 0.4}),
        TrialRecord(1, {"x": 0.2, "k": "c"}, "fail", None, {}, "E"),
        TrialRecord(2, {"x": 7.0, "k": "a"}, "complete", 0.9),  # outside today's range: left out
        TrialRecord(4, {"y": 1.0}, "complete", 0.9),  # another space: left out
    ]
    kept = fitting(records, dists)
    assert [r.number for r in kept] == [0, 1, 3]
    study = rebuild(kept, dists, direction="higher", pruner_name="median")
    trials = study.get_trials(deepcopy=False)
    assert [t.params["x"] for t in trials] == [0.1, 0.2, 0.5]
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED]
    assert trials[0].intermediate_values == {0: 0.3, 1: 0.4} and study.best_value == 0.4


def test_the_best_trial_ties_to_the_lowest_number_either_direction() -> None:
    records = [
        TrialRecord(5, {}, "complete", 0.8),
        TrialRecord(2, {}, "complete", 0.8),
        TrialRecord(1, {}, "complete", math.nan),
        TrialRecord(0, {}, "pruned", 0.99),
        TrialRecord(4, {}, "complete", 0.1),
    ]
    assert best(records, "higher").number == 2  # type: ignore[union-attr]
    assert best(records, "lower").number == 4  # type: ignore[union-attr]
    assert best([TrialRecord(0, {}, "fail", error="E")], "higher") is None
    with pytest.raises(ConfigurationError, match=r"no tuning trial completed \(1 tried\); the first error: E"):
        summary([TrialRecord(0, {}, "fail", error="E")], "higher", resumed=0)


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_same_seed_same_trials_and_best_with_one_worker_or_three(sampler: str) -> None:
    # random draws by (seed, number) alone; TPE too while every trial is one of its 10 random startup trials
    block = _block(sampler=sampler)
    serial = SharedLog()
    result = tune(objective, tuning=block, direction="higher", seed=7, log=serial)
    spread = _spread(3, block)
    by_number = {r.number: r for r in spread.finished}
    assert {r.number: r.params for r in serial.finished} == {n: r.params for n, r in by_number.items()}
    assert summary(spread.finished, "higher", resumed=0).best_trial == result.best_trial
    assert sorted(n for _, n in spread.started) == list(range(8))
    assert {n for t, n in spread.started if t == "w1"} == {1, 4, 7}


def test_a_retried_worker_runs_only_the_trials_of_its_share_not_recorded_yet() -> None:
    block = _block()
    done = _spread(2, block)
    # worker 1's first try finished trial 1 only; worker 0 had finished all of its share
    earlier = [r for r in done.finished if r.number != 3 and r.number != 5 and r.number != 7]
    log = SharedLog(earlier)
    log.task = "w1 retry"
    result = tune_share(objective, tuning=block, direction="higher", seed=7, log=log, numbers=share(8, 2, 1))
    assert result.ran == [3, 5, 7] and result.resumed == 1 and result.complete == 3
    # the retry drew the same points the uninterrupted worker did: the seed is the trial's, not the attempt's
    redone = {r.number: r.params for r in log.finished if r.number in (3, 5, 7)}
    assert redone == {r.number: r.params for r in done.finished if r.number in (3, 5, 7)}
    assert log.reads == 2  # the study was rebuilt from the shared log before every ask but the first


def test_a_share_of_the_whole_search_rebuilds_from_its_own_records_not_from_the_log() -> None:
    # no other worker records trials, so reading the log per trial would bring back what is in hand;
    # TPE past its 10 random startup trials reads the history: the same history, the same draws
    block = _block(sampler="tpe", n_trials=14)
    alone = SharedLog()
    tune_share(objective, tuning=block, direction="higher", seed=7, log=alone, numbers=share(14, 1, 0))
    assert alone.reads == 0
    shared = SharedLog()  # the same 14 numbers as one share of 15: the study rebuilt from the log before each ask
    tune_share(objective, tuning={**block, "n_trials": 15}, direction="higher", seed=7, log=shared,
               numbers=list(range(14)))  # fmt: skip
    assert shared.reads == 13
    assert [(r.number, r.params, r.value) for r in alone.finished] == [
        (r.number, r.params, r.value) for r in shared.finished
    ]


def test_a_retried_worker_alone_in_its_search_still_resumes() -> None:
    block = _block()
    done = _spread(1, block)
    earlier = [r for r in done.finished if r.number not in (3, 5, 7)]
    log = SharedLog(earlier)
    result = tune_share(objective, tuning=block, direction="higher", seed=7, log=log, numbers=share(8, 1, 0))
    assert result.ran == [3, 5, 7] and result.resumed == 5 and log.reads == 0
    redone = {r.number: r.params for r in log.finished if r.number in (3, 5, 7)}
    assert redone == {r.number: r.params for r in done.finished if r.number in (3, 5, 7)}


def test_a_worker_whose_trials_all_fail_is_no_error_of_its_own() -> None:
    def broken(params: dict[str, Any]) -> Iterator[float]:
        raise ValueError("refused")
        yield 0.0

    log = SharedLog()
    result = tune_share(broken, tuning=_block(n_trials=4), direction="higher", seed=0, log=log, numbers=[0, 2])
    assert result.failed == 2 and result.complete == 0 and [r.state for r in log.finished] == ["fail", "fail"]
