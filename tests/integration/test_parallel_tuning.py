"""A candidate's trials spread over ``tuning.workers: 2`` mapped tune tasks, in a real pipeline run.

dag.test() runs the two ``tune_logreg`` instances one after the other, but each is a task of its
own with its share of the trials, sharing nothing with the other but the trial runs in the real
MLflow store; the train task then gathers them under the candidate's run and fits the best.
What the share, the seeds and a retried worker do is pinned by the unit tests
(tests/unit/test_tuning_share.py, tests/unit/operators/test_train_tuning.py).
"""

from __future__ import annotations

import pytest

from airflow_mlops.demo.datasets import data_versions, to_csv_bytes
from tests.integration.harness import PipelineEnv
from tests.integration.tuning_checks import assert_trials_gathered

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

    assert_trials_gathered(deployment.client(), "spread_tuning", outcome["run_id"], "logreg", n_trials=4, workers=2)
