"""Target rules: classes and rows enough for the split, finite regression labels, a valid stratify."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from airflow_mlops.data_contract.settings import CheckSettings, SplitSettings

from .conftest import check, rules


def test_a_single_class_stops_the_run_before_leakage_is_judged(clean: pd.DataFrame) -> None:
    issues = check(clean[clean["target"] == 1])

    assert rules(issues) == {("single_class", "target"): True}
    assert "only 1" in issues[0].message


def test_a_class_too_small_for_the_split_names_it_and_the_floor(clean: pd.DataFrame) -> None:
    frame = clean.assign(target=clean["target"].where(clean.index >= 3, 2))  # class 2: three rows

    [issue] = check(frame, split=SplitSettings(test_size=0.25))

    assert (issue.rule, issue.column, issue.blocking) == ("class_too_small", "target", True)
    assert "fewer than 4 rows (2: 3)" in issue.message


@pytest.mark.parametrize(
    ("test_size", "cv_folds", "configured", "needed"),
    [(0.2, None, None, 5), (0.25, None, None, 4), (0.5, None, None, 2), (0.2, 10, None, 10), (0.2, None, 30, 30),
     (0.2, None, 1, 5), (0.3, None, None, 4)],
)  # fmt: skip
def test_rows_per_class_is_the_most_the_split_folds_and_yaml_ask(
    test_size: float, cv_folds: int | None, configured: int | None, needed: int
) -> None:
    assert SplitSettings(test_size=test_size, cv_folds=cv_folds).rows_per_class(configured) == needed


def test_min_rows_per_class_from_the_yaml_raises_the_floor(clean: pd.DataFrame) -> None:
    assert rules(check(clean, settings=CheckSettings(min_rows_per_class=300))) == {("class_too_small", "target"): True}


def test_missing_labels_and_continuous_labels_are_named(clean: pd.DataFrame) -> None:
    missing = clean.assign(target=clean["target"].astype("float64").where(clean.index != 5))
    continuous = clean.assign(target=clean["mean_radius"] / 10)

    assert rules(check(missing)) == {("target_null", "target"): True}
    assert rules(check(continuous)) == {("target_continuous", "target"): True}


def test_float_labels_with_whole_values_are_classes(clean: pd.DataFrame) -> None:
    assert check(clean.assign(target=clean["target"].astype("float64"))) == []


def test_regression_target_must_be_finite_numbers_and_not_stratified(clean: pd.DataFrame) -> None:
    frame = clean.drop(columns=["target"]).rename(columns={"mean_area": "target"})
    broken = frame.assign(target=frame["target"].where(frame.index > 1, np.inf).where(frame.index != 9))

    assert check(frame, problem="regression", split=SplitSettings(stratify=False)) == []
    assert rules(check(broken, problem="regression", split=SplitSettings(stratify=False))) == {
        ("target_not_finite", "target"): True
    }
    assert "3 row(s)" in check(broken, problem="regression", split=SplitSettings(stratify=False))[0].message
    assert rules(check(frame, problem="regression", split=SplitSettings(stratify=True))) == {
        ("stratify_regression", "target"): True
    }
    text = frame.assign(target=frame["target"].astype(str))
    assert rules(check(text, problem="regression", split=SplitSettings(stratify=False))) == {
        ("target_not_numeric", "target"): True
    }


def test_too_few_rows_for_a_stratified_split_of_three_classes() -> None:
    frame = pd.DataFrame({"x": np.arange(9.0), "target": [0, 0, 0, 1, 1, 1, 2, 2, 2]})

    found = rules(check(frame, split=SplitSettings(test_size=0.2), settings=CheckSettings(min_rows_per_class=1)))

    assert found[("too_few_rows", "target")] is True  # ceil(9 * 0.2) = 2 test rows for 3 classes


def test_target_checks_can_be_switched_off(clean: pd.DataFrame) -> None:
    assert check(clean[clean["target"] == 1], settings=CheckSettings(target=False)) == []
