"""The GX adapter against real Great Expectations 1.x: no mocks, small generated frames."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pandas as pd
import pytest

from airflow_mlops.errors import UnknownExpectationError
from airflow_mlops.hooks.gx import MAX_PARTIAL_UNEXPECTED, expectation_class_name, summarize, validate_dataframe

N_ROWS = 200


def _exp(type_name: str, **kwargs: object) -> dict[str, object]:
    return {"type": type_name, "kwargs": kwargs}


@pytest.fixture
def clean_df() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    score = rng.uniform(0.0, 1.0, N_ROWS)
    score[:5] = [1.5, 2.0, -0.5, 3.0, 9.9]  # 2.5% out of range: tolerated by mostly=0.95
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, N_ROWS),
            "score": score,
            "country": rng.choice(["DE", "FR", "NL"], N_ROWS),
        }
    )


PASSING_SUITE = [
    _exp("expect_column_values_to_not_be_null", column="age"),
    _exp("expect_column_values_to_be_between", column="score", min_value=0, max_value=1, mostly=0.95),
    _exp("expect_column_values_to_be_in_set", column="country", value_set=["DE", "FR", "NL"]),
    _exp("expect_table_row_count_to_be_between", min_value=100, max_value=1000),
    _exp("expect_column_to_exist", column="country"),
]


def test_passing_suite_reports_success_and_exact_statistics(clean_df: pd.DataFrame) -> None:
    result = validate_dataframe(clean_df, PASSING_SUITE, suite_name="train")

    assert result["success"] is True
    assert result["suite"] == "train"
    assert result["gx_version"].startswith("1.")
    assert result["statistics"] == {
        "evaluated_expectations": 5,
        "successful_expectations": 5,
        "unsuccessful_expectations": 0,
        "success_percent": 100.0,
    }
    assert [r["type"] for r in result["results"]] == [e["type"] for e in PASSING_SUITE]
    assert all(r["success"] is True for r in result["results"])
    between = result["results"][1]
    # Tolerated by mostly, but still counted: the report must not hide the 5 bad rows.
    assert between["unexpected_count"] == 5
    assert between["unexpected_percent"] == pytest.approx(2.5)
    assert sorted(between["partial_unexpected_list"]) == [-0.5, 1.5, 2.0, 3.0, 9.9]
    assert result["results"][3]["observed_value"] == N_ROWS
    assert result["results"][0]["kwargs"] == {"column": "age"}


def test_failing_suite_identifies_failures_with_exact_counts(clean_df: pd.DataFrame) -> None:
    df = clean_df.astype({"age": "float64"})
    df.loc[[3, 17, 40, 41, 99, 150, 199], "age"] = np.nan
    df.loc[[10, 20, 30], "age"] = [150.0, -3.0, 999.0]
    suite = [
        _exp("expect_column_values_to_not_be_null", column="age"),
        _exp("expect_column_values_to_be_between", column="age", min_value=0, max_value=120),
        _exp("expect_column_values_to_be_in_set", column="country", value_set=["DE", "FR", "NL"]),
        _exp("expect_table_row_count_to_be_between", min_value=500),
    ]

    result = validate_dataframe(df, suite, suite_name="train")

    assert result["success"] is False
    stats = result["statistics"]
    assert (stats["evaluated_expectations"], stats["successful_expectations"]) == (4, 1)
    assert stats["unsuccessful_expectations"] == 3
    assert stats["success_percent"] == pytest.approx(25.0)
    not_null, between, in_set, row_count = result["results"]
    assert (not_null["success"], not_null["unexpected_count"]) == (False, 7)
    assert not_null["unexpected_percent"] == pytest.approx(3.5)
    assert not_null["partial_unexpected_list"] == [None] * 7  # NaN would not be valid JSON
    assert not_null["partial_unexpected_index_list"] == [3, 17, 40, 41, 99, 150, 199]
    assert (between["success"], between["unexpected_count"]) == (False, 3)
    assert between["partial_unexpected_list"] == [150.0, -3.0, 999.0]  # in row order, with their rows
    assert between["partial_unexpected_index_list"] == [10, 20, 30]
    assert in_set["success"] is True
    assert (row_count["success"], row_count["observed_value"]) == (False, N_ROWS)


def test_results_keep_input_order_and_surface_evaluation_errors(clean_df: pd.DataFrame) -> None:
    # GX sorts results (a failed metric comes first); the adapter must restore input order.
    suite = [
        _exp("expect_column_values_to_not_be_null", column="age"),
        _exp("expect_column_to_exist", column="income"),
        _exp("expect_column_values_to_be_between", column="income", min_value=0),
    ]

    result = validate_dataframe(clean_df, suite, suite_name="order")

    assert [r["type"] for r in result["results"]] == [e["type"] for e in suite]
    assert [r["success"] for r in result["results"]] == [True, False, False]
    assert result["results"][1]["exception"] is None
    assert 'column "income"' in result["results"][2]["exception"]
    reasons = [f["reason"] for f in summarize(result)["failed"]]
    assert reasons[1].startswith("could not evaluate:") and "income" in reasons[1]


def test_unknown_expectation_type_suggests_closest_names(clean_df: pd.DataFrame) -> None:
    with pytest.raises(UnknownExpectationError, match="expect_column_values_to_not_be_nul'") as info:
        validate_dataframe(clean_df, [_exp("expect_column_values_to_not_be_nul", column="age")], suite_name="s")

    assert isinstance(info.value, ValueError)
    assert info.value.suggestions[0] == "expect_column_values_to_not_be_null"
    assert "did you mean 'expect_column_values_to_not_be_null'" in str(info.value)


@pytest.mark.parametrize("type_name", ["expectation", "ExpectColumnToExist", "expect_multicolumn_values_to_be_unique"])
def test_names_that_are_not_usable_gx_expectation_types_are_unknown(clean_df: pd.DataFrame, type_name: str) -> None:
    # "expectation" would otherwise resolve to the abstract base class, and 1.24 ships
    # ExpectMulticolumnValuesToBeUnique with an empty expectation_type.
    with pytest.raises(UnknownExpectationError):
        validate_dataframe(clean_df, [_exp(type_name, column="age")], suite_name="s")


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (
            _exp("expect_column_values_to_be_between", column="score", min_value=0, max_value=1, mostly=1.5),
            "mostly",
        ),
        (_exp("expect_column_values_to_not_be_null", colum="age"), "colum"),
        (_exp("expect_column_values_to_not_be_null"), "column: field required"),
    ],
)
def test_bad_kwargs_name_the_index_type_and_problem(
    clean_df: pd.DataFrame, bad: dict[str, object], problem: str
) -> None:
    suite = [*PASSING_SUITE[:2], bad]
    with pytest.raises(ValueError, match=r"expectations\[2\]") as info:
        validate_dataframe(clean_df, suite, suite_name="s")

    assert not isinstance(info.value, UnknownExpectationError)
    assert str(bad["type"]) in str(info.value)
    assert problem in str(info.value)


def test_duplicate_expectations_are_rejected_not_silently_merged(clean_df: pd.DataFrame) -> None:
    suite = [PASSING_SUITE[0], PASSING_SUITE[2], dict(PASSING_SUITE[0])]
    with pytest.raises(ValueError, match=r"expectations\[2\] duplicates expectations\[0\]"):
        validate_dataframe(clean_df, suite, suite_name="s")


def test_result_is_strict_json_with_plain_python_scalars(clean_df: pd.DataFrame) -> None:
    df = clean_df.assign(score=clean_df["score"].where(clean_df.index % 10 != 0))
    suite = [
        _exp("expect_column_mean_to_be_between", column="score", min_value=0, max_value=0.1),
        _exp("expect_column_unique_value_count_to_be_between", column="country", min_value=5),
        _exp("expect_column_values_to_not_be_null", column="score"),
        _exp("expect_column_values_to_be_in_set", column="country", value_set=["DE"]),
    ]

    result = validate_dataframe(df, suite, suite_name="json", result_format="COMPLETE")
    text = json.dumps(result, allow_nan=False)

    assert json.loads(text) == result
    mean, unique, not_null, in_set = result["results"]
    # numpy.float64 subclasses float and would slip through json.dumps; it must be unwrapped.
    assert type(mean["observed_value"]) is float and math.isfinite(mean["observed_value"])
    assert type(unique["observed_value"]) is int and unique["observed_value"] == 3
    assert type(not_null["unexpected_count"]) is int and not_null["unexpected_count"] == N_ROWS // 10
    assert all(v is None for v in not_null["partial_unexpected_list"])
    # COMPLETE returns every unexpected value; the report caps the sample but keeps the count.
    assert in_set["unexpected_count"] > MAX_PARTIAL_UNEXPECTED
    assert len(in_set["partial_unexpected_list"]) == MAX_PARTIAL_UNEXPECTED
    assert all(type(v) is str for v in in_set["partial_unexpected_list"])


def test_each_call_is_isolated_so_reusing_a_suite_name_works(clean_df: pd.DataFrame) -> None:
    suite = [_exp("expect_table_row_count_to_be_between", min_value=150)]

    first = validate_dataframe(clean_df, suite, suite_name="same")
    second = validate_dataframe(clean_df.head(10), suite, suite_name="same")

    assert (first["success"], first["results"][0]["observed_value"]) == (True, N_ROWS)
    assert (second["success"], second["results"][0]["observed_value"]) == (False, 10)


def test_progress_bars_stay_out_of_task_logs(
    clean_df: pd.DataFrame, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GX_ANALYTICS_ENABLED", raising=False)

    validate_dataframe(clean_df, PASSING_SUITE, suite_name="quiet")

    out, err = capfd.readouterr()
    assert "Calculating Metrics" not in out + err
    assert "%|" not in out + err
    assert os.environ["GX_ANALYTICS_ENABLED"] == "False"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"result_format": "FULL"}, ValueError),
        ({"expectations": {"type": "expect_column_to_exist"}}, TypeError),
        ({"expectations": [["expect_column_to_exist"]]}, ValueError),
        ({"expectations": [{"type": "expect_column_to_exist", "kwarg": {"column": "age"}}]}, ValueError),
        ({"df": {"age": [1, 2]}}, TypeError),
    ],
)
def test_malformed_calls_fail_before_touching_data(
    clean_df: pd.DataFrame, kwargs: dict[str, object], error: type[Exception]
) -> None:
    call: dict[str, object] = {"df": clean_df, "expectations": PASSING_SUITE, "suite_name": "s", **kwargs}
    with pytest.raises(error):
        validate_dataframe(**call)  # type: ignore[arg-type]


def _fake_result(n_pass: int, n_fail: int) -> dict[str, object]:
    results = [
        {"type": "expect_column_to_exist", "kwargs": {"column": f"ok{i}"}, "success": True} for i in range(n_pass)
    ]
    results += [
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": f"c{i}"},
            "success": False,
            "observed_value": None,
            "unexpected_count": i + 1,
            "unexpected_percent": (i + 1) / 4,
            "partial_unexpected_list": [None],
            "exception": None,
        }
        for i in range(n_fail)
    ]
    total = n_pass + n_fail
    return {
        "success": n_fail == 0,
        "suite": "fake",
        "statistics": {
            "evaluated_expectations": total,
            "successful_expectations": n_pass,
            "unsuccessful_expectations": n_fail,
            "success_percent": 100.0 * n_pass / total,
        },
        "results": results,
    }


def test_summarize_caps_failures_but_counts_them_all() -> None:
    digest = summarize(_fake_result(n_pass=5, n_fail=15), max_failures=10)

    assert digest["success"] is False
    assert digest["n_failed"] == 15
    assert [f["column"] for f in digest["failed"]] == [f"c{i}" for i in range(10)]
    assert digest["failed"][0] == {
        "type": "expect_column_values_to_not_be_null",
        "column": "c0",
        "reason": "1 unexpected value (0.2%), e.g. [None]",
    }
    assert digest["statistics"]["unsuccessful_expectations"] == 15
    assert summarize(_fake_result(5, 15), max_failures=0)["failed"] == []
    assert summarize(_fake_result(5, 0))["n_failed"] == 0
    with pytest.raises(ValueError, match="max_failures"):
        summarize(_fake_result(1, 1), max_failures=-1)


def test_summarize_explains_real_failures_in_plain_words(clean_df: pd.DataFrame) -> None:
    df = clean_df.astype({"age": "float64"})
    df.loc[:11, "age"] = np.nan
    suite = [
        _exp("expect_column_values_to_not_be_null", column="age", mostly=0.99),
        _exp("expect_table_row_count_to_be_between", min_value=500, max_value=600),
        _exp("expect_column_to_exist", column="income"),
    ]

    digest = summarize(validate_dataframe(df, suite, suite_name="s"))

    assert digest["n_failed"] == 3
    assert json.dumps(digest)
    not_null, row_count, exists = digest["failed"]
    assert not_null["column"] == "age"
    assert not_null["reason"].startswith("12 unexpected values (6.0%), at most 1.0% allowed")
    assert not_null["reason"].endswith(" in rows 0, 1, 2")  # where to look in the pinned file
    assert (row_count["column"], row_count["reason"]) == (
        None,
        "observed 200, expected min_value=500, max_value=600",
    )
    assert (exists["column"], exists["reason"]) == ("income", "not met")


@pytest.mark.parametrize(
    ("type_name", "class_name"),
    [
        ("expect_column_values_to_not_be_null", "ExpectColumnValuesToNotBeNull"),
        ("expect_table_row_count_to_be_between", "ExpectTableRowCountToBeBetween"),
        ("expect_column_pair_values_a_to_be_greater_than_b", "ExpectColumnPairValuesAToBeGreaterThanB"),
        ("expect_column_kl_divergence_to_be_less_than", "ExpectColumnKLDivergenceToBeLessThan"),
    ],
)
def test_expectation_class_name_maps_snake_to_class(type_name: str, class_name: str) -> None:
    assert expectation_class_name(type_name) == class_name


@pytest.mark.parametrize("bad", ["", "ExpectColumnToExist", "expect__double", "expect_column-x", "_expect"])
def test_expectation_class_name_rejects_non_snake_case(bad: str) -> None:
    with pytest.raises(ValueError, match="snake_case"):
        expectation_class_name(bad)


def test_expectation_class_name_agrees_with_every_gx_expectation() -> None:
    import great_expectations.expectations as gxe
    from great_expectations.expectations.expectation import Expectation

    checked = 0
    for name in dir(gxe):
        cls = getattr(gxe, name)
        is_expectation = name.startswith("Expect") and isinstance(cls, type) and issubclass(cls, Expectation)
        # expectation_type is empty on the base class and on 1.24's broken multicolumn-unique.
        if is_expectation and cls.expectation_type:
            assert expectation_class_name(cls.expectation_type) == name
            checked += 1
    assert checked > 50
