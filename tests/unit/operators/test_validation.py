"""validate_data: a GX suite on the pinned data, the full result in MLflow, a digest in XCom."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_mlops.errors import DataValidationError
from airflow_mlops.record import paths, tag

from .conftest import DVC_CONN, MLFLOW_CONN, Stack, context, resolve

PASSING = [
    {"type": "expect_column_to_exist", "kwargs": {"column": "target"}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "target", "value_set": [0, 1]}},
]
OUT_OF_RANGE = {"column": "mean radius", "min_value": 0, "max_value": 1}
FAILING = [*PASSING, {"type": "expect_column_values_to_be_between", "kwargs": OUT_OF_RANGE}]


def _validate(data: Any, expectations: list[dict[str, Any]], run_id: str, on_failure: str = "fail") -> Any:
    from airflow_mlops.operators.validation import ValidateDataOperator

    op = ValidateDataOperator(
        task_id="validate_data",
        data=data,
        expectations=expectations,
        experiment="validation_exp",
        on_failure=on_failure,
        dvc_conn_id=DVC_CONN,
        mlflow_conn_id=MLFLOW_CONN,
    )
    return op.execute(context("v", run_id))


def test_passing_data_is_recorded_on_the_pipeline_run(stack: Stack) -> None:
    import mlflow.artifacts

    data = resolve(stack, "v", "r1")
    digest = _validate(data, PASSING, "r1")
    assert digest["success"] is True
    assert (digest["rows"], digest["n_failed"], digest["failed"]) == (len(stack.frame), 0, [])
    assert digest["artifact"] == paths.VALIDATION_RESULT
    run = stack.client().get_run(digest["mlflow_run_id"])
    assert run.data.tags[tag.ROLE] == tag.ROLE_PIPELINE
    assert run.data.tags[tag.VALIDATION_SUCCESS] == "true"
    assert {k: run.data.params[f"data.{k}"] for k in tag.DATA_FIELDS} == {k: data[k] for k in tag.DATA_FIELDS}
    assert run.data.metrics["validation_success_percent"] == 100.0
    with stack.hook.session():
        full = json.loads(mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/{paths.VALIDATION_RESULT}"))
    assert full["success"] is True
    assert len(full["results"]) == len(PASSING)
    # A retry writes into the same run: the same params again are accepted.
    assert _validate(data, PASSING, "r1") == digest


def test_failing_data_stops_the_run_or_warns(stack: Stack) -> None:
    data = resolve(stack, "v", "r2")
    with pytest.raises(DataValidationError, match="failed validation, training will not start"):
        _validate(data, FAILING, "r2")
    digest = _validate(data, FAILING, "r2", on_failure="warn")
    assert digest["success"] is False
    assert digest["n_failed"] == 1
    assert digest["failed"][0]["column"] == "mean radius"
    tags = stack.client().get_run(digest["mlflow_run_id"]).data.tags
    assert tags[tag.VALIDATION_SUCCESS] == "false"
