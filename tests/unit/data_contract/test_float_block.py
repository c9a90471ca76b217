"""The number block two rules read: the same values whichever way the frame lets it be built."""

from __future__ import annotations

import numpy as np
import pandas as pd

from airflow_mlops.data_contract.frames import float_block


def _expected(rows: list[list[float]]) -> np.ndarray:
    return np.array(rows, dtype="float64")


def test_all_numeric_frame_picks_the_named_columns_in_their_order() -> None:
    frame = pd.DataFrame({"a": [1.0, np.inf], "b": pd.array([1, None], dtype="Int64"), "c": [True, False], "d": [3, 4]})
    block = float_block(frame, ["d", "b", "a"])
    np.testing.assert_array_equal(block, _expected([[3, 1, 1], [4, np.nan, np.inf]]))
    assert block.flags.c_contiguous


def test_frame_with_text_columns_reads_only_the_named_numbers() -> None:
    frame = pd.DataFrame({"a": [1.5, 2.5], "name": ["x", "y"], "d": [3, 4]})
    np.testing.assert_array_equal(float_block(frame, ["d", "a"]), _expected([[3, 1.5], [4, 2.5]]))


def test_a_repeated_name_reads_its_first_column() -> None:
    frame = pd.DataFrame([[1.0, 9.0, 2.0], [3.0, 9.0, 4.0]], columns=["a", "a", "b"])
    np.testing.assert_array_equal(float_block(frame, ["b", "a"]), _expected([[2, 1], [4, 3]]))
