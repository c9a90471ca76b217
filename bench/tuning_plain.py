"""The plain Optuna script ``tuning_bench`` times our ``tune`` task against: the same trials, written by hand.

What a competent user writes without our package: ``optuna.create_study``, an objective that
cross-validates the forest with scikit-learn (``cross_val_score``, 3 stratified shuffled folds,
f1), and each trial logged to MLflow as a run nested under one parent run (params and the
trial's score), as MLflow's own Optuna examples do. ``optuna_integration``'s MLflowCallback is
not installed here, so the runs are logged with plain ``mlflow`` calls inside the objective.

It runs the SAME trials as our one-worker search, so the two do the same fitting work:

- the search space and the data are ``tuning_bench``'s (``SPACE``, the demo's training rows
  read from the same parquet file inside the timing, as our task reads them);
- the folds are ``StratifiedKFold(3, shuffle=True, random_state=0)``, what our task cuts with
  ``cv_seed=0``;
- the random sampler is seeded per trial from ``(seed, trial number)``, as ours is
  (``ml/tuning_study.trial_seed``, copied below: one line). A user would pass one seed to one
  sampler; that draws other points, and trials of other sizes would make the times incomparable.
  Building a RandomSampler costs microseconds.

Our candidate is a Pipeline (a median imputer in a ColumnTransformer, then the forest: the spec's
default preprocessing); here the forest is fitted alone, as a user would on data with no missing
values. The imputer changes no value, so the scores are the same, and its cost counts as ours.

Run as ``python bench/tuning_bench.py plain '<json>'``: imports first, then ready/go files, as
our workers do, against its own copy of the same migrated sqlite MLflow store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def trial_seed(seed: int, number: int) -> int:
    """ml/tuning_study.trial_seed, so trial ``number`` draws the point ours draws."""
    import numpy as np

    return int(np.random.SeedSequence([seed & 0xFFFFFFFF, number]).generate_state(1)[0])


def run(
    args: dict[str, Any], space: dict[str, dict[str, Any]], seed: int, settle: Callable[[], None]
) -> dict[str, Any]:
    """Import, say ready, wait for go, run ``args["n_trials"]`` trials; when it started and ended, and the trials."""
    import mlflow
    import optuna
    import pandas as pd
    import pyarrow.parquet  # noqa: F401 - read_parquet's first import, outside the timing as for ours
    from mlflow import MlflowClient
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    MlflowClient(tracking_uri=args["tracking_uri"]).search_experiments(max_results=1)  # opens the store, as ours
    settle()  # the heap collected and frozen, as in our worker
    Path(args["ready"]).touch()
    go = Path(args["go"])
    while not go.exists():
        time.sleep(0.005)
    started, cpu = time.time(), time.process_time()

    mlflow.set_tracking_uri(args["tracking_uri"])
    mlflow.set_experiment("tuning_bench")
    train = pd.read_parquet(args["train_uri"])
    features, labels = train.drop(columns=["target"]), train["target"]
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    trees, depth = space["n_estimators"], space["max_depth"]

    def objective(trial: optuna.Trial) -> float:
        params = {
            "n_estimators": trial.suggest_int("n_estimators", trees["low"], trees["high"], step=trees["step"]),
            "max_depth": trial.suggest_int("max_depth", depth["low"], depth["high"]),
        }
        with mlflow.start_run(run_name=f"trial {trial.number}", nested=True):
            mlflow.log_params(params)
            model = RandomForestClassifier(random_state=0, **params)
            score = float(cross_val_score(model, features, labels, cv=folds, scoring="f1").mean())
            mlflow.log_metric("f1", score)
        return score

    def reseed(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        study.sampler = optuna.samplers.RandomSampler(seed=trial_seed(seed, trial.number + 1))

    with mlflow.start_run(run_name=f"forest tuning {args['run_id']}"):
        first = optuna.samplers.RandomSampler(seed=trial_seed(seed, 0))
        study = optuna.create_study(direction="maximize", sampler=first)
        study.optimize(objective, n_trials=int(args["n_trials"]), callbacks=[reseed])
    ended = time.time()
    trials = [{"number": t.number, "params": t.params, "value": t.value} for t in study.trials]
    return {"started": started, "ended": ended, "cpu": time.process_time() - cpu, "trials": trials}
