"""evaluate: every candidate loaded back from MLflow and scored on the one test split."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_mlops import artifacts
from airflow_mlops.errors import UntrustedModelError
from airflow_mlops.ml.metrics import compute_metrics
from airflow_mlops.record import paths

from .conftest import CANDIDATES, Chain, Stack, evaluate, run_to_gate


@pytest.fixture(scope="module")
def chain(stack: Stack) -> Chain:
    return run_to_gate(stack, "eval_exp", "eval_model", "e", "r1")


def test_each_candidate_is_scored_on_the_test_split(stack: Stack, chain: Chain) -> None:
    import mlflow.sklearn

    evaluation = chain.evaluation
    test = artifacts.read_parquet(chain.dataset["test_uri"])
    assert evaluation["n_test"] == len(test) == chain.dataset["n_test"]
    assert [c["candidate"] for c in evaluation["candidates"]] == [c["name"] for c in CANDIDATES]
    assert evaluation["champion"] is None  # nothing registered yet
    client = stack.client()
    for candidate, trained in zip(evaluation["candidates"], chain.trained, strict=True):
        assert {k: v for k, v in candidate.items() if k != "metrics"} == trained
        with stack.hook.session():
            model = mlflow.sklearn.load_model(trained["model_uri"])
        expected = compute_metrics(model, test.drop(columns=["target"]), test["target"], "classification")
        assert candidate["metrics"] == pytest.approx(expected)
        logged = client.get_run(trained["mlflow_run_id"]).data.metrics
        assert logged["test_f1"] == pytest.approx(expected["f1"])


def test_the_evaluation_is_recorded_on_the_pipeline_run(stack: Stack, chain: Chain) -> None:
    evaluation = chain.evaluation
    hook = stack.hook
    experiment_id = hook.get_or_create_experiment("eval_exp")
    assert evaluation["mlflow_run_id"] == hook.get_or_create_pipeline_run(experiment_id, "e", "r1")
    with hook.session():
        import mlflow.artifacts

        recorded = mlflow.artifacts.load_text(f"runs:/{evaluation['mlflow_run_id']}/{paths.EVALUATION_RESULT}")
    assert json.loads(recorded) == json.loads(json.dumps(evaluation))


def test_a_model_from_another_dag_run_is_refused(stack: Stack, chain: Chain) -> None:
    # The same models, claimed by a different DAG run: the trust check refuses them unread.
    with pytest.raises(UntrustedModelError, match="refusing to load"):
        evaluate(stack, chain.dataset, chain.trained, "eval_exp", "eval_model", "e", "someone-else")


def test_a_list_of_trained_outputs_and_a_mapped_output_read_the_same(stack: Stack, chain: Chain) -> None:
    as_tuple: Any = tuple(chain.trained)  # a mapped task's outputs arrive as a lazy sequence, not a list
    again = evaluate(stack, chain.dataset, as_tuple, "eval_exp", "eval_model", "e", "r1")
    assert again["candidates"] == chain.evaluation["candidates"]
