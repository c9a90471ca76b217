"""A candidate's tuning trials: in its train task, or spread over ``tuning.workers`` mapped ``tune_<candidate>`` tasks.

The search itself is ml/tuning.py (Optuna's ask/tell, resumable) and ml/tuning_study.py (the
share each worker runs, per-trial seeds, the study rebuilt from recorded trials); trials are
recorded as MLflow runs by hooks/mlflow_trials.py. This module only wires them to a task.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from airflow_mlops.errors import ConfigurationError
from airflow_mlops.operators.base import CandidateOperator, run_identity
from airflow_mlops.record import tag

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd
    from airflow.sdk import Context

    from airflow_mlops.contracts import TunedShare
    from airflow_mlops.hooks.mlflow import MlflowHook


class TuneTrialsOperator(CandidateOperator):
    """Run worker ``worker``'s share of the candidate's ``tuning`` trials (``tuning.workers`` > 1).

    Mapped over ``worker`` (0 .. workers-1), one ``tune_<candidate>`` task per tuned candidate.
    Worker ``w`` runs trial numbers ``w, w+N, ...`` (ml/tuning_study.share), each an MLflow run
    nested under the pipeline's run and tagged with this task instance (``mlops.trial_task``).
    Before each trial it rebuilds the Optuna study from every trial recorded so far, so the
    workers share no Optuna storage, only MLflow. A retry runs only the trials of its share not
    recorded yet. The ``train`` task downstream picks the best of all and fits it.

    Takes the train task's arguments (trials are fitted, and folds cut, as ``train`` does) plus ``worker``.
    """

    def __init__(self, *, worker: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.worker = worker

    def execute(self, context: Context) -> TunedShare:
        from airflow_mlops import artifacts
        from airflow_mlops.gates.metrics import direction_of
        from airflow_mlops.hooks.mlflow_trials import MlflowTrialLog
        from airflow_mlops.ml.tuning import tune_share
        from airflow_mlops.ml.tuning_study import share

        dag_id, run_id = run_identity(context)
        name, tuning = self.candidate["name"], self.candidate["tuning"]
        workers = int(tuning.get("workers", 1))
        numbers = share(int(tuning["n_trials"]), workers, int(self.worker))
        train = artifacts.read_parquet(self.dataset["train_uri"])
        task = f"tune_{name}[{self.worker}]"
        hook = self.mlflow_hook
        with hook.session():
            record = hook.pipeline_record(self.experiment, dag_id, run_id, self.dataset.get("record"))
            experiment_id, parent = record["experiment_id"], record["pipeline_run_id"]
            identity = tag.identity(dag_id, run_id, tag.ROLE_CANDIDATE, name)
            reused = self._reused_model(context, hook, experiment_id, dag_id, run_id)
            if reused is not None:
                self.log.info("Worker %d runs no trials: train will reuse %s's model (%s)", self.worker, name, reused)
                return {"candidate": name, "worker": int(self.worker), "mlflow_run_id": parent,
                        "experiment_id": experiment_id, "trials": numbers, "ran": [],
                        "complete": 0, "pruned": 0, "failed": 0, "resumed": 0}  # fmt: skip
            metric = str(tuning["metric"])
            log = MlflowTrialLog(hook, experiment_id, identity, parent, metric, "superseded by a retry", task=task)
            result = tune_share(
                score_folds(self, train),
                tuning=tuning,
                direction=direction_of(metric, self.problem),
                seed=search_seed(self),
                log=log,
                numbers=numbers,
            )
        self.log.info(
            "Worker %d of %d tuning %s ran trials %s (%d complete, %d pruned, %d failed); %d of its %d trials "
            "were taken over from an earlier try",
            self.worker, workers, name, result.ran, result.complete, result.pruned, result.failed,
            result.resumed, len(numbers),
        )  # fmt: skip
        return {"candidate": name, "worker": int(self.worker), "mlflow_run_id": parent, "experiment_id": experiment_id,
                "trials": numbers, "ran": result.ran,
                "complete": result.complete, "pruned": result.pruned, "failed": result.failed,
                "resumed": result.resumed}  # fmt: skip

    def _reused_model(
        self, context: Context, hook: MlflowHook, experiment_id: str, dag_id: str, run_id: str
    ) -> str | None:
        """Where the model comes from when ``train`` will reuse an earlier one (same key): no trial is needed then."""
        from airflow_mlops.hooks.step_cache import StepCache, model_intact
        from airflow_mlops.operators.base import turned_off_for_run

        key = self.cache_key()
        if not self.cache or key is None or turned_off_for_run(context):
            return None
        cache = StepCache(hook, experiment_id, dag_id, run_id)
        outcome = cache.lookup(key, max_age_seconds=self.cache_expire_after_seconds, verify=model_intact(hook))
        return outcome.summary() if outcome.hit else None


def search_seed(op: CandidateOperator) -> int:
    """The sampler's seed: tuning.seed, else the fold seed (data.split.seed by default)."""
    seed = op.candidate["tuning"].get("seed")
    return op.cv_seed if seed is None else int(seed)


def score_folds(op: CandidateOperator, train: pd.DataFrame) -> Callable[[dict[str, Any]], Iterator[float]]:
    """The objective: a trial's params (over the candidate's fixed ones) scored on each fold in turn.

    Each fold computes ``tuning.metric`` alone: the other metrics (and, for f1 or accuracy, the
    class probabilities) would be thrown away, and on small folds they cost a good part of a trial.
    """
    from airflow_mlops.ml.cross_validation import fold_scores

    tuning = op.candidate["tuning"]
    metric = str(tuning["metric"])
    target = op.dataset["target"]
    features, labels = train.drop(columns=[target]), train[target]
    fixed = dict(op.candidate.get("params", {}))
    splitter = op.fold_splitter(int(tuning["folds"]))

    def score(params: dict[str, Any]) -> Iterator[float]:
        merged = {**fixed, **params}
        for scores in fold_scores(
            lambda x, y: op.fitter(x, y, merged)(),
            features,
            labels,
            problem=op.problem,
            splitter=splitter,
            average=op.average,
            metrics=(metric,),
        ):
            if metric not in scores:
                raise ConfigurationError(f"tuning.metric {metric} could not be computed on a fold")
            yield scores[metric]

    return score


def run_search(
    op: CandidateOperator, run_id: str, experiment_id: str, identity: dict[str, str], train: pd.DataFrame
) -> dict[str, Any]:
    """The best values the candidate's ``tuning`` search found, each trial a run nested under ``run_id``.

    With one worker the trials run here (ml/tuning.tune); with more, the ``tune_<candidate>``
    tasks upstream ran them and this only gathers their runs under the candidate's run and picks
    the best (ml/tuning.summary, ties to the lowest trial number).

    The search's totals go on the candidate's run: the best trial and its score, and how many
    trials completed, were pruned, failed, or were taken over from an earlier attempt.
    """
    from airflow_mlops.gates.metrics import direction_of
    from airflow_mlops.hooks.mlflow_trials import MlflowTrialLog
    from airflow_mlops.ml.tuning import distributions, summary, tune
    from airflow_mlops.ml.tuning_study import fitting

    tuning = op.candidate["tuning"]
    metric = str(tuning["metric"])
    direction = direction_of(metric, op.problem)
    workers = int(tuning.get("workers", 1))
    log = MlflowTrialLog(op.mlflow_hook, experiment_id, identity, run_id, metric, "superseded by a retry")
    if workers > 1:
        result = summary(fitting(log.recover(), distributions(tuning["space"])), direction, resumed=0)
    else:
        result = tune(score_folds(op, train), tuning=tuning, direction=direction, seed=search_seed(op), log=log)
    op.mlflow_hook.log_batch(
        run_id,
        metrics={
            f"tuning_best_{metric}": result.best_value,
            "tuning_trials_complete": result.complete,
            "tuning_trials_pruned": result.pruned,
            "tuning_trials_failed": result.failed,
            "tuning_trials_resumed": result.resumed,
        },
        params={"tuning.best_trial": result.best_trial, "tuning.workers": workers},
    )
    op.log.info(
        "Tuned %s: best %s %.4f at trial %d (%d complete, %d pruned, %d failed, %d taken over from an earlier try; "
        "%d worker(s)): %s",
        op.candidate["name"], metric, result.best_value, result.best_trial, result.complete, result.pruned,
        result.failed, result.resumed, workers, result.best_params,
    )  # fmt: skip
    return result.best_params
