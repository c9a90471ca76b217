"""Leakage rules: a feature that is the target, or alone predicts it almost perfectly, names itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from airflow_mlops.data_contract import leakage
from airflow_mlops.data_contract.leakage import _balanced_accuracy, _cannot_reach, _ruled_out, leakage_issues
from airflow_mlops.data_contract.settings import CheckSettings, SplitSettings

from .conftest import check, rules


def test_a_copy_or_an_encoding_of_the_target_equals_it(clean: pd.DataFrame) -> None:
    frame = clean.assign(
        outcome=clean["target"].map({0: "malignant", 1: "benign"}),
        shifted=clean["target"] * 3 + 0.5,
    )

    assert rules(check(frame)) == {
        ("leakage_equals_target", "outcome"): True,
        ("leakage_equals_target", "shifted"): True,
    }


def test_a_feature_that_alone_separates_the_classes_is_suspected(clean: pd.DataFrame) -> None:
    rng = np.random.default_rng(1)
    frame = clean.assign(score=clean["target"] * 10 + rng.normal(0, 1, len(clean)))

    [issue] = check(frame)

    assert (issue.rule, issue.column, issue.blocking) == ("leakage_predicts_target", "score", True)
    assert "balanced accuracy" in issue.message


def test_a_text_feature_that_gives_the_class_away_is_suspected(clean: pd.DataFrame) -> None:
    codes = np.where(clean["target"] == 1, "B", "M")
    frame = clean.assign(code=[f"{c}{i % 4}" for i, c in enumerate(codes)])  # eight values, each one class

    assert rules(check(frame)) == {("leakage_predicts_target", "code"): True}


def test_a_strong_honest_feature_is_not_leakage(clean: pd.DataFrame) -> None:
    # worst_perimeter alone classifies about 90% of rows: a good feature, not the answer.
    issues = leakage_issues(clean, "target", ["worst_perimeter"], "classification", CheckSettings())

    assert issues == []
    assert leakage_issues(clean, "target", ["worst_perimeter"], "classification", CheckSettings(leakage_accuracy=0.6))


def test_regression_leakage_by_equality_and_by_correlation(clean: pd.DataFrame) -> None:
    rng = np.random.default_rng(2)
    frame = clean.drop(columns=["target"]).assign(target=clean["mean_area"])
    frame = frame.drop(columns=["mean_area"]).assign(
        copy=frame["target"], scaled=frame["target"] * 2 + rng.normal(0, 0.01, len(frame))
    )
    split = SplitSettings(stratify=False)

    found = rules(check(frame, problem="regression", split=split))

    assert found[("leakage_equals_target", "copy")] is True
    assert found[("leakage_predicts_target", "scaled")] is True
    # mean_radius and mean_perimeter follow mean_area closely but not to 0.999
    assert not any(column in {"mean_radius", "mean_perimeter"} for _, column in found)


def test_leakage_can_be_switched_off(clean: pd.DataFrame) -> None:
    assert check(clean.assign(copy=clean["target"]), settings=CheckSettings(leakage=False)) == []


def test_a_large_frame_is_judged_on_a_sample() -> None:
    rng = np.random.default_rng(3)
    rows = 400_000
    target = rng.integers(0, 2, rows)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(10)}).assign(
        leak=target + rng.normal(0, 0.05, rows), target=target
    )

    issues = leakage_issues(frame, "target", [*(f"x{i}" for i in range(10)), "leak"], "classification", CheckSettings())

    assert [(i.rule, i.column) for i in issues] == [("leakage_predicts_target", "leak")]


@settings(max_examples=300, deadline=None)
@given(
    rows=st.integers(min_value=4, max_value=120),
    classes=st.integers(min_value=2, max_value=4),
    distinct=st.integers(min_value=1, max_value=40),
    noise=st.floats(min_value=0.0, max_value=0.3),
    missing=st.floats(min_value=0.0, max_value=0.2),
    depth=st.integers(min_value=1, max_value=4),
    limit=st.sampled_from([0.9, 0.95, 0.99, 1.0]),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_a_tree_ruled_out_by_counting_never_reaches_the_limit(
    rows: int, classes: int, distinct: int, noise: float, missing: float, depth: int, limit: float, seed: int
) -> None:
    """The screen that skips fitting is sound: whatever tree it rules out scores below the limit on those rows.

    Data are built near the edge: a few distinct values (ties), missing values, and classes that a
    threshold almost separates, flipped by noise. The tree is fitted on the very rows it is scored on,
    the best case for it, so a held-out split can only score lower.
    """
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(seed)
    values = rng.integers(0, distinct, rows).astype("float64")
    truth = np.minimum((values * classes) // max(distinct, 1), classes - 1).astype(np.int64)
    flip = rng.random(rows) < noise
    truth[flip] = rng.integers(0, classes, int(flip.sum()))
    values[rng.random(rows) < missing] = np.nan
    truth = pd.factorize(truth)[0]
    assume(len(np.unique(truth)) >= 2)

    leaves = 2**depth
    if _cannot_reach(values, truth, leaves, limit):
        tree = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(values.reshape(-1, 1), truth)
        assert _balanced_accuracy(truth, tree.predict(values.reshape(-1, 1))) < limit


def test_the_screen_keeps_a_feature_that_separates_the_classes() -> None:
    values = np.arange(100, dtype="float64")
    truth = (values >= 50).astype(np.int64)
    truth[[10, 80]] = 1 - truth[[10, 80]]  # two errors: balanced accuracy 0.98

    assert not _cannot_reach(values, truth, leaves=4, limit=0.97)
    assert _cannot_reach(np.random.default_rng(0).permutation(values), truth, leaves=4, limit=0.97)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(min_value=2, max_value=160),
    classes=st.integers(min_value=2, max_value=4),
    seed=st.integers(min_value=0, max_value=2**16),
    limit=st.sampled_from([0.8, 0.95, 0.99]),
)
def test_screening_all_features_at_once_changes_no_verdict(rows: int, classes: int, seed: int, limit: float) -> None:
    """The one-pass screen only skips work whose answer is known: with it and without it, the same issues.

    The features sit on the edges of both screens: encodings of the target (with and without a
    missing value or an infinity), few distinct values, near-separating noise, integers and booleans.
    """
    rng = np.random.default_rng(seed)
    target = rng.integers(0, classes, rows)
    assume(len(np.unique(target)) >= 2)
    noisy = target + rng.normal(0, 0.3, rows)
    frame = pd.DataFrame(
        {
            "encoded": target * 2.5 - 1,
            "encoded_nan": np.where(rng.random(rows) < 0.05, np.nan, target * 1.0),
            "encoded_inf": np.where(target == 0, np.inf, target * 1.0),
            "few": rng.integers(0, classes, rows).astype("float64"),
            "near": noisy,
            "near_missing": np.where(rng.random(rows) < 0.1, np.nan, noisy),
            "count": rng.integers(0, 5, rows),
            "flag": target == 1,
            "target": target,
        }
    )
    features = [c for c in frame.columns if c != "target"]
    settings_ = CheckSettings(leakage_accuracy=limit)

    screened = leakage_issues(frame, "target", features, "classification", settings_)
    unscreened_of = leakage._Screen.of
    try:
        leakage._Screen.of = classmethod(  # type: ignore[method-assign, assignment]
            lambda cls, *_: cls(frozenset(), frozenset(), frozenset())
        )
        unscreened = leakage_issues(frame, "target", features, "classification", settings_)
    finally:
        leakage._Screen.of = unscreened_of  # type: ignore[method-assign]

    assert [(i.rule, i.column) for i in screened] == [(i.rule, i.column) for i in unscreened]


@settings(max_examples=100, deadline=None)
@given(
    rows=st.integers(min_value=2, max_value=80),
    columns=st.integers(min_value=1, max_value=6),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_the_screen_rules_out_each_column_as_it_would_alone(rows: int, columns: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    block = rng.integers(0, 6, (rows, columns)).astype("float64")
    block[rng.random((rows, columns)) < 0.1] = np.nan
    truth = pd.factorize(rng.integers(0, 3, rows))[0]

    together = _ruled_out(block, truth, leaves=4, limit=0.9).tolist()

    assert together == [_cannot_reach(block[:, j], truth, leaves=4, limit=0.9) for j in range(columns)]
