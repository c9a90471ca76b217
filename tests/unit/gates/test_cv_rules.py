"""Gate rules on cross-validated figures (gates/cv.py): the mean, and the bound one fold std towards worse."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_mlops.gates.cv import cv_bound, cv_figures, cv_key
from airflow_mlops.gates.decision import ThresholdRule, decide
from airflow_mlops.gates.metrics import METRICS_BY_PROBLEM, direction_of
from airflow_mlops.gates.rules import rules_from_spec

VALUES = st.floats(-1e6, 1e6, allow_nan=False)
STDS = st.floats(0, 1e3, allow_nan=False)
DIRECTIONS = st.sampled_from(["higher", "lower"])


@given(VALUES, STDS, DIRECTIONS)
def test_the_bound_is_never_better_than_the_mean(mean: float, std: float, direction: str) -> None:
    bound = cv_bound(mean, std, direction)  # type: ignore[arg-type]
    assert (bound <= mean) if direction == "higher" else (bound >= mean)
    assert abs(abs(bound - mean) - std) <= 1e-9 * max(1.0, abs(mean), std)


@given(VALUES, STDS, STDS, DIRECTIONS)
def test_a_steadier_model_has_the_better_bound(mean: float, std: float, wider: float, direction: str) -> None:
    steady, spread = cv_bound(mean, min(std, wider), direction), cv_bound(mean, max(std, wider), direction)  # type: ignore[arg-type]
    assert (steady >= spread) if direction == "higher" else (steady <= spread)


def _problem_metric() -> st.SearchStrategy[tuple[str, str]]:
    return st.sampled_from([(p, m) for p, metrics in METRICS_BY_PROBLEM.items() for m in metrics])


@given(_problem_metric(), st.floats(0, 1), st.floats(0, 0.3), st.floats(0, 1), st.sampled_from(["mean", "bound"]))
def test_a_cv_rule_passes_exactly_when_its_figure_meets_the_bound(
    case: tuple[str, str], mean: float, std: float, limit: float, figure: str
) -> None:
    problem, metric = case
    direction = direction_of(metric, problem)  # type: ignore[arg-type]
    higher = direction == "higher"
    rule = ThresholdRule(metric, min=limit if higher else None, max=None if higher else limit, cv=figure)  # type: ignore[arg-type]
    # the test-set value is perfect: only the cross-validated figure can fail the rule
    metrics = {metric: 1.0 if higher else 0.0, cv_key(metric, "mean"): mean, cv_key(metric, "std"): std}
    verdict = decide(
        candidate="c", candidate_metrics=metrics, champion_metrics=None, champion_version=None,
        rules=[rule], problem=problem, n_test=100,  # type: ignore[arg-type]
    )  # fmt: skip
    value = mean if figure == "mean" else cv_bound(mean, std, direction)
    expected = value >= limit - 1e-9 if higher else value <= limit + 1e-9
    (outcome,) = verdict.outcomes
    assert outcome.passed is expected and outcome.candidate_value == pytest.approx(value)
    assert outcome.metric == cv_key(metric, figure)


def test_the_bound_rejects_a_model_that_won_on_one_lucky_split() -> None:
    rules = rules_from_spec([{"metric": "f1", "min": 0.85}, {"metric": "f1", "min": 0.85, "cv": "bound"}])
    lucky = {"f1": 0.95, "cv_f1_mean": 0.86, "cv_f1_std": 0.09}
    verdict = decide(candidate="lucky", candidate_metrics=lucky, champion_metrics=None, champion_version=None,
                     rules=rules, problem="classification", n_test=50)  # fmt: skip
    assert verdict.decision == "reject"
    assert [o.passed for o in verdict.outcomes] == [True, False]
    assert verdict.outcomes[1].reason == "cv_f1_bound 0.7700 is below the minimum 0.85"


def test_for_rmse_the_bound_is_the_upper_one() -> None:
    assert cv_figures({"cv_rmse_mean": 50.0, "cv_rmse_std": 4.0}, "rmse", "lower") == {
        "cv_rmse_mean": 50.0, "cv_rmse_bound": 54.0,
    }  # fmt: skip
    rules = rules_from_spec([{"metric": "rmse", "max": 53.0, "cv": "bound"}])
    metrics = {"rmse": 40.0, "cv_rmse_mean": 50.0, "cv_rmse_std": 4.0}
    verdict = decide(candidate="c", candidate_metrics=metrics, champion_metrics=None, champion_version=None,
                     rules=rules, problem="regression", n_test=50)  # fmt: skip
    assert verdict.decision == "reject" and "cv_rmse_bound 54.0000 is above the maximum 53" in verdict.summary()


def test_a_cv_rule_without_recorded_folds_rejects_and_says_so() -> None:
    rules = rules_from_spec([{"metric": "f1", "min": 0.5, "cv": "mean"}])
    verdict = decide(candidate="c", candidate_metrics={"f1": 0.9}, champion_metrics=None, champion_version=None,
                     rules=rules, problem="classification", n_test=50)  # fmt: skip
    assert verdict.decision == "reject"
    assert verdict.outcomes[0].reason == "cv_f1_mean was not computed for the candidate"
