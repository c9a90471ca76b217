"""validate_data reads only the columns its rules name; a frame of just those gives every rule the same result."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from airflow_mlops.hooks.gx import validate_dataframe
from airflow_mlops.hooks.gx_columns import columns_read


def _exp(type_name: str, **kwargs: object) -> dict[str, object]:
    return {"type": type_name, "kwargs": kwargs}


COLUMN_RULES = [
    _exp("expect_table_row_count_to_be_between", min_value=10),
    _exp("expect_column_to_exist", column="label"),
    _exp("expect_column_values_to_be_in_set", column="label", value_set=[0, 1]),
    _exp("expect_column_values_to_be_between", column="score", min_value=0, max_value=0.5, mostly=0.9),
    _exp("expect_column_pair_values_a_to_be_greater_than_b", column_A="high", column_B="score", or_equal=True),
    _exp("expect_compound_columns_to_be_unique", column_list=["label", "text"]),
    _exp("expect_column_values_to_not_be_null", column="missing_from_the_file"),
    _exp("expect_column_to_exist", column="also_missing"),
]


def test_the_columns_are_those_the_rules_name_once_each_in_order() -> None:
    assert columns_read(COLUMN_RULES) == ["label", "score", "high", "text", "missing_from_the_file", "also_missing"]
    assert columns_read([_exp("expect_table_row_count_to_equal", value=3)]) == []


@pytest.mark.parametrize(
    "rule",
    [
        _exp("expect_table_column_count_to_equal", value=4),
        _exp("expect_table_columns_to_match_ordered_list", column_list=["label", "score"]),
        _exp("expect_column_to_exist", column="label", column_index=0),
        _exp("expect_column_values_to_not_be_null", column="label", row_condition="score > 0.5"),
        _exp("expect_table_row_count_to_be_between", min_value=1, row_condition="score > 0.5"),
        _exp("expect_something_new", column="label"),
        _exp("expect_column_values_to_not_be_null"),
    ],
)
def test_a_rule_on_the_whole_table_reads_every_column(rule: dict[str, object]) -> None:
    assert columns_read([COLUMN_RULES[1], rule]) is None


def test_a_frame_of_the_named_columns_gives_the_same_result() -> None:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "label": rng.integers(0, 2, 300),
            "other": rng.normal(size=300),
            "score": rng.uniform(0, 1, 300),
            "high": rng.uniform(1, 2, 300),
            "text": rng.choice(["a", "b"], 300),
            "unread": rng.choice(["x", "y"], 300),
        }
    )
    wanted = columns_read(COLUMN_RULES)
    assert wanted is not None
    selected = frame[[c for c in frame.columns if c in wanted]]

    whole = validate_dataframe(frame, COLUMN_RULES, suite_name="s")
    assert validate_dataframe(selected, COLUMN_RULES, suite_name="s") == whole
    # the suite fails where it should, so failures (counts, examples, missing columns) are compared too
    assert [r["success"] for r in whole["results"]] == [True, True, True, False, True, False, False, False]
