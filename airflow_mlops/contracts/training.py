"""What training and evaluation hand on: each candidate's run and model, and their scores.

See :mod:`airflow_mlops.contracts`.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class TrainedCandidate(TypedDict):
    """``train``: one candidate's finished MLflow run and the model it logged."""

    candidate: str
    estimator: str
    params: dict[str, Any]
    preprocessing: dict[str, Any]
    mlflow_run_id: str
    experiment_id: str
    model_uri: str
    model_id: str | None
    #: True when training raised and ``on_failure`` is drop: ``model_uri`` is empty, the run FAILED.
    dropped: NotRequired[bool]
    #: Why a dropped candidate failed (``ExceptionType: message``).
    error: NotRequired[str]
    #: With cross-validation: ``cv_<metric>_mean`` / ``cv_<metric>_std`` over the training folds.
    cv_metrics: NotRequired[dict[str, float]]
    #: The digest of the step cache key the model was trained under (record/cache.py).
    cache_key: NotRequired[str]
    #: The DAG run that trained the model, when this run reused it instead of training again.
    reused_from: NotRequired[str]


class TunedShare(TypedDict):
    """``tune_<candidate>``: what one worker of a spread search ran (its trials are MLflow runs)."""

    candidate: str
    worker: int
    #: The pipeline's run, which the trials nest under until ``train`` moves them under the candidate's.
    mlflow_run_id: str
    experiment_id: str
    #: The trial numbers of this worker's share, and those this attempt ran.
    trials: list[int]
    ran: list[int]
    complete: int
    pruned: int
    failed: int
    #: Trials of the share an earlier attempt had finished.
    resumed: int


class DroppedCandidate(TypedDict):
    """A candidate that failed to train and was left out of the gate, with its error."""

    candidate: str
    error: str
    mlflow_run_id: str | None


class EvaluatedCandidate(TrainedCandidate):
    """A trained candidate with its metrics on the shared test split.

    ``metrics`` holds finite numbers only; a metric that could not be computed is absent there
    and named in ``not_computable`` with its reason, so XCom and MLflow stay strict JSON.
    """

    metrics: dict[str, float]
    not_computable: NotRequired[dict[str, str]]


class ChampionScore(TypedDict):
    """The current champion, by version number, scored on the same test split."""

    version: str
    run_id: str | None
    model_uri: str
    metrics: dict[str, float]
    not_computable: NotRequired[dict[str, str]]
    #: The logged model the version was registered from (``m-<id>``): a candidate with the same is the champion.
    model_id: NotRequired[str]


class Evaluation(TypedDict):
    """``evaluate``: every candidate and the champion on one test snapshot."""

    n_test: int
    test_uri: str
    candidates: list[EvaluatedCandidate]
    champion: ChampionScore | None
    model_name: str
    mlflow_run_id: str
    #: The gate's slice specs, each with the slices too small to judge (``{value: rows}``).
    slices: NotRequired[list[dict[str, Any]]]
    slice_metric_names: NotRequired[dict[str, str]]
    #: Candidates that failed to train (``candidates.on_failure: drop``), not scored.
    dropped: NotRequired[list[DroppedCandidate]]
    #: Classification: the ``average`` asked for, and how precision, recall, f1 and roc_auc were
    #: combined over the test set's classes ("positive class 1", "weighted average over 3 classes").
    average: NotRequired[str]
    averaging: NotRequired[str]
