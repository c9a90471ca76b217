"""A candidate's trials spread over ``tuning.workers: 2`` mapped tune tasks, in a real pipeline run.

dag.test() runs the two ``tune_logreg`` instances one after the other, but each is a task of its
own with its share of the trials, sharing nothing with the other but the trial runs in the real
MLflow store; the train task then gathers them under the candidate's run and fits the best.
What the share, the seeds and a retried worker do is pinned by the unit tests
(tests/unit/test_tuning_share.py, tests/unit/operators/test_train_tuning.py).
"""

from __future__ import annotations

import json

import pytest

from airflow_mlops.demo.datasets import data_versions, to_csv_bytes
from airflow_mlops.record import tag
from tests.integration.harness import PipelineEnv

pytestmark = pytest.mark.integration

TUNING = {
    "space": {"C": {"type": "float", "low": 0.01, "high": 10.0, "log": True}},
    "n_trials": 4,
    "folds": 2,
    "sampler": "random",
    "pruner": "none",
    "seed": 11,
    "workers": 2,
}
LOGREG = {"name": "logreg", "estimator": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 5000},
          "tuning": TUNING}  # fmt: skip


def test_two_workers_share_the_trials_and_train_fits_the_best(tmp_path_factory: pytest.TempPathFactory) -> None:
    deployment = PipelineEnv(tmp_path_factory.mktemp("parallel_tuning"))
    v1, _ = data_versions()
    deployment.commit_data(to_csv_bytes(v1), "v1", "data-v1")
    deployment.write_pipeline("spread_tuning", registry={"model_name": "spread_model"}, models=[LOGREG])
    outcome = deployment.run("spread_tuning")
    assert outcome["state"] == "success", outcome["log"][-4000:]
    tune_tasks = {k: v for k, v in outcome["tasks"].items() if k.startswith("tune_logreg")}
    assert sorted(tune_tasks) == ["tune_logreg[worker 0]", "tune_logreg[worker 1]"], outcome["tasks"]
    assert set(tune_tasks.values()) == {"success"}

    client = deployment.client()
    experiment = client.get_experiment_by_name("spread_tuning")
    identity = tag.identity("spread_tuning", outcome["run_id"], tag.ROLE_CANDIDATE, "logreg")
    [candidate] = client.search_runs(
        [experiment.experiment_id], " and ".join(f"tags.`{k}` = '{v}'" for k, v in identity.items())
    )
    trials = client.search_runs(
        [experiment.experiment_id],
        f"tags.`{tag.RUN_ID}` = '{outcome['run_id']}' and tags.`{tag.ROLE}` = '{tag.ROLE_TRIAL}'",
    )
    records = {json.loads(t.data.tags[tag.TRIAL_RECORD])["number"]: t for t in trials}
    assert sorted(records) == [0, 1, 2, 3] and {t.info.status for t in trials} == {"FINISHED"}
    # round-robin shares: worker 0 ran 0 and 2, worker 1 ran 1 and 3
    assert {n: t.data.tags[tag.TRIAL_TASK] for n, t in records.items()} == {
        0: "tune_logreg[0]", 1: "tune_logreg[1]", 2: "tune_logreg[0]", 3: "tune_logreg[1]"
    }  # fmt: skip
    # train moved every trial under the candidate's run and fitted the best (ties to the lowest number)
    assert {t.data.tags["mlflow.parentRunId"] for t in trials} == {candidate.info.run_id}
    values = {n: json.loads(t.data.tags[tag.TRIAL_RECORD]) for n, t in records.items()}
    winner = min(values, key=lambda n: (-values[n]["value"], n))
    assert candidate.data.params["tuning.best_trial"] == str(winner)
    assert candidate.data.params["tuning.workers"] == "2"
    assert json.loads(candidate.data.params["param.C"]) == values[winner]["params"]["C"]
    assert candidate.data.metrics["tuning_trials_complete"] == 4
