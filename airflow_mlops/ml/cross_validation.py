"""K-fold cross-validation of a candidate on its training split, with scikit-learn's splitters.

The gate judges every candidate on the held-out test rows, and may also judge the figures
recorded here (gates/cv.py): how stable a candidate is across resamples of the training data
(mean and spread of each metric), recorded on its MLflow run. Each fold is fitted the way the
candidate itself is (a fresh estimator pipeline or a fresh call of the trainer), so any framework
the pipeline trains can be cross-validated, not only scikit-learn estimators. Tuning trials
(ml/tuning.py) are scored on folds cut here too.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from airflow_mlops.errors import ConfigurationError
from airflow_mlops.gates.cv import cv_key

if TYPE_CHECKING:
    import pandas as pd

    from airflow_mlops.gates.metrics import Average, Problem


def fold_rows(features: pd.DataFrame, labels: pd.Series, splitter: Mapping[str, Any]) -> list[tuple[Any, Any]]:
    """``(train_rows, score_rows)`` of each fold, cut as ``splitter`` says.

    ``splitter`` is ``{folds, stratified, group_by, shuffle, seed}`` (spec CrossValidationSpec.splitter).
    Stratified folds keep each class's share, grouped ones keep a group's rows in one fold; a
    shuffled split uses the seed, so a re-run (or a retried task) gets the same folds.
    """
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    folds, group = int(splitter["folds"]), splitter.get("group_by")
    stratified, shuffle = bool(splitter.get("stratified")), bool(splitter.get("shuffle", True))
    if stratified:
        counts = labels.value_counts()
        if counts.min() < folds:
            rare = counts.idxmin()
            rare = rare.item() if hasattr(rare, "item") else rare  # 2, not np.int64(2)
            raise ConfigurationError(
                f"{folds} stratified folds need at least {folds} training rows of each class; class "
                f"{rare!r} has {counts.min()}: lower folds, or set cross_validation.stratified: false"
            )
    seed = int(splitter.get("seed", 42)) if shuffle else None
    if group is not None:
        if group not in features.columns:
            raise ConfigurationError(f"cross_validation.group_by {group!r} is not a column of the training split")
        groups = features[group]
        if groups.nunique() < folds:
            raise ConfigurationError(
                f"{folds} folds grouped by {group!r} need at least {folds} groups; the training split has "
                f"{groups.nunique()}: lower folds or group by another column"
            )
        cut = (StratifiedGroupKFold if stratified else GroupKFold)(folds, shuffle=shuffle, random_state=seed)
        return list(cut.split(features, labels, groups))
    splits = (StratifiedKFold if stratified else KFold)(folds, shuffle=shuffle, random_state=seed)
    return list(splits.split(features, labels))


def fold_scores(
    fit: Callable[[pd.DataFrame, pd.Series], Any],
    features: pd.DataFrame,
    labels: pd.Series,
    *,
    problem: Problem,
    splitter: Mapping[str, Any],
    average: Average = "macro",
    metrics: Collection[str] | None = None,
) -> Iterator[dict[str, float]]:
    """The metrics of each fold in turn, each from a model fitted afresh on the other folds.

    ``metrics``: only these (ml/metrics.measure_metrics ``only``), for a caller that reads one.
    """
    for train_rows, test_rows in fold_rows(features, labels, splitter):
        yield _score_fold(fit, features, labels, train_rows, test_rows, problem, average, metrics)


def _score_fold(
    fit: Callable[[pd.DataFrame, pd.Series], Any],
    features: pd.DataFrame,
    labels: pd.Series,
    train_rows: Any,
    test_rows: Any,
    problem: Problem,
    average: Average,
    metrics: Collection[str] | None = None,
) -> dict[str, float]:
    from airflow_mlops.ml.flavors import in_memory_predictor
    from airflow_mlops.ml.metrics import measure_metrics

    fold_x, fold_y = features.iloc[train_rows], labels.iloc[train_rows]
    model = in_memory_predictor(fit(fold_x, fold_y), fold_x, fold_y, problem)
    test_x, test_y = features.iloc[test_rows], labels.iloc[test_rows]
    return measure_metrics(model, test_x, test_y, problem, average, only=metrics)[0]


def summarise(scores: list[dict[str, float]]) -> dict[str, float]:
    """``cv_<metric>_mean`` and ``cv_<metric>_std`` of each metric every fold computed.

    A metric one fold could not compute is left out rather than averaged over fewer folds.
    """
    import numpy as np

    common = set.intersection(*(set(s) for s in scores)) if scores else set()
    result: dict[str, float] = {}
    for metric in sorted(common):
        values = np.array([s[metric] for s in scores])
        result[cv_key(metric, "mean")] = float(values.mean())
        result[cv_key(metric, "std")] = float(values.std())
    return result


def cross_validate(
    fit: Callable[[pd.DataFrame, pd.Series], Any],
    features: pd.DataFrame,
    labels: pd.Series,
    *,
    problem: Problem,
    splitter: Mapping[str, Any],
    average: Average = "macro",
    n_jobs: int = 1,
) -> dict[str, float]:
    """``cv_<metric>_mean`` and ``cv_<metric>_std`` over the folds ``splitter`` cuts.

    ``n_jobs`` > 1 fits that many folds at once in threads (joblib): each fold fits a fresh model,
    and scikit-learn's fits release the GIL for much of their work. The figures are the same as
    serial ones; the folds' order does not matter to a mean and a spread.
    """
    if n_jobs <= 1:
        return summarise(list(fold_scores(fit, features, labels, problem=problem, splitter=splitter, average=average)))
    from joblib import Parallel, delayed

    rows = fold_rows(features, labels, splitter)
    scores = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(_score_fold)(fit, features, labels, train_rows, test_rows, problem, average)
        for train_rows, test_rows in rows
    )
    return summarise(list(scores))
