"""Compute the metrics named in gates.metrics for a fitted model on a test set.

A metric that cannot be computed (roc_auc on a test set holding one class, any metric of a
model whose scores are NaN) is never written as NaN: it is left out of the numbers and named,
with the reason, in a second mapping. Every consumer then reads finite floats only, XCom and
MLflow stay valid JSON, and the gate can reject with the reason instead of a bare "NaN".
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_mlops.gates.metrics import METRICS_BY_PROBLEM, Average, Problem

if TYPE_CHECKING:
    import pandas as pd

#: ``{metric: reason}`` for every metric that could not be computed.
NotComputable = dict[str, str]


def _score(compute: Callable[[], Any]) -> tuple[float | None, str | None]:
    """``(value, None)`` for a finite number, else ``(None, reason)``: the error or sklearn's warning."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = float(compute())
        except (ValueError, TypeError, IndexError, ZeroDivisionError) as err:
            return None, str(err) or type(err).__name__
    if math.isfinite(value):
        return value, None
    said = "; ".join(dict.fromkeys(str(w.message) for w in caught))
    return None, said or f"the value is {value}"


def model_classes(model: Any, target: Any) -> list[Any]:
    """The classes the model knows (``classes_``), else those of ``target``.

    The model's own list decides binary or multiclass, so a slice of a three-class test set
    that holds only two classes is still scored the multiclass way.
    """
    import numpy as np

    known = getattr(model, "classes_", None)
    return list(np.asarray(known)) if known is not None else list(np.unique(np.asarray(target)))


def averaging_text(classes: list[Any], average: Average) -> str:
    """How precision, recall, f1 and roc_auc were combined over ``classes``, as the verdict shows it."""
    if len(classes) == 2:
        positive = classes[-1].item() if hasattr(classes[-1], "item") else classes[-1]
        return f"positive class {positive!r}"
    return f"{average} average over {len(classes)} classes"


@dataclass(frozen=True)
class Scores:
    """A model's answers on a test set, computed once and shared by every metric and slice.

    ``proba`` is None for a regression or when ``predict_proba`` failed; ``proba_failure`` then
    holds why, so roc_auc and log_loss are named as not computable with that reason.
    """

    predictions: Any
    proba: Any = None
    proba_failure: Exception | None = None

    def rows(self, mask: Any) -> Scores:
        """The same answers restricted to the rows where ``mask`` holds (a slice)."""
        import numpy as np

        return Scores(
            predictions=np.asarray(self.predictions)[mask],
            proba=None if self.proba is None else self.proba[mask],
            proba_failure=self.proba_failure,
        )


#: The metrics read class probabilities; the others need only ``predict``.
PROBABILITY_METRICS = frozenset({"roc_auc", "log_loss"})


def _preprocessed_once(model: Any, features: Any) -> tuple[Any, Any]:
    """A scikit-learn Pipeline's final estimator and the rows its earlier steps made of ``features``.

    ``Pipeline.predict`` and ``predict_proba`` each run every transformer again: for a classifier
    the one-hot encoding and scaling of the whole set twice (issue #22: 0.6 s and a second model
    matrix on 750,000 training rows). ``pipeline[:-1].transform`` is the path both take, so the
    answers are the same. Any other model is returned as it is.
    """
    pipeline = sys.modules.get("sklearn.pipeline")  # not imported: the model cannot be a Pipeline
    if pipeline is None or not isinstance(model, pipeline.Pipeline) or len(model.steps) < 2:
        return model, features
    final = model.steps[-1][1]
    if final is None or final == "passthrough":
        return model, features
    return final, model[:-1].transform(features)


def _predicts_by_argmax(model: Any) -> bool:
    """A scikit-learn forest classifier's ``predict`` is the argmax of its ``predict_proba`` (its own code).

    So one pass over the trees gives both answers, where asking for each walked every tree twice.
    Random forests and extra trees share that ``predict``; a subclass that overrides it is asked as usual.
    """
    ensemble = sys.modules.get("sklearn.ensemble")  # not imported: the model cannot be a forest
    if ensemble is None or getattr(type(model), "predict", None) is not ensemble.RandomForestClassifier.predict:
        return False
    return getattr(model, "n_outputs_", 0) == 1


def score_rows(model: Any, features: pd.DataFrame, problem: Problem, *, proba: bool = True) -> Scores:
    """``predict`` (and for classification ``predict_proba``, unless ``proba`` is false) once on ``features``.

    ``proba=False`` is for a caller that reads no probability metric (a tuning fold scored on f1):
    for a forest, ``predict_proba`` costs as much as ``predict`` again.
    """
    import numpy as np

    model, features = _preprocessed_once(model, features)
    if problem != "regression" and proba and _predicts_by_argmax(model):
        probabilities = np.asarray(model.predict_proba(features), dtype=float)
        return Scores(model.classes_.take(np.argmax(probabilities, axis=1), axis=0), probabilities)
    predictions = np.asarray(model.predict(features))
    if problem == "regression" or not proba:
        return Scores(predictions)
    try:
        if not hasattr(model, "predict_proba"):
            raise ValueError("the model has no predict_proba")
        proba = np.asarray(model.predict_proba(features), dtype=float)
    except (ValueError, TypeError, IndexError) as err:
        failed = err if str(err).startswith("the model") else ValueError(f"predict_proba failed: {err}")
        return Scores(predictions, proba_failure=failed)
    return Scores(predictions, proba)


def measure_metrics(
    model: Any,
    features: pd.DataFrame,
    target: pd.Series,
    problem: Problem,
    average: Average = "macro",
    *,
    scores: Scores | None = None,
    only: Collection[str] | None = None,
) -> tuple[dict[str, float], NotComputable]:
    """Every metric the problem type knows: the finite ones, and the others with why they are missing.

    For more than two classes, ``average`` combines the per-class precision, recall, f1 and
    roc_auc (one-vs-rest); two classes score the positive class, the larger label. ``scores``,
    when given, are the model's answers on ``features`` already computed (the model is not asked again).
    ``only`` names the metrics wanted when not all are (a tuning trial reads one per fold, and the
    others would cost more than the fold's predictions); each is computed as it would be among all.
    """
    import numpy as np
    from sklearn import metrics as skm

    proba = only is None or not PROBABILITY_METRICS.isdisjoint(only)
    answers = scores if scores is not None else score_rows(model, features, problem, proba=proba)
    predictions = answers.predictions
    if problem == "regression":
        formulas: dict[str, Callable[[], Any]] = {
            "r2": lambda: skm.r2_score(target, predictions),
            "rmse": lambda: np.sqrt(skm.mean_squared_error(target, predictions)),
            "mae": lambda: skm.mean_absolute_error(target, predictions),
        }
    else:
        formulas = _classification_formulas(model, target, answers, average)
    if only is not None:
        formulas = {name: compute for name, compute in formulas.items() if name in only}
    values: dict[str, float] = {}
    missing: NotComputable = {}
    for name, compute in formulas.items():
        value, reason = _score(compute)
        if value is not None:
            values[name] = value
        else:
            missing[name] = reason or "not computable"
    assert set(values) | set(missing) <= set(METRICS_BY_PROBLEM[problem])
    return values, missing


def _classification_formulas(model: Any, target: Any, scores: Scores, average: Average) -> dict[str, Callable[[], Any]]:
    import numpy as np
    from sklearn import metrics as skm

    classes = model_classes(model, target)
    binary = len(classes) == 2
    pos_label = classes[-1] if binary else 1
    scoring = {"average": "binary" if binary else average, "pos_label": pos_label, "zero_division": 0}
    if not binary:
        scoring["labels"] = classes
    predictions = scores.predictions
    formulas: dict[str, Callable[[], Any]] = {
        "accuracy": lambda: skm.accuracy_score(target, predictions),
        "precision": lambda: skm.precision_score(target, predictions, **scoring),
        "recall": lambda: skm.recall_score(target, predictions, **scoring),
        "f1": lambda: skm.f1_score(target, predictions, **scoring),
    }
    proba = scores.proba
    if proba is None:
        failed = scores.proba_failure or ValueError("the model has no predict_proba")

        def refuse() -> Any:
            raise failed

        return {**formulas, "roc_auc": refuse, "log_loss": refuse}

    def roc_auc() -> Any:
        if binary:
            return skm.roc_auc_score(target, proba[:, classes.index(pos_label)])
        if average == "micro":  # scikit-learn's one-vs-rest micro average: every (row, class) pair counts once
            indicator = np.asarray(target)[:, None] == np.asarray(classes)[None, :]
            return skm.roc_auc_score(indicator, proba, average="micro")
        return skm.roc_auc_score(target, proba, multi_class="ovr", labels=classes, average=average)

    formulas["roc_auc"] = roc_auc
    formulas["log_loss"] = lambda: skm.log_loss(target, proba, labels=classes)
    return formulas


def compute_metrics(
    model: Any, features: pd.DataFrame, target: pd.Series, problem: Problem, average: Average = "macro"
) -> dict[str, float]:
    """The finite metrics only (see :func:`measure_metrics` for the ones that could not be computed)."""
    return measure_metrics(model, features, target, problem, average)[0]


MAX_SLICES = 50


def measure_slice_metrics(
    model: Any,
    features: pd.DataFrame,
    target: pd.Series,
    problem: Problem,
    column: str,
    min_rows: int,
    average: Average = "macro",
    *,
    scores: Scores | None = None,
) -> tuple[dict[str, float], dict[str, int], NotComputable]:
    """Metrics on each value of ``column`` of the test set, keyed like ``recall[region=north]``.

    Slices smaller than ``min_rows`` are returned separately, with their size, instead of
    being judged on a handful of rows; so are the slice metrics that could not be computed,
    under the same keys, with their reasons. A column with many values is not a slice: it is
    refused, since a gate over hundreds of tiny slices would reject on noise. ``scores`` are the
    model's answers on the whole test set when already computed: each slice takes its rows of them.
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
    answers = scores if scores is not None else score_rows(model, features, problem)
    sliced: dict[str, float] = {}
    skipped: dict[str, int] = {}
    missing: NotComputable = {}
    for value in sorted(values, key=str):
        mask = (features[column] == value).to_numpy()
        rows = int(mask.sum())
        if rows < min_rows:
            skipped[str(value)] = rows
            continue
        numbers, reasons = measure_metrics(
            model, features[mask], target[mask], problem, average, scores=answers.rows(mask)
        )
        sliced.update({slice_key(metric, column, value): number for metric, number in numbers.items()})
        missing.update({slice_key(metric, column, value): reason for metric, reason in reasons.items()})
    return sliced, skipped, missing


def compute_slice_metrics(
    model: Any, features: pd.DataFrame, target: pd.Series, problem: Problem, column: str, min_rows: int
) -> tuple[dict[str, float], dict[str, int]]:
    """The finite slice metrics and the slices too small to judge (see :func:`measure_slice_metrics`)."""
    sliced, skipped, _ = measure_slice_metrics(model, features, target, problem, column, min_rows)
    return sliced, skipped
