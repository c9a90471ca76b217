"""A candidate's hyperparameter search with Optuna, resumable from the trials already recorded.

Optuna samples and prunes; this module only turns the spec's ``tuning:`` block into Optuna's
objects and drives its ask/tell loop, so each trial can be recorded (a nested MLflow run, by the
``TrialLog`` the caller passes) before the next one starts.

Resuming: the study is in memory and rebuilt at the start of every task attempt from the trials
the log recovered (``study.add_trial`` of a FrozenTrial each): finished trials count toward
``n_trials`` and inform the sampler, and only the rest are run. The durable copy is the trial
runs in MLflow, which every worker of a deployment already reaches, so a retry on another worker
resumes too; no Optuna database is needed (docs/architecture.md "Tuning").
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from airflow_mlops.errors import ConfigurationError
from airflow_mlops.errors.classify import is_transient

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

    def recover(self) -> list[TrialRecord]: ...

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


def _sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _pruner(name: str) -> optuna.pruners.BasePruner:
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.NopPruner()


def _frozen(record: TrialRecord, dists: Mapping[str, Any]) -> optuna.trial.FrozenTrial | None:
    """The recorded trial as Optuna's FrozenTrial, or None if it no longer fits the space."""
    import optuna
    from optuna.trial import TrialState as State

    state = {"complete": State.COMPLETE, "pruned": State.PRUNED, "fail": State.FAIL}[record.state]
    if set(record.params) != set(dists):
        return None
    try:
        return optuna.trial.create_trial(
            state=state,
            value=record.value if state == State.COMPLETE else None,
            params=record.params,
            distributions={k: dists[k] for k in record.params},
            intermediate_values=record.intermediate,
        )
    except ValueError:  # a value outside today's range
        return None


def tune(
    score_folds: Callable[[dict[str, Any]], Iterable[float]],
    *,
    tuning: Mapping[str, Any],
    direction: Direction,
    seed: int,
    log: TrialLog,
) -> TuningResult:
    """Run the trials ``tuning`` (the spec's block, dumped) still owes; the best trial's params.

    ``score_folds(params)`` yields the objective metric on each fold; the trial's score is their
    running mean, reported after each fold so a pruner can stop a poor trial early. A trial whose
    code raises is recorded as failed and the search goes on (a search space may hold combinations
    an estimator refuses); a transient error (a lost connection) is raised, for a retry to resume.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = distributions(tuning["space"])
    recovered = [f for f in (_frozen(r, dists) for r in sorted(log.recover(), key=lambda r: r.number)) if f]
    study = optuna.create_study(
        direction="maximize" if direction == "higher" else "minimize",
        # A resumed search offsets the seed: the same seed would draw the finished trials' points again
        # (TPE's first trials and the random sampler do not look at the study's history).
        sampler=_sampler(str(tuning.get("sampler", "tpe")), seed + len(recovered)),
        pruner=_pruner(str(tuning.get("pruner", "median"))),
    )
    for frozen in recovered:
        study.add_trial(frozen)
    timeout = tuning.get("timeout_seconds")
    started = time.monotonic()
    errors: list[str] = []
    for _ in range(int(tuning["n_trials"]) - len(recovered)):
        if timeout is not None and time.monotonic() - started >= float(timeout):
            break
        trial = study.ask(dict(dists))
        handle = log.start(trial.number, trial.params)
        record = _run_trial(trial, score_folds, handle, log)
        study.tell(trial, record.value if record.state == "complete" else None, state=_state(record.state))
        if record.error:
            errors.append(record.error)
    return _result(study, len(recovered), errors)


def _state(state: TrialState) -> optuna.trial.TrialState:
    from optuna.trial import TrialState as State

    return {"complete": State.COMPLETE, "pruned": State.PRUNED, "fail": State.FAIL}[state]


def _run_trial(
    trial: optuna.trial.Trial, score_folds: Callable[[dict[str, Any]], Iterable[float]], handle: str, log: TrialLog
) -> TrialRecord:
    """One trial's folds, its record written to the log whatever the outcome."""
    scores: list[float] = []
    intermediate: dict[int, float] = {}
    try:
        for step, score in enumerate(score_folds(dict(trial.params))):
            scores.append(score)
            intermediate[step] = sum(scores) / len(scores)
            trial.report(intermediate[step], step)
            if trial.should_prune():
                record = TrialRecord(trial.number, trial.params, "pruned", intermediate[step], intermediate)
                break
        else:
            value = intermediate[len(scores) - 1] if scores else math.nan
            state: TrialState = "complete" if math.isfinite(value) else "fail"
            error = None if state == "complete" else "the metric was not finite on every fold"
            record = TrialRecord(trial.number, trial.params, state, value, intermediate, error)
    except Exception as err:
        failed = TrialRecord(trial.number, trial.params, "fail", None, intermediate, f"{type(err).__name__}: {err}")
        log.finish(handle, failed)
        if is_transient(err):
            raise
        return failed
    log.finish(handle, record)
    return record


def _result(study: optuna.Study, resumed: int, errors: Sequence[str]) -> TuningResult:
    from optuna.trial import TrialState as State

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == State.COMPLETE]
    if not complete:
        why = f"; the first error: {errors[0]}" if errors else ""
        raise ConfigurationError(f"no tuning trial completed ({len(trials)} tried){why}")
    best = study.best_trial
    return TuningResult(
        best_params=dict(best.params),
        best_value=float(best.value if best.value is not None else math.nan),
        best_trial=best.number,
        complete=len(complete),
        pruned=sum(t.state == State.PRUNED for t in trials),
        failed=sum(t.state == State.FAIL for t in trials),
        resumed=resumed,
    )
