"""A candidate's hyperparameter search with Optuna, resumable from the trials already recorded.

Optuna samples and prunes; this module only turns the spec's ``tuning:`` block into Optuna's
objects and drives its ask/tell loop, so each trial can be recorded (a nested MLflow run, by the
``TrialLog`` the caller passes) before the next one starts.

Resuming: the study is in memory and rebuilt at the start of every task attempt from the trials
the log recovered (``study.add_trial`` of a FrozenTrial each): finished trials count toward
``n_trials`` and inform the sampler, and only the rest are run. The durable copy is the trial
runs in MLflow, which every worker of a deployment already reaches, so a retry on another worker
resumes too; no Optuna database is needed (docs/architecture.md "Tuning").

Two ways to run it: :func:`tune` runs every trial still owed in one process (the train task);
:func:`tune_share` runs one worker's share of a search spread over ``tuning.workers`` mapped
tasks, rebuilding the study from the log before each ask, and :func:`summary` then picks the
winner from every recorded trial (ml/tuning_study.py has the share, the seeds and the rebuild).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from airflow_mlops.errors import ConfigurationError
from airflow_mlops.errors.classify import is_transient
from airflow_mlops.ml.tuning_study import best, fitting, optuna_state, rebuild, sampler, trial_seed

if TYPE_CHECKING:
    import optuna

    from airflow_mlops.gates.metrics import Direction

TrialState = Literal["complete", "pruned", "fail"]


@dataclass(frozen=True)
class TrialRecord:
    """A finished trial as the log keeps it: enough to rebuild Optuna's FrozenTrial."""

    number: int
    params: dict[str, Any]
    state: TrialState
    value: float | None = None
    #: The running score after each fold (Optuna's intermediate values), by fold index.
    intermediate: dict[int, float] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "params": self.params,
            "state": self.state,
            "value": self.value,
            "intermediate": {str(k): v for k, v in self.intermediate.items()},
            **({"error": self.error} if self.error else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrialRecord:
        return cls(
            number=int(data["number"]),
            params=dict(data["params"]),
            state=data["state"],
            value=None if data.get("value") is None else float(data["value"]),
            intermediate={int(k): float(v) for k, v in (data.get("intermediate") or {}).items()},
            error=data.get("error"),
        )


class TrialLog(Protocol):
    """Where trials are recorded as they run, and recovered from when a task attempt starts."""

    def recover(self) -> list[TrialRecord]:
        """Every finished trial, after closing those an earlier attempt of this task left running."""
        ...

    def recorded(self) -> list[TrialRecord]:
        """Every finished trial so far, read only (a spread search's workers call it before each ask)."""
        ...

    def start(self, number: int, params: Mapping[str, Any]) -> str: ...

    def finish(self, handle: str, record: TrialRecord) -> None: ...


@dataclass(frozen=True)
class TuningResult:
    best_params: dict[str, Any]
    best_value: float
    best_trial: int
    complete: int
    pruned: int
    failed: int
    #: Trials an earlier task attempt had finished, taken over rather than run again.
    resumed: int


def distributions(space: Mapping[str, Mapping[str, Any]]) -> dict[str, optuna.distributions.BaseDistribution]:
    """The spec's search space (already checked by spec/models_tuning.py) as Optuna distributions."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    made: dict[str, optuna.distributions.BaseDistribution] = {}
    for name, spec in space.items():
        if "choices" in spec:
            made[name] = CategoricalDistribution(list(spec["choices"]))
        elif spec["type"] == "int":
            step = int(spec.get("step") or 1)
            made[name] = IntDistribution(int(spec["low"]), int(spec["high"]), log=bool(spec["log"]), step=step)
        else:
            made[name] = FloatDistribution(
                float(spec["low"]), float(spec["high"]), log=bool(spec["log"]), step=spec.get("step")
            )
    return made


def tune(
    score_folds: Callable[[dict[str, Any]], Iterable[float]],
    *,
    tuning: Mapping[str, Any],
    direction: Direction,
    seed: int,
    log: TrialLog,
) -> TuningResult:
    """Run the trials ``tuning`` (the spec's block, dumped) still owes, in one process; the best trial's params.

    ``score_folds(params)`` yields the objective metric on each fold; the trial's score is their
    running mean, reported after each fold so a pruner can stop a poor trial early. A trial whose
    code raises is recorded as failed and the search goes on (a search space may hold combinations
    an estimator refuses); a transient error (a lost connection) is raised, for a retry to resume.
    """
    dists = distributions(tuning["space"])
    recovered = fitting(log.recover(), dists)
    done = {r.number for r in recovered}
    owed = [n for n in range(int(tuning["n_trials"])) if n not in done]
    ran = _search(score_folds, tuning, direction, seed, log, recovered, owed, refresh="no")
    return summary([*recovered, *ran], direction, resumed=len(recovered))


@dataclass(frozen=True)
class ShareResult:
    """What one worker of a spread search did in this attempt (``tuning.workers`` > 1)."""

    ran: list[int]
    complete: int
    pruned: int
    failed: int
    #: Trials of this worker's share an earlier attempt had finished.
    resumed: int


def tune_share(
    score_folds: Callable[[dict[str, Any]], Iterable[float]],
    *,
    tuning: Mapping[str, Any],
    direction: Direction,
    seed: int,
    log: TrialLog,
    numbers: Sequence[int],
) -> ShareResult:
    """Run the trials numbered ``numbers`` (this worker's share) that are not recorded yet.

    Before each ask the study is rebuilt from every trial recorded so far, the other workers'
    included, so the sampler and the pruner see the whole search. A share that holds every trial
    number has no other worker to hear from: it rebuilds from what it recovered and ran, the same
    records, without reading the log again (a search per trial). Nothing is decided here: the
    train task picks the best of all recorded trials (:func:`summary`), and a share where every
    trial failed is not an error of its own (the other shares may have completed).
    """
    dists = distributions(tuning["space"])
    recovered = fitting(log.recover(), dists)
    done = {r.number for r in recovered}
    owed = [n for n in numbers if n not in done]
    alone = set(range(int(tuning["n_trials"]))) <= set(numbers)
    ran = _search(score_folds, tuning, direction, seed, log, recovered, owed, refresh="local" if alone else "log")
    return ShareResult(
        ran=[r.number for r in ran],
        complete=sum(r.state == "complete" for r in ran),
        pruned=sum(r.state == "pruned" for r in ran),
        failed=sum(r.state == "fail" for r in ran),
        resumed=len(set(numbers) & done),
    )


def _search(
    score_folds: Callable[[dict[str, Any]], Iterable[float]],
    tuning: Mapping[str, Any],
    direction: Direction,
    seed: int,
    log: TrialLog,
    recovered: Sequence[TrialRecord],
    owed: Sequence[int],
    *,
    refresh: Literal["no", "local", "log"],
) -> list[TrialRecord]:
    """Ask, run and tell trial ``n`` for each ``n`` in ``owed``, until the timeout; the records of those run.

    Each trial's sampler is seeded from ``(seed, n)`` (tuning_study.trial_seed), so a trial draws
    the same point whichever worker or attempt runs it, given the same history. QMC in one
    process keeps one sampler, whose sequence advances with the study (offset by the trials
    recovered, so a retry does not draw their points again).

    ``refresh``: before each ask after the first, rebuild the study (in number order) from the
    log (``log``: other workers record trials too), from the records in hand (``local``), or not
    at all (``no``: the told study, as the serial search always did).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = distributions(tuning["space"])
    name, pruner_name = str(tuning.get("sampler", "tpe")), str(tuning.get("pruner", "median"))
    per_trial = refresh != "no" or name != "qmc"
    study = rebuild(recovered, dists, direction=direction, pruner_name=pruner_name)
    if not per_trial:
        study.sampler = sampler(name, seed + len(recovered))
    timeout = tuning.get("timeout_seconds")
    started = time.monotonic()
    ran: list[TrialRecord] = []
    for number in owed:
        if timeout is not None and time.monotonic() - started >= float(timeout):
            break
        if refresh != "no" and ran:  # with the log: what the other workers finished meanwhile too
            records = log.recorded() if refresh == "log" else [*recovered, *ran]
            study = rebuild(fitting(records, dists), dists, direction=direction, pruner_name=pruner_name)
        if per_trial:
            study.sampler = sampler(name, trial_seed(seed, number))
        trial = study.ask(dict(dists))
        handle = log.start(number, trial.params)
        record = _run_trial(trial, number, score_folds, handle, log)
        study.tell(trial, record.value if record.state == "complete" else None, state=optuna_state(record.state))
        ran.append(record)
    return ran


def _run_trial(
    trial: optuna.trial.Trial,
    number: int,
    score_folds: Callable[[dict[str, Any]], Iterable[float]],
    handle: str,
    log: TrialLog,
) -> TrialRecord:
    """One trial's folds, its record (numbered ``number``) written to the log whatever the outcome."""
    scores: list[float] = []
    intermediate: dict[int, float] = {}
    try:
        for step, score in enumerate(score_folds(dict(trial.params))):
            scores.append(score)
            intermediate[step] = sum(scores) / len(scores)
            trial.report(intermediate[step], step)
            if trial.should_prune():
                record = TrialRecord(number, trial.params, "pruned", intermediate[step], intermediate)
                break
        else:
            value = intermediate[len(scores) - 1] if scores else math.nan
            state: TrialState = "complete" if math.isfinite(value) else "fail"
            error = None if state == "complete" else "the metric was not finite on every fold"
            record = TrialRecord(number, trial.params, state, value, intermediate, error)
    except Exception as err:
        failed = TrialRecord(number, trial.params, "fail", None, intermediate, f"{type(err).__name__}: {err}")
        log.finish(handle, failed)
        if is_transient(err):
            raise
        return failed
    log.finish(handle, record)
    return record


def summary(records: Sequence[TrialRecord], direction: Direction, *, resumed: int) -> TuningResult:
    """The search's totals and its best trial (tuning_study.best), or an error naming the first failure."""
    winner = best(records, direction)
    if winner is None:
        errors = [r.error for r in sorted(records, key=lambda r: r.number) if r.error]
        why = f"; the first error: {errors[0]}" if errors else ""
        raise ConfigurationError(f"no tuning trial completed ({len(records)} tried){why}")
    return TuningResult(
        best_params=dict(winner.params),
        best_value=float(winner.value if winner.value is not None else math.nan),
        best_trial=winner.number,
        complete=sum(r.state == "complete" for r in records),
        pruned=sum(r.state == "pruned" for r in records),
        failed=sum(r.state == "fail" for r in records),
        resumed=resumed,
    )
