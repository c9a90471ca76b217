"""validate_data reuses an earlier DAG run's GX result for the same bytes and suite, and only then.

Real operators against a real sqlite MLflow store and DVC repository (tests/unit/operators/conftest.py).
A hit is proved by making the data unreadable: a reused result reads nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_mlops.errors import DataValidationError
from airflow_mlops.record import paths, tag
from airflow_mlops.record.cache import CacheOutcome

from .conftest import DVC_CONN, MLFLOW_CONN, Stack, context, resolve

PASSING = [
    {"type": "expect_column_to_exist", "kwargs": {"column": "target"}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "target", "value_set": [0, 1]}},
]
FAILING = [
    *PASSING,
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "mean radius", "min_value": 0, "max_value": 1}},
]


def _validate(
    data: Any, experiment: str, run_id: str, expectations: list[dict[str, Any]] = PASSING, **kwargs: Any
) -> Any:
    from airflow_mlops.operators.validation import ValidateDataOperator

    params = kwargs.pop("params", None)
    op = ValidateDataOperator(
        task_id="validate_data", data=data, expectations=expectations, experiment=experiment,
        dvc_conn_id=DVC_CONN, mlflow_conn_id=MLFLOW_CONN, **kwargs,
    )  # fmt: skip
    found = context("v", run_id)
    found["params"] = params or {}
    digest = op.execute(found)
    return digest, op.lineage_report


def _outcome(stack: Stack, experiment: str, run_id: str) -> CacheOutcome:
    hook = stack.hook
    experiment_id = hook.get_or_create_experiment(experiment)
    parent = stack.client().get_run(hook.get_or_create_pipeline_run(experiment_id, "v", run_id))
    return CacheOutcome.from_json(parent.data.tags[tag.cache_outcome("validate_data")])


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("validate_data read the data although an earlier result was reusable")


def test_a_second_run_reuses_the_result_and_records_it_as_its_own(stack: Stack) -> None:
    first, _ = _validate(resolve(stack, "v", "g1"), "vcache_reuse", "g1")
    assert _outcome(stack, "vcache_reuse", "g1").reason == "no earlier run of this pipeline computed it"

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("airflow_mlops.operators.validation.read_pinned", _refuse)
        again, lineage = _validate(resolve(stack, "v", "g2"), "vcache_reuse", "g2")
    assert again["mlflow_run_id"] != first["mlflow_run_id"]
    assert {k: v for k, v in again.items() if k != "mlflow_run_id"} == {
        k: v for k, v in first.items() if k != "mlflow_run_id"
    }
    outcome = _outcome(stack, "vcache_reuse", "g2")
    assert (outcome.hit, outcome.source_dag_run, outcome.source_run_id) == (True, "g1", first["mlflow_run_id"])
    # This run's own record holds the result, as a computed one would.
    run = stack.client().get_run(again["mlflow_run_id"])
    assert run.data.tags[tag.VALIDATION_SUCCESS] == "true"
    assert run.data.metrics["validation_success_percent"] == 100.0
    stored: Any = stack.hook.read_json(again["mlflow_run_id"], paths.VALIDATION_RESULT)
    assert stored == stack.hook.read_json(first["mlflow_run_id"], paths.VALIDATION_RESULT)
    facet = lineage.run_facets["mlops_stepCache"]
    assert (facet["step"], facet["hit"], facet["reusedFromDagRun"]) == ("validate_data", True, "g1")


def test_a_failed_validation_is_reused_and_fails_the_run_again(stack: Stack) -> None:
    with pytest.raises(DataValidationError):
        _validate(resolve(stack, "v", "b1"), "vcache_failed", "b1", FAILING)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("airflow_mlops.operators.validation.read_pinned", _refuse)
        with pytest.raises(DataValidationError, match="mean radius"):
            _validate(resolve(stack, "v", "b2"), "vcache_failed", "b2", FAILING)
    assert _outcome(stack, "vcache_failed", "b2").hit


def test_another_suite_or_no_cache_is_a_miss_that_says_why(stack: Stack) -> None:
    _validate(resolve(stack, "v", "s1"), "vcache_miss", "s1")
    changed = [PASSING[0]]
    digest, _ = _validate(resolve(stack, "v", "s2"), "vcache_miss", "s2", changed)
    assert digest["statistics"]["evaluated_expectations"] == 1
    assert _outcome(stack, "vcache_miss", "s2").reason.startswith("since s1: spec.expectations: ")
    _validate(resolve(stack, "v", "s3"), "vcache_miss", "s3", params={"no_cache": True})
    assert _outcome(stack, "vcache_miss", "s3").reason == "caching is off for this run (params.no_cache)"
    _validate(resolve(stack, "v", "s4"), "vcache_miss", "s4", suite_name="orders.checks")
    assert _outcome(stack, "vcache_miss", "s4").reason.startswith("since s3: spec.suite_name: ")


def test_new_bytes_are_a_miss_and_caching_off_files_nothing(stack: Stack) -> None:
    from airflow_mlops.operators.validation import ValidateDataOperator

    data = resolve(stack, "v", "m1")
    op = ValidateDataOperator(task_id="validate_data", data=data, expectations=PASSING, experiment="e")
    other = ValidateDataOperator(
        task_id="validate_data", data={**data, "md5": "0" * 32, "commit": "f" * 40}, expectations=PASSING,
        experiment="e",
    )  # fmt: skip
    assert other.cache_key("v").digest != op.cache_key("v").digest
    moved = ValidateDataOperator(
        task_id="validate_data", data={**data, "commit": "f" * 40}, expectations=PASSING, experiment="e"
    )
    assert moved.cache_key("v").digest == op.cache_key("v").digest  # another commit, the same bytes

    digest, _ = _validate(data, "vcache_off", "m1", cache=False)
    tags = stack.client().get_run(digest["mlflow_run_id"]).data.tags
    assert tag.cache_key("validate_data") not in tags
    assert tag.cache_outcome("validate_data") not in tags
