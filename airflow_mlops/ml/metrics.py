"""Compute the metrics named in gates.metrics for a fitted model on a test set."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_mlops.gates.metrics import METRICS_BY_PROBLEM, Problem

if TYPE_CHECKING:
    import pandas as pd


def compute_metrics(model: Any, features: pd.DataFrame, target: pd.Series, problem: Problem) -> dict[str, float]:
    """Every metric the problem type knows; one that cannot be computed is left out.

    Leaving it out (rather than writing NaN) lets the gate say plainly "not computed".
    """
    import numpy as np
    from sklearn import metrics as skm

    predictions = model.predict(features)
    if problem == "regression":
        return {
            "r2": float(skm.r2_score(target, predictions)),
            "rmse": float(np.sqrt(skm.mean_squared_error(target, predictions))),
            "mae": float(skm.mean_absolute_error(target, predictions)),
        }
    labels = np.unique(np.asarray(target))
    average = "binary" if len(labels) == 2 else "macro"
    pos_label = labels[-1] if average == "binary" else 1
    result = {
        "accuracy": float(skm.accuracy_score(target, predictions)),
        "precision": float(
            skm.precision_score(target, predictions, average=average, pos_label=pos_label, zero_division=0)
        ),
        "recall": float(skm.recall_score(target, predictions, average=average, pos_label=pos_label, zero_division=0)),
        "f1": float(skm.f1_score(target, predictions, average=average, pos_label=pos_label, zero_division=0)),
    }
    if hasattr(model, "predict_proba"):
        try:
            proba = model.predict_proba(features)
            classes = list(getattr(model, "classes_", labels))
            if average == "binary":
                result["roc_auc"] = float(skm.roc_auc_score(target, proba[:, classes.index(pos_label)]))
            else:
                result["roc_auc"] = float(skm.roc_auc_score(target, proba, multi_class="ovr", labels=classes))
            result["log_loss"] = float(skm.log_loss(target, proba, labels=classes))
        except (ValueError, IndexError):
            pass
    assert set(result) <= set(METRICS_BY_PROBLEM[problem])
    return result


MAX_SLICES = 50


def compute_slice_metrics(
    model: Any, features: pd.DataFrame, target: pd.Series, problem: Problem, column: str, min_rows: int
) -> tuple[dict[str, float], dict[str, int]]:
    """Metrics on each value of ``column`` of the test set, keyed like ``recall[region=north]``.

    Slices smaller than ``min_rows`` are returned separately, with their size, instead of
    being judged on a handful of rows. A column with many values is not a slice: it is
    refused, since a gate over hundreds of tiny slices would reject on noise.
    """
    from airflow_mlops.errors import ConfigurationError
    from airflow_mlops.gates.metrics import slice_key

    if column not in features.columns:
        raise ConfigurationError(f"slice_by column {column!r} is not among the test features {list(features.columns)}")
    values = features[column].dropna().unique()
    if len(values) > MAX_SLICES:
        raise ConfigurationError(
            f"slice_by column {column!r} has {len(values)} distinct values; slice on a categorical column "
            f"(at most {MAX_SLICES} values)"
        )
    sliced: dict[str, float] = {}
    skipped: dict[str, int] = {}
    for value in sorted(values, key=str):
        mask = (features[column] == value).to_numpy()
        rows = int(mask.sum())
        if rows < min_rows:
            skipped[str(value)] = rows
            continue
        for metric, number in compute_metrics(model, features[mask], target[mask], problem).items():
            sliced[slice_key(metric, column, value)] = number
    return sliced, skipped
