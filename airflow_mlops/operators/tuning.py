"""The train operator's tuning step: Optuna's search (ml/tuning.py) over folds of the training split, trials in MLflow.

Kept out of operators/train.py, which stays the candidate's lifecycle (find, train, log, drop); this
module wires the search's three parts together: the folds each trial is scored on
(ml/cross_validation.py), the trial runs (hooks/mlflow_trials.py) and the search itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from airflow_mlops.errors import ConfigurationError

if TYPE_CHECKING:
    import pandas as pd

    from airflow_mlops.operators.train import TrainCandidateOperator


def run_search(
    op: TrainCandidateOperator, run_id: str, experiment_id: str, identity: dict[str, str], train: pd.DataFrame
) -> dict[str, Any]:
    """The best values the candidate's ``tuning`` search found, each trial a run nested under ``run_id``.

    The search's totals go on the candidate's run: the best trial and its score, and how many
    trials completed, were pruned, failed, or were taken over from an earlier attempt.
    """
    from airflow_mlops.gates.metrics import direction_of
    from airflow_mlops.hooks.mlflow_trials import MlflowTrialLog
    from airflow_mlops.ml.cross_validation import fold_scores
    from airflow_mlops.ml.tuning import tune

    tuning = op.candidate["tuning"]
    metric = str(tuning["metric"])
    target = op.dataset["target"]
    features, labels = train.drop(columns=[target]), train[target]
    fixed = dict(op.candidate.get("params", {}))
    splitter = op.fold_splitter(int(tuning["folds"]))

    def score_folds(params: dict[str, Any]) -> Iterator[float]:
        merged = {**fixed, **params}
        for scores in fold_scores(
            lambda x, y: op.fitter(x, y, merged)(),
            features,
            labels,
            problem=op.problem,
            splitter=splitter,
            average=op.average,
        ):
            if metric not in scores:
                raise ConfigurationError(f"tuning.metric {metric} could not be computed on a fold")
            yield scores[metric]

    log = MlflowTrialLog(op.mlflow_hook, experiment_id, identity, run_id, metric, "superseded by a retry")
    seed = tuning.get("seed")
    result = tune(
        score_folds,
        tuning=tuning,
        direction=direction_of(metric, op.problem),
        seed=op.cv_seed if seed is None else int(seed),
        log=log,
    )
    op.mlflow_hook.log_batch(
        run_id,
        metrics={
            f"tuning_best_{metric}": result.best_value,
            "tuning_trials_complete": result.complete,
            "tuning_trials_pruned": result.pruned,
            "tuning_trials_failed": result.failed,
            "tuning_trials_resumed": result.resumed,
        },
        params={"tuning.best_trial": result.best_trial},
    )
    op.log.info(
        "Tuned %s: best %s %.4f at trial %d (%d complete, %d pruned, %d failed, %d taken over from an earlier try): %s",
        op.candidate["name"], metric, result.best_value, result.best_trial, result.complete, result.pruned,
        result.failed, result.resumed, result.best_params,
    )  # fmt: skip
    return result.best_params
