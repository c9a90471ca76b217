"""numeric_share parses each distinct value once; the share and the rows it returns are those of a row-by-row parse."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from airflow_mlops.data_contract import frames
from airflow_mlops.data_contract.frames import numeric_share

from .conftest import check, rules

TEXT = ["1", " 2 ", "", " ", "\t", "abc", "1e5", "nan", "NaN", "inf", "-3.5", "x1", "0x10", "1,000", "None", None]
OBJECTS = [*TEXT, np.nan, 1, 2.5, True, b"7", b"q"]


def _row_by_row(series: pd.Series) -> tuple[float, pd.Series]:
    """What numeric_share computed before it parsed distinct values: every row parsed on its own."""
    values = series.dropna()
    values = values[values.astype(str).str.strip() != ""]
    if values.empty:
        return 0.0, values
    bad = values[pd.to_numeric(values, errors="coerce").isna()]
    return 1 - len(bad) / len(values), bad


@pytest.mark.parametrize("dtype", ["str", "string", object])
def test_the_share_and_the_rows_are_those_of_a_row_by_row_parse(dtype: object) -> None:
    rng = random.Random(0)
    pool = OBJECTS if dtype is object else TEXT
    for _ in range(300):
        n = rng.randint(0, 40)
        series = pd.Series([rng.choice(pool) for _ in range(n)], dtype=dtype, index=rng.sample(range(1000), n))
        share, bad = numeric_share(series)
        expected_share, expected_bad = _row_by_row(series)
        assert share == expected_share
        pd.testing.assert_series_equal(bad, expected_bad)


def test_each_text_column_is_parsed_once_for_both_rules_that_ask(
    clean: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = clean.assign(grade=["a", "b"] * (len(clean) // 2) + ["a"] * (len(clean) % 2))
    frame["worst_area"] = frame["worst_area"].astype(str).where(frame.index != 3, "abc")
    calls: list[str] = []
    counted = frames.numeric_share

    def counting(series: pd.Series) -> tuple[float, pd.Series]:
        calls.append(str(series.name))
        return counted(series)

    monkeypatch.setattr(frames, "numeric_share", counting)
    found = rules(check(frame))

    assert found[("numeric_text", "worst_area")] is True
    assert sorted(calls) == ["grade", "worst_area"]
