"""K-fold cross-validation of a candidate on its training split, with scikit-learn's splitters.

The gate still judges every candidate on the held-out test rows; cross-validation adds how
stable a candidate is across resamples of the training data (mean and spread of each metric),
recorded on its MLflow run. Each fold is fitted the way the candidate itself is (a fresh
estimator pipeline or a fresh call of the trainer), so any framework the pipeline trains can be
cross-validated, not only scikit-learn estimators.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_mlops.errors import ConfigurationError

if TYPE_CHECKING:
    import pandas as pd

    from airflow_mlops.gates.metrics import Average, Problem


def cross_validate(
    fit: Callable[[pd.DataFrame, pd.Series], Any],
    features: pd.DataFrame,
    labels: pd.Series,
    *,
    problem: Problem,
    folds: int,
    seed: int,
    average: Average = "macro",
) -> dict[str, float]:
    """``cv_<metric>_mean`` and ``cv_<metric>_std`` over ``folds`` folds, for each metric every fold computed.

    Classification folds are stratified, so each holds every class; both splitters shuffle with
    the split's seed, so a re-run gives the same folds. A metric one fold could not compute is
    left out rather than averaged over fewer folds.
    """
    import numpy as np
    from sklearn.model_selection import KFold, StratifiedKFold

    from airflow_mlops.ml.flavors import in_memory_predictor
    from airflow_mlops.ml.metrics import measure_metrics

    if problem == "classification":
        counts = labels.value_counts()
        if counts.min() < folds:
            rare = counts.idxmin()
            rare = rare.item() if hasattr(rare, "item") else rare  # 2, not np.int64(2)
            raise ConfigurationError(
                f"cross_validation.folds {folds} needs at least {folds} training rows of each class; class "
                f"{rare!r} has {counts.min()}: lower folds or drop cross_validation"
            )
    splitter = (StratifiedKFold if problem == "classification" else KFold)(folds, shuffle=True, random_state=seed)
    scores: list[dict[str, float]] = []
    for train_rows, test_rows in splitter.split(features, labels):
        fold_x, fold_y = features.iloc[train_rows], labels.iloc[train_rows]
        model = in_memory_predictor(fit(fold_x, fold_y), fold_x, fold_y, problem)
        scores.append(measure_metrics(model, features.iloc[test_rows], labels.iloc[test_rows], problem, average)[0])
    common = set.intersection(*(set(s) for s in scores))
    result: dict[str, float] = {}
    for metric in sorted(common):
        values = np.array([s[metric] for s in scores])
        result[f"cv_{metric}_mean"] = float(values.mean())
        result[f"cv_{metric}_std"] = float(values.std())
    return result
