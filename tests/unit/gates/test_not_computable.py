"""Metrics that cannot be computed: named with their reason, never NaN, and a rejection at the gate."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from airflow_mlops.gates.decision import ChampionRule, ThresholdRule, Verdict, decide, select_best
from airflow_mlops.ml.metrics import measure_metrics, measure_slice_metrics
from airflow_mlops.ml.scoring import gate_metrics

FRAME = pd.DataFrame({"x": np.arange(40.0), "region": ["n", "s"] * 20})
LABELS = pd.Series([0] * 20 + [1] * 20)


@pytest.fixture(scope="module")
def model() -> LogisticRegression:
    return LogisticRegression(max_iter=1000).fit(FRAME[["x"]], LABELS)


class NanProba:
    """Right labels, NaN probabilities."""

    classes_ = np.array([0, 1])

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def predict(self, features: Any) -> Any:
        return self.inner.predict(features[["x"]])

    def predict_proba(self, features: Any) -> Any:
        return np.full((len(features), 2), np.nan)


def test_roc_auc_on_one_class_is_named_with_sklearns_reason(model: LogisticRegression) -> None:
    values, missing = measure_metrics(model, FRAME[["x"]].iloc[25:], LABELS.iloc[25:], "classification")
    assert "roc_auc" not in values and "roc_auc" in missing
    assert "one class" in missing["roc_auc"].lower()
    assert values["accuracy"] == 1.0
    json.dumps({"metrics": values, "not_computable": missing}, allow_nan=False)


def test_nan_scores_make_the_probability_metrics_not_computable(model: LogisticRegression) -> None:
    values, missing = measure_metrics(NanProba(model), FRAME, LABELS, "classification")
    assert set(missing) == {"roc_auc", "log_loss"} and "NaN" in missing["roc_auc"]
    assert set(values) == {"accuracy", "precision", "recall", "f1"}


def test_a_model_without_predict_proba_says_so() -> None:
    class LabelsOnly:
        def predict(self, features: Any) -> Any:
            return np.asarray(LABELS)

    _, missing = measure_metrics(LabelsOnly(), FRAME, LABELS, "classification")
    assert missing["roc_auc"] == "the model has no predict_proba"


def test_nan_regression_predictions_are_not_computable() -> None:
    class NanRegressor:
        def predict(self, features: Any) -> Any:
            return np.full(len(features), np.nan)

    values, missing = measure_metrics(NanRegressor(), FRAME[["x"]], FRAME["x"], "regression")
    assert values == {} and set(missing) == {"r2", "rmse", "mae"}


class OnX(NanProba):
    """The fitted model, reading only ``x`` of a frame that also holds the slice column."""

    def predict_proba(self, features: Any) -> Any:
        return self.inner.predict_proba(features[["x"]])


def test_slice_metrics_that_cannot_be_computed_are_keyed_like_slices(model: LogisticRegression) -> None:
    scorer = OnX(model)
    frame = FRAME.assign(region=["n"] * 20 + ["s"] * 20)  # each region holds one class
    sliced, skipped, missing = measure_slice_metrics(scorer, frame, LABELS, "classification", "region", 5)
    assert skipped == {}
    assert "roc_auc[region=n]" in missing and "roc_auc[region=n]" not in sliced
    assert "f1[region=s]" in sliced
    metrics, _, all_missing = gate_metrics(scorer, frame, LABELS, "classification", [{"column": "region"}])
    assert "roc_auc[region=s]" in all_missing and "roc_auc" not in all_missing and "roc_auc" in metrics


def test_a_threshold_on_a_metric_not_computable_fails_with_the_reason() -> None:
    verdict = decide(
        candidate="a", candidate_metrics={"f1": 0.9}, champion_metrics=None, champion_version=None,
        rules=[ThresholdRule("roc_auc", min=0.5), ThresholdRule("f1", min=0.5)], problem="classification",
        n_test=100, candidate_not_computable={"roc_auc": "Input contains NaN."},
    )  # fmt: skip
    assert verdict.decision == "reject"
    [roc] = verdict.failed_outcomes
    assert roc.reason == "roc_auc not computable: Input contains NaN." and roc.candidate_value is None
    assert verdict.summary() == "REJECT a: 1/2 rules passed; roc_auc not computable: Input contains NaN."


def test_a_champion_rule_fails_on_the_candidates_reason_even_on_the_first_run() -> None:
    verdict = decide(
        candidate="a", candidate_metrics={}, champion_metrics=None, champion_version=None,
        rules=[ChampionRule("roc_auc", max_drop=0.1)], problem="classification", n_test=100,
        first_run_policy="promote", candidate_not_computable={"roc_auc": "only one class"},
    )  # fmt: skip
    assert not verdict.passed and verdict.outcomes[0].reason == "roc_auc not computable: only one class"


def test_the_champions_metric_not_computable_fails_the_champion_rule_with_its_reason() -> None:
    verdict = decide(
        candidate="a", candidate_metrics={"roc_auc": 0.9}, champion_metrics={"f1": 0.8}, champion_version="3",
        rules=[ChampionRule("roc_auc", max_drop=0.1)], problem="classification", n_test=100,
        champion_not_computable={"roc_auc": "Input contains NaN."},
    )  # fmt: skip
    assert not verdict.passed
    assert verdict.outcomes[0].reason == "roc_auc not computable for the champion: Input contains NaN."


def test_a_slice_not_computable_is_judged_not_skipped() -> None:
    verdict = decide(
        candidate="a", candidate_metrics={"roc_auc[region=n]": 0.9}, champion_metrics=None, champion_version=None,
        rules=[ThresholdRule("roc_auc", min=0.5, slice_by="region")], problem="classification", n_test=100,
        candidate_not_computable={"roc_auc[region=s]": "only one class"},
    )  # fmt: skip
    by_metric = {o.metric: o for o in verdict.outcomes}
    assert set(by_metric) == {"roc_auc[region=n]", "roc_auc[region=s]"}
    assert by_metric["roc_auc[region=n]"].passed
    assert by_metric["roc_auc[region=s]"].reason == "roc_auc[region=s] not computable: only one class"
    assert verdict.decision == "reject"


def test_select_best_never_picks_on_a_metric_a_candidate_lacks_unless_all_lack_it() -> None:
    assert select_best([("broken", {"f1": 0.99}), ("ok", {"roc_auc": 0.7})], "roc_auc", "classification") == "ok"
    assert select_best([("a", {"f1": 0.99}), ("b", {"f1": 0.5})], "roc_auc", "classification") == "a"


def test_dropped_candidates_are_in_the_verdict_its_summary_and_its_json() -> None:
    verdict = decide(
        candidate="logreg", candidate_metrics={"f1": 0.9}, champion_metrics=None, champion_version=None,
        rules=[ThresholdRule("f1", min=0.5)], problem="classification", n_test=100,
        dropped={"broken": "ValueError: bad learning rate"},
    )  # fmt: skip
    assert verdict.passed
    assert verdict.summary() == "PROMOTE logreg: 1/1 rules passed; dropped: broken (ValueError: bad learning rate)"
    record = verdict.to_dict()
    assert record["dropped"] == {"broken": "ValueError: bad learning rate"}
    assert Verdict.from_dict(json.loads(json.dumps(record, allow_nan=False))) == verdict
    assert "dropped" not in decide(
        candidate="x", candidate_metrics={"f1": 0.9}, champion_metrics=None, champion_version=None,
        rules=[], problem="classification", n_test=1,
    ).to_dict()  # fmt: skip
