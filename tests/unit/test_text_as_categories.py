"""Text columns are fitted as pandas categories: faster, and the fitted Pipeline is the same object.

The claim that makes the change safe is sameness, so the test compares pickles byte for byte:
the imputer's most frequent values, the encoder's categories and the model's coefficients.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from airflow_mlops.ml.estimators import build_pipeline, fit_weighted, text_as_categories

RNG = np.random.default_rng(11)
ROWS = 3000


def _frame() -> tuple[pd.DataFrame, pd.Series]:
    region = RNG.choice(["north", "south", "east", "west"], size=ROWS).astype(object)
    region[:40] = None  # missing text, which the imputer fills with the most frequent value
    frame = pd.DataFrame(
        {
            "x": RNG.normal(size=ROWS),
            "count": RNG.integers(0, 9, size=ROWS),
            "region": pd.Series(region, dtype="str"),
            "plan": pd.Series(RNG.choice(["a", "b", "c"], size=ROWS), dtype="str"),
        }
    )
    labels = pd.Series(((frame["x"] + (frame["plan"] == "b")) > 0.3).astype(int))
    return frame, labels


CANDIDATES = [
    ("sklearn.linear_model.LogisticRegression", {"max_iter": 50}, {"impute": "mean"}),
    ("sklearn.ensemble.RandomForestClassifier", {"n_estimators": 5, "random_state": 0}, {"scale": "none"}),
]


@pytest.mark.parametrize(("estimator", "params", "preprocessing"), CANDIDATES)
def test_the_pipeline_fitted_on_categories_is_the_same_bytes(
    estimator: str, params: dict[str, object], preprocessing: dict[str, object]
) -> None:
    frame, labels = _frame()
    fitted = []
    for rows in (frame, text_as_categories(frame)):
        pipeline = build_pipeline(
            estimator_path=estimator, params=params, preprocessing=preprocessing, features=frame,
            allowed_prefixes=["sklearn."],
        )  # fmt: skip
        fitted.append(fit_weighted(pipeline, rows, labels, {"0": 1.0, "1": 2.0}))
    assert pickle.dumps(fitted[0]) == pickle.dumps(fitted[1])
    np.testing.assert_array_equal(fitted[0].predict_proba(frame), fitted[1].predict_proba(frame))


def test_only_str_columns_change() -> None:
    frame, _ = _frame()
    frame["note"] = pd.Series(["x", None] * (ROWS // 2), dtype=object)  # None would become NaN: left alone
    frame["tier"] = pd.Series(["gold", "silver"] * (ROWS // 2), dtype="category")
    cast = text_as_categories(frame)
    assert {c: str(t) for c, t in cast.dtypes.items()} == {
        "x": "float64", "count": "int64", "region": "category", "plan": "category", "note": "object",
        "tier": "category",
    }  # fmt: skip
    assert cast["region"].isna().sum() == 40
    assert frame["region"].dtype == "str"  # the caller's frame is not changed


def test_a_frame_without_text_is_returned_as_it_is() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "n": [1, 2]})
    assert text_as_categories(frame) is frame
