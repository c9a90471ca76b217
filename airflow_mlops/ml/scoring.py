"""Scoring a model on a frame: the gate's metrics (whole set and per slice) and batch predictions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from airflow_mlops.errors import ConfigurationError

if TYPE_CHECKING:
    import pandas as pd

    from airflow_mlops.gates.metrics import Average, Problem
    from airflow_mlops.ml.metrics import Scores


def gate_metrics(
    model: Any,
    features: Any,
    labels: Any,
    problem: str,
    slices: Sequence[dict[str, Any]],
    average: str = "macro",
    *,
    scores: Scores | None = None,
) -> tuple[dict[str, float], dict[str, dict[str, int]], dict[str, str]]:
    """Whole-test-set metrics plus, for each slice column, the same metrics on every slice.

    Also returns, per column, the slices too small to judge with their row counts, and every
    metric (whole set or slice) that could not be computed, with its reason. The
    ``evaluate`` task and the gate re-check of ``airflow-mlops promote`` both score through
    here, so a re-check sees exactly the metric keys the recorded rules were written against.
    The model is asked once (or not at all when ``scores`` are given); every slice reads its rows.
    """
    from airflow_mlops.ml.metrics import measure_metrics, measure_slice_metrics, score_rows

    kind = cast("Problem", problem)
    averaged = cast("Average", average)
    answers = scores if scores is not None else score_rows(model, features, kind)
    metrics, not_computable = measure_metrics(model, features, labels, kind, averaged, scores=answers)
    too_small: dict[str, dict[str, int]] = {}
    for spec in slices:
        sliced, skipped, missing = measure_slice_metrics(
            model, features, labels, kind, spec["column"], int(spec.get("min_rows", 10)), averaged, scores=answers
        )
        metrics.update(sliced)
        not_computable.update(missing)
        too_small[spec["column"]] = skipped
    return metrics, too_small, not_computable


def input_columns(signature: Any, model: Any, model_uri: str) -> tuple[list[str], list[str]]:
    """(all, required) input columns of a model, in the order it was trained on.

    The signature is the contract the training task recorded, so it wins; a model logged
    without one still works if it remembers its fit-time column names. sklearn rejects
    columns in a different order than at fit time, hence the order matters.
    """
    inputs = getattr(signature, "inputs", None)
    if inputs is not None and inputs.has_input_names():
        return [str(c) for c in inputs.input_names()], [str(c) for c in inputs.required_input_names()]
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return [str(c) for c in names], [str(c) for c in names]
    raise ConfigurationError(
        f"model {model_uri} has no signature with column names and no feature_names_in_, so the input columns "
        "cannot be chosen; log it with a signature (mlflow.models.infer_signature)"
    )


def score_frame(
    model: Any,
    frame: pd.DataFrame,
    *,
    columns: Sequence[str],
    passthrough: Sequence[str],
    prediction_column: str,
) -> tuple[pd.DataFrame, str | None]:
    """Predictions next to the passthrough columns, plus what the ``_proba`` column means.

    The ``<prediction_column>_proba`` column is written for models with ``predict_proba``:
    for two classes it is the probability of the *positive* class, the second of the sorted
    ``classes_`` (1 for 0/1 labels, so a threshold can be tuned downstream); for more classes
    it is the probability of the predicted class, i.e. the model's confidence.
    """
    import numpy as np
    import pandas as pd

    features = frame[list(columns)]
    out = pd.DataFrame({c: frame[c].to_numpy() for c in passthrough})
    predicted = np.asarray(model.predict(features))
    # pyfunc models may answer with a frame; its first column is the prediction.
    out[prediction_column] = predicted[:, 0] if predicted.ndim > 1 else predicted
    classes = getattr(model, "classes_", None)
    if not hasattr(model, "predict_proba") or classes is None:
        return out, None
    proba = np.asarray(model.predict_proba(features))
    if len(classes) == 2:
        out[f"{prediction_column}_proba"] = proba[:, 1]
        positive = np.asarray(classes).tolist()[1]  # a plain Python value: the tag must not read np.int64(1)
        return out, f"probability of class {positive!r}"
    out[f"{prediction_column}_proba"] = proba.max(axis=1)
    return out, "probability of the predicted class"
