"""A model is asked once per test set: the whole-set metrics, every slice and the serving record share its answers.

Scoring a forest is most of ``evaluate``'s cost; asking it again per slice and again for the
serving check's offline predictions made the task slower than the plain script it is measured against.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import f1_score, log_loss, mean_absolute_error
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from airflow_mlops.ml.metrics import measure_metrics, score_rows
from airflow_mlops.ml.scoring import gate_metrics
from airflow_mlops.ml.serving_requests import offline_predictions

RNG = np.random.default_rng(3)
FEATURES = pd.DataFrame({"x": RNG.normal(size=240), "region": RNG.choice(["n", "s", "w"], size=240)})
LABELS = pd.Series((FEATURES["x"] + RNG.normal(scale=0.5, size=240) > 0).astype(int))
FITTED = LogisticRegression().fit(FEATURES[["x"]], LABELS)


class Counting:
    """The fitted model on column x, counting how often it is asked."""

    classes_ = FITTED.classes_

    def __init__(self) -> None:
        self.calls = {"predict": 0, "predict_proba": 0}

    def predict(self, frame: pd.DataFrame) -> Any:
        self.calls["predict"] += 1
        return FITTED.predict(frame[["x"]])

    def predict_proba(self, frame: pd.DataFrame) -> Any:
        self.calls["predict_proba"] += 1
        return FITTED.predict_proba(frame[["x"]])


def test_whole_set_and_every_slice_ask_the_model_once() -> None:
    model = Counting()
    slices = [{"column": "region", "min_rows": 5}]
    metrics, _, missing = gate_metrics(model, FEATURES, LABELS, "classification", slices)
    assert model.calls == {"predict": 1, "predict_proba": 1}
    assert not missing
    assert {"f1[region=n]", "f1[region=s]", "f1[region=w]", "log_loss[region=w]"} <= set(metrics)


def test_given_scores_are_not_asked_again() -> None:
    model = Counting()
    scores = score_rows(model, FEATURES, "classification")
    gate_metrics(model, FEATURES, LABELS, "classification", [{"column": "region", "min_rows": 5}], scores=scores)
    assert model.calls == {"predict": 1, "predict_proba": 1}


def test_each_slice_reads_its_own_rows_of_the_shared_answers() -> None:
    metrics, _, _ = gate_metrics(Counting(), FEATURES, LABELS, "classification", [{"column": "region", "min_rows": 5}])
    for region in ("n", "s", "w"):
        rows = (FEATURES["region"] == region).to_numpy()
        alone = FEATURES.loc[rows, ["x"]]
        assert metrics[f"f1[region={region}]"] == pytest.approx(f1_score(LABELS[rows], FITTED.predict(alone)))
        assert metrics[f"log_loss[region={region}]"] == pytest.approx(
            log_loss(LABELS[rows], FITTED.predict_proba(alone), labels=FITTED.classes_)
        )


def test_regression_scores_once_and_matches_sklearn() -> None:
    target = FEATURES["x"] * 2 + 1
    model = Ridge().fit(FEATURES[["x"]], target)
    scores = score_rows(model, FEATURES[["x"]], "regression")
    assert scores.proba is None
    values, missing = measure_metrics(model, FEATURES[["x"]], target, "regression", scores=scores)
    assert not missing
    assert values["mae"] == pytest.approx(mean_absolute_error(target, model.predict(FEATURES[["x"]])))


def test_offline_predictions_are_the_first_rows_of_the_scored_ones() -> None:
    predictions = np.array([1, 0, 1, 1, 0])
    assert offline_predictions(predictions, 3) == {"rows": 3, "predictions": [1, 0, 1]}
    assert offline_predictions(predictions, 10) == {"rows": 5, "predictions": [1, 0, 1, 1, 0]}


@pytest.mark.parametrize(("only", "probabilities"), [(("f1",), 0), (("accuracy", "recall"), 0), (("roc_auc",), 1)])
def test_only_the_metrics_asked_for_and_probabilities_only_when_one_reads_them(
    only: tuple[str, ...], probabilities: int
) -> None:
    # a tuning fold reads one metric: the rest, and a forest's predict_proba, would be thrown away
    model = Counting()
    values, missing = measure_metrics(model, FEATURES, LABELS, "classification", only=only)
    everything, _ = measure_metrics(Counting(), FEATURES, LABELS, "classification")
    assert values == {name: everything[name] for name in only} and not missing
    assert model.calls == {"predict": 1, "predict_proba": probabilities}


class CountingScaler(StandardScaler):
    """A scaler that counts its transforms: the preprocessing a Pipeline runs before each answer."""

    transforms = 0

    def transform(self, X: Any, copy: bool | None = None) -> Any:
        type(self).transforms += 1
        return super().transform(X, copy=copy)


def test_a_pipeline_preprocesses_the_rows_once_for_both_answers() -> None:
    frame = FEATURES[["x"]].assign(z=RNG.normal(size=240))
    pipeline = Pipeline([("scale", CountingScaler()), ("model", LogisticRegression())]).fit(frame, LABELS)
    CountingScaler.transforms = 0
    scores = score_rows(pipeline, frame, "classification")
    assert CountingScaler.transforms == 1
    np.testing.assert_array_equal(scores.predictions, pipeline.predict(frame))
    np.testing.assert_array_equal(scores.proba, pipeline.predict_proba(frame))
    values, missing = measure_metrics(pipeline, frame, LABELS, "classification", scores=scores)
    assert not missing
    assert values["log_loss"] == log_loss(LABELS, pipeline.predict_proba(frame))


def test_a_forest_walks_its_trees_once_for_both_answers() -> None:
    frame = FEATURES[["x"]].assign(z=RNG.normal(size=240))
    forest = RandomForestClassifier(n_estimators=15, random_state=0).fit(frame, LABELS)
    expected = (forest.predict(frame), forest.predict_proba(frame))
    asked = {"predict_proba": 0}
    proba = forest.predict_proba

    def counted(rows: Any) -> Any:
        asked["predict_proba"] += 1
        return proba(rows)

    def refused(rows: Any) -> Any:
        raise AssertionError("predict walked the trees again")

    forest.predict_proba, forest.predict = counted, refused  # type: ignore[method-assign]
    scores = score_rows(forest, frame, "classification")
    assert asked == {"predict_proba": 1}
    np.testing.assert_array_equal(scores.predictions, expected[0])
    np.testing.assert_array_equal(scores.proba, expected[1])
    assert scores.predictions.dtype == expected[0].dtype


def test_a_forest_whose_predict_is_its_own_is_asked_for_it() -> None:
    class Thresholded(RandomForestClassifier):
        def predict(self, X: Any) -> Any:
            return (self.predict_proba(X)[:, 1] > 0.8).astype(int)

    frame = FEATURES[["x"]]
    model = Thresholded(n_estimators=10, random_state=0).fit(frame, LABELS)
    np.testing.assert_array_equal(score_rows(model, frame, "classification").predictions, model.predict(frame))
