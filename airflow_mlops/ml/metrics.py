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
