"""Leakage rules: a feature that is the target, or alone predicts it almost perfectly, names itself."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from airflow_mlops.data_contract.leakage import _balanced_accuracy, _cannot_reach, leakage_issues
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


def test_large_frames_are_sampled_so_the_check_stays_fast() -> None:
    rng = np.random.default_rng(3)
    rows = 400_000
    target = rng.integers(0, 2, rows)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(10)}).assign(
        leak=target + rng.normal(0, 0.05, rows), target=target
    )

    started = time.perf_counter()
    issues = leakage_issues(frame, "target", [*(f"x{i}" for i in range(10)), "leak"], "classification", CheckSettings())
    elapsed = time.perf_counter() - started

    assert [(i.rule, i.column) for i in issues] == [("leakage_predicts_target", "leak")]
    assert elapsed < 20, elapsed


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
