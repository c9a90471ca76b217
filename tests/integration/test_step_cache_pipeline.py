"""Step caching in real DAG runs: the example pipeline through dag.test(), real DVC, GX, sklearn and MLflow.

One deployment and one pipeline for the module; each run changes one thing and reads what every
step recorded about reusing an earlier result (the ``mlops.cache.outcome.*`` tags of its pipeline run).
"""

from __future__ import annotations

import shutil
from typing import Any
from urllib.parse import urlparse

import pytest

from airflow_mlops.demo.datasets import data_versions, to_csv_bytes
from airflow_mlops.record import tag
from airflow_mlops.record.cache import CacheOutcome
from tests.integration.harness import PipelineEnv

DAG = "cache_retrain"
STEPS = ("validate_data", "prepare_data", "train.logreg", "train.forest", "evaluate.logreg", "evaluate.forest")
#: Once a champion exists, evaluate scores it too.
WITH_CHAMPION = (*STEPS, "evaluate.champion")
#: No serving check: it is not what these runs test, and each promoting run would start a model server.
SETTINGS: dict[str, Any] = {"registry": {"model_name": "cache_model"}, "serving_check": {"enabled": False}}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> PipelineEnv:
    env = PipelineEnv(tmp_path_factory.mktemp("cache"))
    env.write_pipeline(DAG, **SETTINGS)
    env.commit_data(to_csv_bytes(data_versions()[0]), "v1", "data-v1")
    return env


@pytest.fixture(scope="module")
def runs(deployment: PipelineEnv) -> dict[str, dict[str, Any]]:
    """First run, an unchanged second run, a third with one candidate changed."""
    found = {"first": deployment.run(DAG), "unchanged": deployment.run(DAG)}
    deployment.write_pipeline(
        DAG,
        **SETTINGS,
        models=[
            {"name": "logreg", "estimator": "sklearn.linear_model.LogisticRegression",
             "params": {"C": 1.0, "max_iter": 5000}},
            {"name": "forest", "estimator": "sklearn.ensemble.RandomForestClassifier",
             "params": {"n_estimators": 30, "random_state": 0}, "preprocessing": {"scale": "none"}},
        ],
    )  # fmt: skip
    found["one_changed"] = deployment.run(DAG)
    return found


def _runs(deployment: PipelineEnv, run_id: str, role: str) -> list[Any]:
    """The MLflow runs of one DAG run in one role (the pipeline run, or its candidate runs)."""
    client = deployment.client()
    experiment = client.get_experiment_by_name(DAG)
    clauses = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tag.identity(DAG, run_id, role).items())
    return list(client.search_runs([experiment.experiment_id], clauses))


def _outcomes(deployment: PipelineEnv, run_id: str) -> dict[str, CacheOutcome]:
    (parent,) = _runs(deployment, run_id, tag.ROLE_PIPELINE)
    return {
        key.removeprefix(tag.CACHE_OUTCOME_PREFIX): CacheOutcome.from_json(value)
        for key, value in parent.data.tags.items()
        if key.startswith(tag.CACHE_OUTCOME_PREFIX)
    }


def _candidate_runs(deployment: PipelineEnv, run_id: str) -> dict[str, Any]:
    return {r.data.tags[tag.CANDIDATE]: r for r in _runs(deployment, run_id, tag.ROLE_CANDIDATE)}


def test_every_run_succeeds(runs: dict[str, dict[str, Any]]) -> None:
    for name, outcome in runs.items():
        assert outcome["state"] == "success", (name, outcome["tasks"])


def test_the_first_run_computes_everything_and_says_why(deployment: PipelineEnv, runs: dict[str, Any]) -> None:
    outcomes = _outcomes(deployment, runs["first"]["run_id"])
    assert set(outcomes) == set(STEPS)
    assert {o.reason for o in outcomes.values()} == {"no earlier run of this pipeline computed it"}


def test_an_unchanged_run_reuses_the_split_and_every_model(deployment: PipelineEnv, runs: dict[str, Any]) -> None:
    first, second = runs["first"]["run_id"], runs["unchanged"]["run_id"]
    outcomes = _outcomes(deployment, second)
    # The champion is the first run's winner: its scores are that candidate's, filed by the first run.
    assert {step: (o.hit, o.source_dag_run) for step, o in outcomes.items()} == {
        s: (True, first) for s in WITH_CHAMPION
    }
    before, after = _candidate_runs(deployment, first), _candidate_runs(deployment, second)
    for name in ("logreg", "forest"):
        assert after[name].data.tags[tag.MODEL_URI] == before[name].data.tags[tag.MODEL_URI]
        assert after[name].data.tags[tag.CACHE_SOURCE_RUN] == before[name].info.run_id
        assert after[name].data.metrics.get("test_f1") == before[name].data.metrics.get("test_f1")  # evaluate ran
    # nothing was trained: no logged model comes from the unchanged run's candidate runs
    client = deployment.client()
    experiment = client.get_experiment_by_name(DAG)
    sources = {m.source_run_id for m in client.search_logged_models(experiment_ids=[experiment.experiment_id])}
    assert {before[n].info.run_id for n in before} <= sources
    assert not sources & {after[n].info.run_id for n in after}


def test_an_unchanged_run_registers_and_promotes_nothing(deployment: PipelineEnv, runs: dict[str, Any]) -> None:
    """Every step reused, the same model wins: it is the champion already, so nothing changed."""
    tasks = runs["unchanged"]["tasks"]
    assert (tasks["gate"], tasks["register"], tasks["promote"]) == ("success", "skipped", "skipped"), tasks
    (parent,) = _runs(deployment, runs["unchanged"]["run_id"], tag.ROLE_PIPELINE)
    assert parent.data.tags[tag.GATE_DECISION] == "unchanged"
    champion = deployment.client().get_model_version_by_alias("cache_model", "champion")
    assert tag.RUN_ID in champion.tags and champion.tags[tag.RUN_ID] == runs["first"]["run_id"]


def test_changing_one_candidate_retrains_it_alone(deployment: PipelineEnv, runs: dict[str, Any]) -> None:
    outcomes = _outcomes(deployment, runs["one_changed"]["run_id"])
    assert outcomes["prepare_data"].hit and outcomes["train.logreg"].hit and outcomes["evaluate.logreg"].hit
    assert not outcomes["evaluate.forest"].hit  # a new model: scored again
    forest = outcomes["train.forest"]
    assert not forest.hit
    # compared with the run that trained the model the unchanged run reused
    assert forest.reason == f"since {runs['first']['run_id']}: spec.params.n_estimators: 25 -> 30"


def test_a_deleted_model_is_retrained_and_no_cache_reuses_nothing(
    deployment: PipelineEnv, runs: dict[str, Any]
) -> None:
    trained = _candidate_runs(deployment, runs["one_changed"]["run_id"])["forest"]
    model = deployment.client().get_logged_model(trained.data.tags[tag.MODEL_ID])
    shutil.rmtree(urlparse(model.artifact_location).path)
    after_delete = deployment.run(DAG)
    assert after_delete["state"] == "success", after_delete["tasks"]
    outcomes = _outcomes(deployment, after_delete["run_id"])
    assert outcomes["train.logreg"].hit and outcomes["prepare_data"].hit
    assert not outcomes["train.forest"].hit
    assert outcomes["train.forest"].reason.endswith("has no MLmodel file any more (deleted)")

    forced = deployment.run(DAG, conf={"no_cache": True})
    assert forced["state"] == "success", forced["tasks"]
    outcomes = _outcomes(deployment, forced["run_id"])
    assert {o.reason for o in outcomes.values()} == {"caching is off for this run (params.no_cache)"}
    assert set(outcomes) == set(WITH_CHAMPION)
