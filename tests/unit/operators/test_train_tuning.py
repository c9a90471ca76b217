"""tuning: Optuna trials as nested MLflow runs, the best params train the candidate, and a retry resumes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_mlops.record import tag
from airflow_mlops.spec.models_tuning import TuningSpec

from .conftest import MLFLOW_CONN, Stack, context, prepare, resolve

USER_CODE = Path(__file__).resolve().parents[2] / "fixtures" / "user_code"
SPACE = {"C": {"type": "float", "low": 0.01, "high": 10.0, "log": True}}


@pytest.fixture(scope="module")
def dataset(stack: Stack) -> dict[str, Any]:
    return dict(prepare(stack, resolve(stack, "tune", "r0"), "tune", "r0"))


@pytest.fixture(autouse=True)
def _user_code(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(USER_CODE))
    monkeypatch.setenv("AIRFLOW__MLOPS__ALLOWED_IMPORT_PREFIXES", "sklearn.,acme_ml.")
    yield


def _tuning(**fields: Any) -> dict[str, Any]:
    """The block as the retraining template passes it: checked by the spec, metric resolved."""
    return TuningSpec.model_validate({"space": SPACE, "metric": "f1", **fields}).model_dump()


def _train(dataset: dict[str, Any], candidate: dict[str, Any], run_id: str, try_number: int = 1, **kw: Any) -> Any:
    from airflow_mlops.operators.train import TrainCandidateOperator

    op = TrainCandidateOperator(
        task_id="train", dataset=dataset, candidate=candidate, experiment="tune_exp", mlflow_conn_id=MLFLOW_CONN, **kw
    )
    return op.execute(context("tune", run_id, try_number=try_number))


def _trials(stack: Stack, experiment_id: str, run_id: str, name: str) -> list[Any]:
    identity = {**tag.identity("tune", run_id, tag.ROLE_TRIAL, name)}
    clauses = " and ".join(f"tags.`{k}` = '{v}'" for k, v in identity.items())
    return list(stack.client().search_runs([experiment_id], clauses, max_results=1000))


def test_each_trial_is_a_nested_run_and_the_best_params_train_the_candidate(
    stack: Stack, dataset: dict[str, Any]
) -> None:
    candidate = {
        "name": "logreg",
        "estimator": "sklearn.linear_model.LogisticRegression",
        "params": {"max_iter": 500},
        "tuning": _tuning(n_trials=4, pruner="none", seed=3),
    }
    result = _train(dataset, candidate, "r1", cv_folds=3)
    client = stack.client()
    run = client.get_run(result["mlflow_run_id"])
    trials = _trials(stack, result["experiment_id"], "r1", "logreg")
    assert len(trials) == 4 and {t.info.status for t in trials} == {"FINISHED"}
    assert {t.data.tags["mlflow.parentRunId"] for t in trials} == {run.info.run_id}
    records = {int(t.data.tags[tag.TRIAL_NUMBER]): json.loads(t.data.tags[tag.TRIAL_RECORD]) for t in trials}
    assert sorted(records) == [0, 1, 2, 3] and all(r["state"] == "complete" for r in records.values())
    best = max(records.values(), key=lambda r: r["value"])
    # the best trial's C trains the candidate, over the fixed params; both are recorded on its run
    assert result["params"] == {"max_iter": 500, "C": best["params"]["C"]}
    assert json.loads(run.data.params["param.C"]) == best["params"]["C"]
    assert run.data.params["tuning.best_trial"] == str(best["number"])
    assert run.data.metrics["tuning_best_f1"] == pytest.approx(best["value"])
    assert run.data.metrics["tuning_trials_complete"] == 4 and run.data.metrics["tuning_trials_resumed"] == 0
    # each trial's score is the running mean over its 3 folds, logged per fold
    history = client.get_metric_history(trials[0].info.run_id, "tuning_f1")
    assert [m.step for m in history] == [0, 1, 2]
    assert 0 < best["value"] <= 1 and "cv_f1_mean" in result["cv_metrics"]


def test_a_retry_takes_over_the_trials_a_killed_attempt_finished(stack: Stack, dataset: dict[str, Any]) -> None:
    from acme_ml import tuning_training as trainer

    candidate = {"name": "counted", "trainer": "acme_ml.tuning_training:train_logreg", "params": {},
                 "tuning": _tuning(n_trials=5, folds=2, pruner="none")}  # fmt: skip
    trainer.CALLS.clear()
    trainer.KILL_AT = 6  # killed in trial 2's second fold: trials 0 and 1 (2 folds each) had finished
    try:
        with pytest.raises(trainer.Killed):
            _train(dataset, candidate, "r2")
    finally:
        trainer.KILL_AT = None
    experiment_id = stack.hook.get_or_create_experiment("tune_exp")
    first = {t.info.run_id: t for t in _trials(stack, experiment_id, "r2", "counted")}
    finished_first = sorted(r for r, t in first.items() if t.info.status == "FINISHED")
    assert len(finished_first) == 2 and [t.info.status for t in first.values()].count("RUNNING") == 1
    seen = [dict(c) for c in trainer.CALLS]

    trainer.CALLS.clear()
    result = _train(dataset, candidate, "r2", try_number=2)
    # only the 3 trials still owed ran (2 folds each), then the final fit: none of the 2 finished ones again
    assert len(trainer.CALLS) == 3 * 2 + 1
    assert not {c["C"] for c in trainer.CALLS[:-1]} & {c["C"] for c in seen[:4]}
    trials = {t.info.run_id: t for t in _trials(stack, experiment_id, "r2", "counted")}
    finished = [t for t in trials.values() if t.info.status == "FINISHED"]
    assert len(finished) == 5 and set(finished_first) <= {t.info.run_id for t in finished}
    assert sorted(int(t.data.tags[tag.TRIAL_NUMBER]) for t in finished) == [0, 1, 2, 3, 4]
    killed = [t for t in trials.values() if t.info.status == "KILLED"]
    assert len(killed) == 1 and int(killed[0].data.tags[tag.TRIAL_NUMBER]) == 2
    # every finished trial now sits under the candidate run that the retry trained
    assert {t.data.tags["mlflow.parentRunId"] for t in finished} == {result["mlflow_run_id"]}
    run = stack.client().get_run(result["mlflow_run_id"])
    assert run.data.metrics["tuning_trials_resumed"] == 2 and run.data.metrics["tuning_trials_complete"] == 5


def test_a_trial_whose_params_the_estimator_refuses_fails_and_the_search_goes_on(
    stack: Stack, dataset: dict[str, Any]
) -> None:
    candidate = {
        "name": "tree",
        "estimator": "sklearn.tree.DecisionTreeClassifier",
        "params": {"random_state": 0},
        "preprocessing": {"scale": "none"},
        # max_depth 0 is refused by scikit-learn; 2 and 3 are fine
        "tuning": TuningSpec.model_validate(
            {"space": {"max_depth": {"choices": [0, 2, 3]}}, "metric": "f1", "n_trials": 6, "sampler": "random",
             "pruner": "none", "seed": 1}
        ).model_dump(),
    }  # fmt: skip
    result = _train(dataset, candidate, "r3")
    records = [json.loads(t.data.tags[tag.TRIAL_RECORD]) for t in _trials(stack, result["experiment_id"], "r3", "tree")]
    states = {r["params"]["max_depth"]: r["state"] for r in records}
    assert states.get(0, "fail") == "fail" and "complete" in states.values()
    assert result["params"]["max_depth"] in (2, 3)


def test_workers_share_the_trials_and_a_retried_worker_closes_only_its_own(
    stack: Stack, dataset: dict[str, Any]
) -> None:
    from airflow_mlops.operators.tune import TuneTrialsOperator

    tuning = _tuning(n_trials=4, folds=2, pruner="none", sampler="random", seed=5, workers=2)
    candidate = {"name": "spread", "estimator": "sklearn.linear_model.LogisticRegression",
                 "params": {"max_iter": 500}, "tuning": tuning}  # fmt: skip
    experiment_id = stack.hook.get_or_create_experiment("tune_exp")
    trial_tags = tag.identity("tune", "r4", tag.ROLE_TRIAL, "spread")
    # worker 0's killed first try left a trial RUNNING; worker 1 has one in flight right now
    own = stack.hook.create_run(experiment_id, {**trial_tags, tag.TRIAL_TASK: "tune_spread[0]"}, run_name="t0")
    other = stack.hook.create_run(experiment_id, {**trial_tags, tag.TRIAL_TASK: "tune_spread[1]"}, run_name="t1")

    def tune(worker: int, try_number: int) -> Any:
        op = TuneTrialsOperator(task_id="tune_spread", worker=worker, dataset=dataset, candidate=candidate,
                                experiment="tune_exp", mlflow_conn_id=MLFLOW_CONN, cv_seed=1)  # fmt: skip
        return op.execute(context("tune", "r4", try_number=try_number))

    first = tune(0, 2)
    client = stack.client()
    assert first["ran"] == [0, 2] and first["complete"] == 2
    assert client.get_run(own).info.status == "KILLED" and client.get_run(other).info.status == "RUNNING"
    assert tune(1, 2)["ran"] == [1, 3] and client.get_run(other).info.status == "KILLED"
    assert tune(0, 3)["ran"] == [] and tune(0, 3)["resumed"] == 2  # a cleared task runs nothing again

    result = _train(dataset, candidate, "r4", cv_seed=1)
    finished = [t for t in _trials(stack, experiment_id, "r4", "spread") if t.info.status == "FINISHED"]
    records = {json.loads(t.data.tags[tag.TRIAL_RECORD])["number"]: t for t in finished}
    assert sorted(records) == [0, 1, 2, 3]
    assert {t.data.tags[tag.TRIAL_TASK] for t in finished} == {"tune_spread[0]", "tune_spread[1]"}
    assert {t.data.tags["mlflow.parentRunId"] for t in finished} == {result["mlflow_run_id"]}
    values = {n: json.loads(t.data.tags[tag.TRIAL_RECORD])["value"] for n, t in records.items()}
    winner = min(values, key=lambda n: (-values[n], n))
    run = client.get_run(result["mlflow_run_id"])
    assert run.data.params["tuning.best_trial"] == str(winner) and run.data.params["tuning.workers"] == "2"
    assert (
        json.loads(run.data.params["param.C"]) == json.loads(records[winner].data.tags[tag.TRIAL_RECORD])["params"]["C"]
    )
