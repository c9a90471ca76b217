"""A candidate that fails to train, and a metric that cannot be computed, in real pipeline runs.

Issue #14, cases 3 and 7: one failing candidate must not fail the run when the others trained
(``candidates.on_failure: drop``, the default), and a NaN metric must make a rejection with its
reason instead of crashing evaluate.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from airflow_mlops.demo.datasets import data_versions, to_csv_bytes
from tests.integration.harness import PipelineEnv

pytestmark = pytest.mark.integration

USER_CODE = Path(__file__).resolve().parents[1] / "fixtures" / "user_code"
BROKEN = {"name": "broken", "trainer": "acme_ml.training:always_raises"}
LOGREG = {"name": "logreg", "estimator": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 5000}}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> PipelineEnv:
    env = PipelineEnv(tmp_path_factory.mktemp("candidate_failures"))
    env.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(USER_CODE), env.env.get("PYTHONPATH")]))
    env.env["AIRFLOW__MLOPS__ALLOWED_IMPORT_PREFIXES"] = "sklearn.,acme_ml."
    v1, _ = data_versions()
    env.commit_data(to_csv_bytes(v1), "v1", "data-v1")
    return env


def _strict_json(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def _pipeline_artifact(deployment: PipelineEnv, dag_id: str, run_id: str, path: str) -> Any:
    client = deployment.client()
    experiment = client.get_experiment_by_name(dag_id)
    [parent] = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`mlops.run_id` = '{run_id}' and tags.`mlops.role` = 'pipeline'",
    )
    target = deployment.root / "artifacts" / dag_id / run_id
    target.mkdir(parents=True, exist_ok=True)
    return _strict_json(Path(client.download_artifacts(parent.info.run_id, path, str(target))).read_text())


def _candidate_runs(deployment: PipelineEnv, dag_id: str, run_id: str) -> dict[str, Any]:
    client = deployment.client()
    experiment = client.get_experiment_by_name(dag_id)
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`mlops.run_id` = '{run_id}' and tags.`mlops.role` = 'candidate'",
    )
    return {r.data.tags["mlops.candidate"]: r for r in runs}


def test_a_failing_candidate_is_dropped_and_the_survivor_becomes_champion(deployment: PipelineEnv) -> None:
    deployment.write_pipeline("drop_broken", registry={"model_name": "drop_model"}, models=[BROKEN, LOGREG])
    outcome = deployment.run("drop_broken")
    assert outcome["state"] == "success", outcome["log"][-4000:]
    assert outcome["tasks"]["train[broken]"] == "success"  # dropped, not failed: the run goes on

    champion = deployment.client().get_model_version_by_alias("drop_model", "champion")
    assert champion.tags["mlops.training.estimator"] == LOGREG["estimator"]

    verdict = _pipeline_artifact(deployment, "drop_broken", outcome["run_id"], "gate/verdict.json")
    assert verdict["decision"] == "promote" and verdict["candidate"] == "logreg"
    assert "negative" in verdict["dropped"]["broken"] and "ValueError" in verdict["dropped"]["broken"]
    assert "dropped: broken (ValueError: acme_ml cannot fit this data" in verdict["summary"]
    evaluation = _pipeline_artifact(deployment, "drop_broken", outcome["run_id"], "evaluation/result.json")
    assert [c["candidate"] for c in evaluation["candidates"]] == ["logreg"]
    assert [d["candidate"] for d in evaluation["dropped"]] == ["broken"]

    runs = _candidate_runs(deployment, "drop_broken", outcome["run_id"])
    assert runs["broken"].info.status == "FAILED"
    assert "learning rate is negative" in runs["broken"].data.tags["mlops.failure"]
    assert runs["logreg"].info.status == "FINISHED"


def test_with_on_failure_fail_one_failing_candidate_fails_the_run(deployment: PipelineEnv) -> None:
    deployment.write_pipeline(
        "fail_broken",
        registry={"model_name": "fail_model"},
        models=[BROKEN, LOGREG],
        candidates={"on_failure": "fail"},
    )
    outcome = deployment.run("fail_broken")
    assert outcome["state"] == "failed"
    assert outcome["tasks"]["train[broken]"] == "failed"
    assert outcome["tasks"]["train[logreg]"] == "success"
    assert not list(deployment.client().search_model_versions("name = 'fail_model'"))


def test_a_nan_metric_is_a_rejection_with_its_reason(deployment: PipelineEnv) -> None:
    deployment.write_pipeline(
        "nan_metric",
        registry={"model_name": "nan_model"},
        models=[{"name": "nan_scores", "trainer": "acme_ml.training:nan_probabilities"}],
        select_by="roc_auc",
        gate={"metrics": [{"metric": "roc_auc", "min": 0.5}, {"metric": "f1", "min": 0.5}]},
    )
    outcome = deployment.run("nan_metric")
    assert outcome["state"] == "success", outcome["log"][-4000:]
    assert outcome["tasks"]["evaluate"] == "success" and outcome["tasks"]["gate"] == "success"
    assert outcome["tasks"]["register"] == "skipped"
    assert not list(deployment.client().search_model_versions("name = 'nan_model'"))

    evaluation = _pipeline_artifact(deployment, "nan_metric", outcome["run_id"], "evaluation/result.json")
    [candidate] = evaluation["candidates"]
    assert "roc_auc" not in candidate["metrics"] and all(math.isfinite(v) for v in candidate["metrics"].values())
    assert "NaN" in candidate["not_computable"]["roc_auc"]

    verdict = _pipeline_artifact(deployment, "nan_metric", outcome["run_id"], "gate/verdict.json")
    assert verdict["decision"] == "reject"
    [roc] = [o for o in verdict["outcomes"] if o["metric"] == "roc_auc"]
    assert not roc["passed"] and roc["reason"].startswith("roc_auc not computable: ")
    assert "roc_auc not computable" in verdict["summary"]

    run = _candidate_runs(deployment, "nan_metric", outcome["run_id"])["nan_scores"]
    assert "test_roc_auc" not in run.data.metrics and "test_f1" in run.data.metrics
    assert run.data.tags["mlops.metrics.not_computable"].startswith("log_loss: ")
