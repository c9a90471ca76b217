"""train: one candidate fitted, logged to MLflow under the DAG run's pipeline run, and never twice."""

from __future__ import annotations

import re

import pytest

from airflow_mlops.errors import ConfigurationError
from airflow_mlops.record import tag

from .conftest import CANDIDATES, MLFLOW_CONN, Stack, context, prepare, resolve, train


@pytest.fixture(scope="module")
def dataset(stack: Stack) -> dict[str, object]:
    return dict(prepare(stack, resolve(stack, "t", "r0"), "t", "r0"))


def test_a_candidate_is_trained_and_logged_with_its_lineage(stack: Stack, dataset: dict[str, object]) -> None:
    result = train(stack, dataset, CANDIDATES[0], "train_exp", "t", "r1")
    client = stack.client()
    run = client.get_run(result["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert re.fullmatch(r"models:/m-[0-9a-f]+", result["model_uri"])
    assert (result["candidate"], result["estimator"]) == ("logreg", CANDIDATES[0]["estimator"])
    assert result["params"] == {"max_iter": 500}
    assert result["experiment_id"] == run.info.experiment_id
    assert run.data.tags[tag.MODEL_URI] == result["model_uri"]
    assert run.data.tags[tag.MODEL_ID] == result["model_id"]
    assert {k: run.data.tags[k] for k in tag.identity("t", "r1", tag.ROLE_CANDIDATE, "logreg")} == tag.identity(
        "t", "r1", tag.ROLE_CANDIDATE, "logreg"
    )
    data = dataset["data"]
    assert isinstance(data, dict)
    assert run.data.tags[tag.DATA_COMMIT] == data["commit"]
    assert run.data.params["data.md5"] == data["md5"]
    assert run.data.params["n_train"] == str(dataset["n_train"])
    assert run.data.params["param.max_iter"] == "500"
    assert 0.5 < run.data.metrics["train_f1"] <= 1.0
    # Nested under the DAG run's pipeline run, which the hook finds by the same identity.
    hook = stack.hook
    parent = hook.get_or_create_pipeline_run(run.info.experiment_id, "t", "r1")
    assert run.data.tags["mlflow.parentRunId"] == parent


def test_a_retry_returns_the_finished_run_instead_of_training_again(stack: Stack, dataset: dict[str, object]) -> None:
    first = train(stack, dataset, CANDIDATES[1], "train_exp", "t", "r2")
    again = train(stack, dataset, CANDIDATES[1], "train_exp", "t", "r2")
    assert again == first
    tags = tag.identity("t", "r2", tag.ROLE_CANDIDATE, "tree")
    runs = stack.client().search_runs(
        [first["experiment_id"]], " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
    )
    assert [r.info.run_id for r in runs] == [first["mlflow_run_id"]]


def test_a_retry_closes_the_run_a_killed_try_left_running(stack: Stack, dataset: dict[str, object]) -> None:
    from airflow_mlops.operators.train import TrainCandidateOperator

    hook = stack.hook
    experiment_id = hook.get_or_create_experiment("train_exp")
    tags = tag.identity("t", "r3", tag.ROLE_CANDIDATE, "logreg")
    left_running = hook.create_run(experiment_id, tags, run_name="logreg")  # a try that died mid-training
    op = TrainCandidateOperator(
        task_id="train", dataset=dataset, candidate=CANDIDATES[0], experiment="train_exp", mlflow_conn_id=MLFLOW_CONN
    )
    result = op.execute(context("t", "r3", try_number=2))
    killed = stack.client().get_run(left_running)
    assert killed.info.status == "KILLED"
    assert killed.data.tags[tag.ABANDONED] == "superseded by try 2"
    assert result["mlflow_run_id"] != left_running
    assert stack.client().get_run(result["mlflow_run_id"]).info.status == "FINISHED"


def test_a_bad_estimator_fails_before_any_run_exists(stack: Stack, dataset: dict[str, object]) -> None:
    bad = {"name": "evil", "estimator": "os.system", "params": {}}
    with pytest.raises(ConfigurationError, match="outside the allowed import prefixes"):
        train(stack, dataset, bad, "train_exp", "t", "r4")
    hook = stack.hook
    experiment_id = hook.get_or_create_experiment("train_exp")
    assert hook.find_run(experiment_id, tag.identity("t", "r4", tag.ROLE_CANDIDATE, "evil")) is None
