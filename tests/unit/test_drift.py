"""The drift math (PSI, KS, the per-feature rule) as pure functions, with properties where they exist."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_mlops import drift
from airflow_mlops.drift import compare, ks_test, psi_categorical, psi_numeric, quantile_edges
from airflow_mlops.errors import DriftInputError

# Seeded numpy draws inside hypothesis; derandomize keeps the stochastic properties out of CI flakiness.
SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
SIZES = st.integers(min_value=500, max_value=3000)
DETERMINISTIC = settings(max_examples=40, deadline=None, derandomize=True)


def _normal(seed: int, size: int, loc: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(loc, 1.0, size)


# -- PSI -------------------------------------------------------------------------------------


@given(values=st.lists(st.floats(allow_nan=True, allow_infinity=False, width=32), min_size=1, max_size=300))
@settings(max_examples=100, deadline=None)
def test_psi_of_a_sample_with_itself_is_zero(values: list[float]) -> None:
    sample = np.array(values)
    assert psi_numeric(sample, sample) == pytest.approx(0.0, abs=1e-12)
    assert psi_numeric(sample, np.random.default_rng(0).permutation(sample)) == pytest.approx(0.0, abs=1e-12)


@given(seed=SEEDS, size=SIZES)
@DETERMINISTIC
def test_psi_of_two_draws_of_one_distribution_is_small(seed: int, size: int) -> None:
    assert psi_numeric(_normal(seed, size), _normal(seed + 1, size)) < 0.1


@given(seed=SEEDS, size=SIZES)
@DETERMINISTIC
def test_psi_grows_with_the_mean_shift(seed: int, size: int) -> None:
    reference = _normal(seed, size)
    current = _normal(seed + 1, size)
    psis = [psi_numeric(reference, current + shift) for shift in (0.0, 0.5, 1.0, 2.0)]
    assert psis == sorted(psis)
    assert psis[0] < 0.1 < 0.2 < psis[2]


@given(seed=SEEDS, size=SIZES, shift=st.sampled_from([0.0, 1.0, 2.0]))
@DETERMINISTIC
def test_psi_is_roughly_symmetric(seed: int, size: int, shift: float) -> None:
    # Bins come from the reference, so swapping the samples is not exact; the verdict must agree.
    a, b = _normal(seed, size), _normal(seed + 1, size, loc=shift)
    forward, backward = psi_numeric(a, b), psi_numeric(b, a)
    assert (forward > 0.2) == (backward > 0.2)
    if shift:
        assert 0.5 < forward / backward < 2.0


def test_constant_column_is_stable_against_itself_and_drifts_when_it_moves() -> None:
    constant = np.full(200, 3.0)
    assert quantile_edges(constant, 10).tolist() == [3.0]
    assert psi_numeric(constant, np.full(50, 3.0)) == pytest.approx(0.0, abs=1e-12)
    assert psi_numeric(constant, np.full(50, 4.0)) > 5
    assert psi_numeric(constant, np.full(50, 2.0)) == pytest.approx(0.0, abs=1e-12)  # <= 3.0: the same bin
    report = compare(pd.DataFrame({"x": constant}), pd.DataFrame({"x": np.full(50, 4.0)}), ["x"])
    assert report["features"]["x"]["drifted"]
    assert report["features"]["x"]["ks_pvalue"] < 0.01


def test_few_distinct_values_give_fewer_bins_not_empty_ones() -> None:
    reference = np.array([0.0] * 70 + [1.0] * 30)
    assert quantile_edges(reference, 10).tolist() == [0.0, 1.0]
    assert psi_numeric(reference, np.array([0.0] * 69 + [1.0] * 31)) < 0.01


def test_nans_are_a_bin_of_their_own() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(size=1000)
    same_values_now_half_missing = reference.copy()
    same_values_now_half_missing[::2] = np.nan
    assert psi_numeric(reference, same_values_now_half_missing) > 0.2
    # The same share of missing values on both sides is no drift.
    with_nans = reference.copy()
    with_nans[::10] = np.nan
    other = rng.normal(size=1000)
    other[::10] = np.nan
    assert psi_numeric(with_nans, other) < 0.1
    # All-missing reference: one finite bin and the NaN bin, still finite.
    assert math.isfinite(psi_numeric(np.full(10, np.nan), rng.normal(size=10)))


def test_empty_bins_get_epsilon_not_infinity() -> None:
    reference = np.arange(100, dtype=float)
    far_away = np.full(100, 1e6)  # every current row in the top bin, nine bins empty
    value = psi_numeric(reference, far_away)
    assert math.isfinite(value)
    assert value > 5


def test_categorical_psi_and_a_new_category() -> None:
    reference = ["a"] * 50 + ["b"] * 50
    assert psi_categorical(reference, ["b", "a"] * 40) == pytest.approx(0.0, abs=1e-12)
    assert psi_categorical(reference, ["a"] * 45 + ["b"] * 45 + ["c"] * 10) > 0.2
    assert psi_categorical(reference, ["a"] * 50 + [None] * 50) > 0.2  # missing is a category too


def test_ks_on_the_same_and_on_a_shifted_distribution() -> None:
    sample = _normal(3, 400)
    statistic, pvalue = ks_test(sample, np.random.default_rng(0).permutation(sample))  # type: ignore[misc]
    assert statistic == 0.0 and pvalue == 1.0
    assert ks_test(sample, sample + 1.0)[1] < 1e-10  # type: ignore[index]
    assert ks_test([np.nan, np.nan], sample) is None


@given(seed=SEEDS, size=SIZES)
@DETERMINISTIC
def test_ks_pvalue_is_large_for_draws_of_one_distribution(seed: int, size: int) -> None:
    result = ks_test(_normal(seed, size), _normal(seed + 1, size))
    assert result is not None
    assert result[1] > 1e-3


def test_empty_sample_is_an_error() -> None:
    with pytest.raises(DriftInputError, match="at least one row"):
        psi_numeric([], [1.0])
    with pytest.raises(DriftInputError, match="at least one row"):
        psi_categorical(["a"], [])


# -- compare ---------------------------------------------------------------------------------


def _frames(seed: int = 0, size: int = 800) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def frame() -> pd.DataFrame:
        return pd.DataFrame(
            {
                "a": rng.normal(size=size),
                "b": rng.exponential(size=size),
                "c": rng.integers(0, 5, size=size),
                "colour": rng.choice(["red", "green", "blue"], size=size),
                "target": rng.integers(0, 2, size=size),
            }
        )

    return frame(), frame()


def test_compare_without_drift() -> None:
    reference, current = _frames()
    report = compare(reference, current, ["a", "b", "c", "colour"])
    assert set(report["features"]) == {"a", "b", "c", "colour"}
    assert report["summary"] == {
        "drifted": False,
        "n_drifted": 0,
        "drifted_features": [],
        "features_checked": 4,
        "reference_rows": 800,
        "current_rows": 800,
        "rule": (
            "a feature drifts if psi > 0.2 or (numeric) ks p-value < 0.01; "
            "the data drifts if at least 1 feature(s) drift"
        ),
        "psi_threshold": 0.2,
        "ks_pvalue": 0.01,
        "bins": 10,
        "min_drifted_features": 1,
    }
    assert report["features"]["colour"]["kind"] == "categorical"
    assert report["features"]["colour"]["ks_pvalue"] is None
    assert report["features"]["a"]["kind"] == "numeric"
    assert report["features"]["a"]["reason"].startswith("stable: psi ")
    json.dumps(report, allow_nan=False)  # strict JSON: it goes to XCom and MLflow


def test_compare_with_drift_ranks_features_by_psi() -> None:
    reference, current = _frames()
    current["a"] = current["a"] * 1.5 + 2.0
    current["b"] = current["b"] + 0.4
    report = compare(reference, current, ["a", "b", "c", "colour"])
    summary = report["summary"]
    assert summary["drifted"] is True
    assert set(summary["drifted_features"]) == {"a", "b"}
    psi = {name: report["features"][name]["psi"] for name in ("a", "b")}
    assert summary["drifted_features"] == sorted(psi, key=lambda name: -psi[name])
    assert min(psi.values()) > 0.2
    assert report["features"]["a"]["reason"].startswith("drifted: psi ")
    assert "ks p-value" in report["features"]["a"]["reason"]
    assert [f["feature"] for f in drift.top_features(report, 2)] == summary["drifted_features"]
    json.dumps(report, allow_nan=False)


def test_a_feature_drifts_on_ks_alone() -> None:
    # A shift small enough for PSI but, with this many rows, clear to KS: the rule is an OR.
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({"x": rng.normal(size=20000)})
    current = pd.DataFrame({"x": rng.normal(0.1, 1.0, size=20000)})
    result = compare(reference, current, ["x"])["features"]["x"]
    assert result["psi"] < 0.2
    assert result["ks_pvalue"] < 0.01
    assert result["drifted"]


def test_min_drifted_features_decides_for_the_data() -> None:
    reference, current = _frames()
    current["a"] = current["a"] + 3.0
    assert compare(reference, current, ["a", "b"], min_drifted_features=1)["summary"]["drifted"] is True
    loose = compare(reference, current, ["a", "b"], min_drifted_features=2)["summary"]
    assert loose["drifted"] is False
    assert loose["n_drifted"] == 1


def test_a_feature_missing_from_the_new_data_is_named() -> None:
    reference, current = _frames()
    with pytest.raises(DriftInputError, match=r"feature\(s\) 'b' missing from the current data"):
        compare(reference, current.drop(columns=["b"]), ["a", "b"])
    with pytest.raises(DriftInputError, match="missing from the reference data"):
        compare(reference.drop(columns=["a"]), current, ["a"])


def test_empty_inputs_are_errors() -> None:
    reference, current = _frames()
    with pytest.raises(DriftInputError, match="no features"):
        compare(reference, current, [])
    with pytest.raises(DriftInputError, match="the current data has no rows"):
        compare(reference, current.iloc[:0], ["a"])


def test_a_numeric_column_that_turns_into_text_is_compared_as_categories() -> None:
    reference = pd.DataFrame({"x": [1, 2, 3] * 20})
    current = pd.DataFrame({"x": ["1", "2", "three"] * 20})
    result = compare(reference, current, ["x"])["features"]["x"]
    assert result["kind"] == "categorical"
    assert result["drifted"]


def test_all_missing_column_stays_json() -> None:
    reference = pd.DataFrame({"x": [np.nan] * 10})
    current = pd.DataFrame({"x": [1.0] * 10})
    result = compare(reference, current, ["x"])["features"]["x"]
    assert result["reference_mean"] is None
    assert result["ks_pvalue"] is None
    assert result["drifted"]  # 100% missing -> 0% missing is drift, told by PSI alone
    json.dumps(result, allow_nan=False)
