"""The pieces of a search that several workers share: who runs which trial, per-trial seeds, the rebuilt study.

With ``tuning.workers: N`` a candidate's trials are spread over N mapped ``tune_<candidate>``
tasks. Nothing is shared between them but the trial runs in MLflow:

- **The share.** Trial numbers are global (0 .. n_trials-1) and dealt round-robin: worker ``w``
  of ``N`` owns ``w, w+N, w+2N, ...``. A retried worker runs the numbers of its share that are
  not recorded yet, and no two workers ever run the same number.
- **The seed.** Each trial's sampler is seeded from ``(seed, number)``, not from its position
  in one sampler's stream, so a trial's draw does not depend on which worker runs it or what
  ran before it in that process (as far as the sampler looks at the history only: see
  docs/architecture.md "Tuning" for what holds per sampler).
- **The study.** Before each ask a worker rebuilds an in-memory Optuna study from every
  finished trial recorded so far (its own and the other workers'), so TPE and the pruners see
  the whole search.
- **The winner.** The best complete trial, ties going to the lowest number: the same rule for a
  serial search and a spread one, so the winner does not depend on the order trials finished in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

    from airflow_mlops.gates.metrics import Direction
    from airflow_mlops.ml.tuning import TrialRecord


def share(n_trials: int, workers: int, worker: int) -> list[int]:
    """The trial numbers worker ``worker`` (0-based) of ``workers`` runs: every ``workers``-th from ``worker``."""
    if workers < 1 or not 0 <= worker < workers:
        raise ValueError(f"worker {worker} is not one of {workers} workers")
    return list(range(worker, n_trials, workers))


def trial_seed(seed: int, number: int) -> int:
    """The sampler seed of trial ``number``: a hash of both, so seed s's trial k+1 is not seed s+1's trial k."""
    import numpy as np

    return int(np.random.SeedSequence([seed & 0xFFFFFFFF, number]).generate_state(1)[0])


def sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    """Optuna's sampler ``name`` (tpe, random or qmc) with ``seed``."""
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def pruner(name: str) -> optuna.pruners.BasePruner:
    """Optuna's pruner ``name`` (median, hyperband or none)."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.NopPruner()


def frozen(record: TrialRecord, dists: Mapping[str, Any]) -> optuna.trial.FrozenTrial | None:
    """The recorded trial as Optuna's FrozenTrial, or None if it no longer fits the space."""
    import optuna

    if set(record.params) != set(dists):
        return None
    try:
        return optuna.trial.create_trial(
            state=optuna_state(record.state),
            value=record.value if record.state == "complete" else None,
            params=record.params,
            distributions={k: dists[k] for k in record.params},
            intermediate_values=record.intermediate,
        )
    except ValueError:  # a value outside today's range
        return None


def optuna_state(state: str) -> optuna.trial.TrialState:
    from optuna.trial import TrialState as State

    return {"complete": State.COMPLETE, "pruned": State.PRUNED, "fail": State.FAIL}[state]


def fitting(records: Iterable[TrialRecord], dists: Mapping[str, Any]) -> list[TrialRecord]:
    """The records that fit today's search space, by number (one per number: the first recorded)."""
    kept: dict[int, TrialRecord] = {}
    for record in sorted(records, key=lambda r: r.number):
        if record.number not in kept and frozen(record, dists) is not None:
            kept[record.number] = record
    return list(kept.values())


def rebuild(
    records: Sequence[TrialRecord], dists: Mapping[str, Any], *, direction: Direction, pruner_name: str
) -> optuna.Study:
    """An in-memory study holding ``records`` in number order, for the sampler and pruner to read."""
    import optuna

    study = optuna.create_study(
        direction="maximize" if direction == "higher" else "minimize", pruner=pruner(pruner_name)
    )
    for record in sorted(records, key=lambda r: r.number):
        trial = frozen(record, dists)
        if trial is not None:
            study.add_trial(trial)
    return study


def best(records: Iterable[TrialRecord], direction: Direction) -> TrialRecord | None:
    """The best complete trial with a finite value; a tie goes to the lowest number."""
    complete = [r for r in records if r.state == "complete" and r.value is not None and math.isfinite(r.value)]
    if not complete:
        return None
    sign = -1.0 if direction == "higher" else 1.0
    return min(complete, key=lambda r: (sign * float(r.value or 0.0), r.number))
