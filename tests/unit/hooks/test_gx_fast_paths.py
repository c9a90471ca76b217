"""GX's hot spots are skipped, and none of the shortcuts changes a verdict, a number or an id."""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import math
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


def test_plain_json_values_get_the_ids_gx_gives_them_and_the_rest_go_down_gx_own_ladder() -> None:
    import numpy as np

    gx._import_gx()
    from great_expectations.core import id_dict

    fast = id_dict.convert_to_json_serializable
    original = fast.__mlops_original__
    values: list[Any] = [
        None,
        "c18",
        3,
        True,
        0.25,
        {"column": "c10", "min_value": 0, "max_value": 99, "strict_min": False, "row_condition": None},
        {"value_set": [0, 1, 2], "nested": {"a": (1, 2.5, None)}},
        {"mostly": math.nan},
        {1: "int key"},
        {"x": np.int64(3), "y": np.float64(0.1), "z": np.array([1, 2])},
        [math.inf, "a"],
    ]
    for value in values:
        assert fast(data=value) == original(data=value), value
    shared = {"value_set": [0, 1]}
    assert fast(data=shared) is not shared and fast(data=shared)["value_set"] is not shared["value_set"]


def test_each_expectation_builds_its_configuration_once_inside_a_validation_only() -> None:
    gx._import_gx()
    import great_expectations.expectations as gxe
    from great_expectations.expectations.expectation import Expectation
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    built = Expectation.__dict__["configuration"]
    rule = gxe.ExpectColumnValuesToBeBetween(column="c10", min_value=0, max_value=99)
    other = gxe.ExpectColumnValuesToBeBetween(column="c11", min_value=0, max_value=99)
    assert rule.configuration is not rule.configuration
    to_domain = ExpectationConfiguration.__dict__["to_domain_obj"]
    with pytest.raises(RuntimeError), gx_fast_paths.one_configuration_per_expectation():
        first = rule.configuration
        assert rule.configuration is first and other.configuration is not first
        assert first.to_json_dict() == built.fget(rule).to_json_dict()
        domain = first.to_domain_obj()
        assert first.to_domain_obj() is domain and domain.dict() == to_domain(first).dict()
        copied = copy.deepcopy(first)  # GX copies a configuration before it changes one
        assert copied.to_domain_obj() is not copied.to_domain_obj()
        raise RuntimeError("inside")
    assert Expectation.__dict__["configuration"] is built
    assert ExpectationConfiguration.__dict__["to_domain_obj"] is to_domain
    assert rule.configuration is not rule.configuration


def _without_fast_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """GX as it ships: every replaced function back, no per-validation shortcut, the context saving
    the suite and its config, and the result format passed as its bare name."""
    from great_expectations import util
    from great_expectations.core import id_dict
    from great_expectations.expectations import expectation, registry
    from great_expectations.expectations.metrics.map_metric_provider import map_metric_provider

    for module, name in (
        (util, "does_ndarray_contain_decimal_dtype"),
        (expectation, "camel_to_snake"),
        (id_dict, "convert_to_json_serializable"),
        *[(map_metric_provider, name) for name in gx_fast_paths._PARTIAL_LIST_PROVIDERS],
    ):
        monkeypatch.setattr(module, name, getattr(module, name).__mlops_original__)
    restored = 0
    for definition in registry._registered_metrics.values():
        providers = definition.get("providers", {})
        for engine, (metric_class, provider) in list(providers.items()):
            if hasattr(provider, "__mlops_original__"):
                monkeypatch.setitem(providers, engine, (metric_class, provider.__mlops_original__))
                restored += 1
    assert restored >= 2 * 15  # every map metric's partial values and index list
    monkeypatch.setattr(gx, "_gx_result_format", lambda name: name)

    def stored_suite(module: Any, name: str, built: Any) -> tuple[Any, dict[str, int]]:
        suite = module.get_context(mode="ephemeral").suites.add(module.ExpectationSuite(name=name, expectations=built))
        return suite, {expectation.id: index for index, expectation in enumerate(suite.expectations)}

    monkeypatch.setattr(gx, "_suite_of", stored_suite)
    monkeypatch.setattr(gx_fast_paths, "install", lambda: None)
    monkeypatch.setattr(gx_fast_paths, "for_one_validation", contextlib.nullcontext)
    ephemeral = gx._ephemeral_context

    def saving_context(module: Any) -> Any:
        context = ephemeral(module)
        del context._save_project_config
        return context

    monkeypatch.setattr(gx, "_ephemeral_context", saving_context)


@pytest.mark.parametrize("result_format", ["SUMMARY", "COMPLETE"])
def test_every_result_equals_what_gx_computes_without_the_fast_paths(
    monkeypatch: pytest.MonkeyPatch, result_format: str
) -> None:
    _util()
    frame = make_frame(3_000)
    broken = frame.copy()
    broken.loc[::100, "c10"] = 500  # out of range, more often than a partial list holds
    broken.loc[::7, "c00"] = None  # nulls where none are allowed
    broken.loc[5, "c18"] = broken.loc[6, "c18"]  # a duplicated id
    broken.loc[::9, "c11"] = None  # nulls GX leaves out of a range check, before and among ...
    broken.loc[1::40, "c11"] = 500  # ... values out of range
    frames = (frame, broken)
    fast = [gx.validate_dataframe(f, EXPECTATIONS, suite_name="s", result_format=result_format) for f in frames]
    _without_fast_paths(monkeypatch)
    slow = [gx.validate_dataframe(f, EXPECTATIONS, suite_name="s", result_format=result_format) for f in frames]
    assert fast == slow
    assert [r["success"] for r in fast[0]["results"]] == [True] * len(EXPECTATIONS)
    failed = {
        (r["type"], r["kwargs"].get("column"), r["unexpected_count"]): r["partial_unexpected_index_list"]
        for r in fast[1]["results"]
        if not r["success"]
    }
    assert failed == {
        ("expect_column_values_to_be_between", "c10", 30): list(range(0, 2_000, 100)),
        ("expect_column_values_to_be_between", "c11", 75): list(range(1, 800, 40)),
        ("expect_column_values_to_not_be_null", "c00", 429): list(range(0, 140, 7)),
        ("expect_column_values_to_be_unique", "c18", 2): [5, 6],
    }


def test_gx_does_not_build_the_unexpected_index_query_the_report_would_drop(monkeypatch: pytest.MonkeyPatch) -> None:
    _util()
    from great_expectations.expectations import registry

    built: list[Any] = []
    providers = registry._registered_metrics["column_values.between.unexpected_index_query"]["providers"]
    for engine, (metric_class, provider) in list(providers.items()):

        def recording(provider: Any = provider, **kwargs: Any) -> Any:
            built.append(provider(**kwargs))
            return built[-1]

        monkeypatch.setitem(providers, engine, (metric_class, recording))
    broken = make_frame(500)
    broken.loc[::50, "c10"] = 500
    for result_format in sorted(gx.RESULT_FORMATS):
        report = gx.validate_dataframe(broken, EXPECTATIONS, suite_name="no-query", result_format=result_format)
        assert report["statistics"]["unsuccessful_expectations"] == 1, result_format
    # GX asks for the query at SUMMARY and COMPLETE (5 range rules each); each answer is None.
    assert built == [None] * 10


def test_complete_still_lists_every_unexpected_value_and_row() -> None:
    gx_module = gx._import_gx()
    import great_expectations.expectations as gxe

    frame = make_frame(3_000)
    frame.loc[::100, "c10"] = 500
    context = gx._ephemeral_context(gx_module)
    batch = (
        context.data_sources.add_pandas(name="complete")
        .add_dataframe_asset(name="frame")
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    rule = gxe.ExpectColumnValuesToBeBetween(column="c10", min_value=0, max_value=99)
    complete = batch.validate(rule, result_format="COMPLETE").result
    assert complete["unexpected_index_list"] == list(range(0, 3_000, 100))
    assert complete["unexpected_list"] == [500] * 30
    summary = batch.validate(rule, result_format="SUMMARY").result
    assert summary["partial_unexpected_index_list"] == list(range(0, 2_000, 100))
