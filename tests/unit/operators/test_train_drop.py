"""candidates.on_failure: a candidate whose training raises is dropped (recorded, run FAILED) or fails the task."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_mlops.errors import ConfigurationError, LibraryError, MlflowUnavailableError, PermanentError
from airflow_mlops.errors.classify import is_transient
from airflow_mlops.record import tag

from .conftest import CANDIDATES, MLFLOW_CONN, Stack, context, evaluate, gate, prepare, resolve

BAD_PARAMS = {"name": "bad", "estimator": "sklearn.linear_model.LogisticRegression", "params": {"C": -1.0}}
NO_SUCH = {"name": "nosuch", "estimator": "sklearn.linear_model.NoSuchModel"}


@pytest.fixture(scope="module")
def dataset(stack: Stack) -> dict[str, Any]:
    return dict(prepare(stack, resolve(stack, "drop", "r0"), "drop", "r0"))


def _train(dataset: dict[str, Any], candidate: dict[str, Any], run_id: str, on_failure: str) -> Any:
    from airflow_mlops.operators.train import TrainCandidateOperator

    op = TrainCandidateOperator(
        task_id="train", dataset=dataset, candidate=candidate, experiment="drop_exp",
        mlflow_conn_id=MLFLOW_CONN, on_failure=on_failure,
    )  # fmt: skip
    return op.execute(context("drop", run_id))


def test_a_candidate_whose_fit_raises_is_dropped_and_its_run_failed(stack: Stack, dataset: dict[str, Any]) -> None:
    result = _train(dataset, BAD_PARAMS, "r1", "drop")
    assert result["dropped"] is True and result["model_uri"] == "" and result["model_id"] is None
    assert result["error"].startswith("InvalidParameterError: ") and "'C'" in result["error"]
    run = stack.client().get_run(result["mlflow_run_id"])
    assert run.info.status == "FAILED"
    assert run.data.tags[tag.FAILURE] == result["error"]
    assert run.data.tags[tag.CANDIDATE] == "bad"
    json.dumps(result, allow_nan=False)


def test_a_candidate_refused_before_its_run_starts_still_gets_a_failed_run(
    stack: Stack, dataset: dict[str, Any]
) -> None:
    result = _train(dataset, NO_SUCH, "r2", "drop")
    assert result["dropped"] is True and result["error"].startswith("ConfigurationError: ")
    run = stack.client().get_run(result["mlflow_run_id"])
    assert run.info.status == "FAILED" and "NoSuchModel" in run.data.tags[tag.FAILURE]
    assert run.data.tags["mlflow.parentRunId"]


def test_with_fail_the_error_is_raised_as_before(stack: Stack, dataset: dict[str, Any]) -> None:
    # scikit-learn's ValueError, translated (errors/translate.py) into an error Airflow never retries.
    with pytest.raises(LibraryError, match="'C'") as raised:
        _train(dataset, BAD_PARAMS, "r3", "fail")
    assert isinstance(raised.value.__cause__, ValueError)
    with pytest.raises(ConfigurationError, match="NoSuchModel"):
        _train(dataset, NO_SUCH, "r3", "fail")


def test_the_operators_default_is_fail() -> None:
    from airflow_mlops.operators.train import TrainCandidateOperator

    op = TrainCandidateOperator(task_id="t", dataset={}, candidate=CANDIDATES[0], experiment="e")
    assert op.on_failure == "fail"


def test_transient_errors_are_never_dropped() -> None:
    assert is_transient(ConnectionResetError("reset")) and is_transient(OSError("disk full"))
    assert is_transient(MlflowUnavailableError("down"))
    assert not is_transient(PermanentError("no")) and not is_transient(ConfigurationError("typo"))
    assert not is_transient(ValueError("bad data"))


def test_evaluate_skips_dropped_candidates_and_the_gate_records_them(stack: Stack, dataset: dict[str, Any]) -> None:
    trained = [_train(dataset, BAD_PARAMS, "r4", "drop"), _train(dataset, CANDIDATES[0], "r4", "drop")]
    evaluation = evaluate(stack, dataset, trained, "drop_exp", "drop_model", "drop", "r4")
    assert [c["candidate"] for c in evaluation["candidates"]] == ["logreg"]
    assert evaluation["dropped"] == [
        {"candidate": "bad", "error": trained[0]["error"], "mlflow_run_id": trained[0]["mlflow_run_id"]}
    ]
    result = gate(evaluation, "drop", "r4")
    verdict = result["verdict"]
    assert verdict["candidate"] == "logreg" and verdict["decision"] == "promote"
    assert verdict["dropped"] == {"bad": trained[0]["error"]}
    assert f"dropped: bad ({trained[0]['error']})" in verdict["summary"]


def test_when_no_candidate_survives_the_gate_fails_for_good_naming_each_error(
    stack: Stack, dataset: dict[str, Any]
) -> None:
    trained = [_train(dataset, BAD_PARAMS, "r5", "drop"), _train(dataset, NO_SUCH, "r5", "drop")]
    evaluation = evaluate(stack, dataset, trained, "drop_exp", "drop_model", "drop", "r5")
    assert evaluation["candidates"] == []
    with pytest.raises(PermanentError) as raised:
        gate(evaluation, "drop", "r5")
    assert "bad: InvalidParameterError" in str(raised.value) and "nosuch: ConfigurationError" in str(raised.value)


def test_the_approval_request_names_the_dropped_candidates() -> None:
    from airflow_mlops.operators.approval import approval_body

    verdict = {"candidate": "logreg", "outcomes": [], "dropped": {"bad": "ValueError: C must be positive"}}
    body = approval_body({"verdict": verdict, "candidate": {"estimator": "e"}, "champion": None}, "m")  # type: ignore[typeddict-item]
    assert "Candidate **bad** failed to train and was not judged: ValueError: C must be positive" in body
