"""GX's two hot spots on big frames are skipped, and neither changes a verdict or a number."""

from __future__ import annotations

import importlib.util
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from airflow_mlops.hooks import gx, gx_fast_paths

# The bench's validation workload: 20 rules over ints, floats, codes, a unique id and missing values.
_SUITE = importlib.util.spec_from_file_location(
    "bench_validation_suite", Path(__file__).resolve().parents[3] / "bench" / "validation_suite.py"
)
assert _SUITE is not None and _SUITE.loader is not None
_suite = importlib.util.module_from_spec(_SUITE)
_SUITE.loader.exec_module(_suite)
EXPECTATIONS, make_frame = _suite.EXPECTATIONS, _suite.make_frame


def _util() -> Any:
    gx._import_gx()
    from great_expectations import util

    return util


def test_the_decimal_scan_answers_numeric_arrays_from_their_dtype_and_object_arrays_as_gx_does() -> None:
    import numpy as np

    check = _util().does_ndarray_contain_decimal_dtype
    original = check.__mlops_original__
    arrays = [
        np.arange(5, dtype="int64"),
        np.linspace(0, 1, 5),
        np.array([True, False]),
        np.array(["2026-01-01"], dtype="datetime64[ns]"),
        np.array([Decimal("1.5"), Decimal("2")], dtype=object),
        np.array([1.5, "a", None], dtype=object),
        np.array([], dtype=object),
    ]
    assert [check(data=a) for a in arrays] == [original(data=a) for a in arrays] == [False] * 4 + [True, False, False]


def test_installing_twice_wraps_gx_once() -> None:
    util = _util()
    gx_fast_paths.install()
    gx_fast_paths.install()
    original = util.does_ndarray_contain_decimal_dtype.__mlops_original__
    assert not hasattr(original, "__mlops_original__")
    assert original.__module__ == "great_expectations.util"


def test_a_mean_of_decimals_is_still_converted_and_checked() -> None:
    import pandas as pd

    frame = pd.DataFrame({"amount": [Decimal("1.5"), Decimal("2.5"), Decimal("3.5")]})
    rule = {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "amount", "min_value": 2, "max_value": 3}}
    (result,) = gx.validate_dataframe(frame, [rule], suite_name="decimals")["results"]
    assert (result["success"], result["observed_value"]) == (True, 2.5)


def test_the_frame_is_not_fingerprinted_and_the_threshold_comes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    gx._import_gx()
    from great_expectations.execution_engine import pandas_execution_engine as engine

    def refuse(df: Any) -> str:
        raise AssertionError("GX hashed the whole frame")

    monkeypatch.setattr(engine, "hash_pandas_dataframe", refuse)
    before = engine.HASH_THRESHOLD
    report = gx.validate_dataframe(make_frame(2_000), EXPECTATIONS, suite_name="unhashed")
    assert report["success"] and before == engine.HASH_THRESHOLD
    with pytest.raises(RuntimeError), gx_fast_paths.without_frame_fingerprint():
        assert engine.HASH_THRESHOLD == 0
        raise RuntimeError("inside")
    assert before == engine.HASH_THRESHOLD


def test_every_result_equals_what_gx_computes_without_the_fast_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    util = _util()
    frame = make_frame(3_000)
    fast = gx.validate_dataframe(frame, EXPECTATIONS, suite_name="fast")
    monkeypatch.setattr(
        util, "does_ndarray_contain_decimal_dtype", util.does_ndarray_contain_decimal_dtype.__mlops_original__
    )
    monkeypatch.setattr(gx_fast_paths, "install", lambda: None)
    slow = gx.validate_dataframe(frame, EXPECTATIONS, suite_name="fast")
    assert fast == slow
    assert [r["success"] for r in fast["results"]] == [True] * len(EXPECTATIONS)
