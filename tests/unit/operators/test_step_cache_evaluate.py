"""evaluate reuses a model's earlier scores on the same test split, and only for the same logged model.

Real operators against a real sqlite MLflow store and DVC repository (tests/unit/operators/conftest.py).
A hit is proved by making models unloadable: reused scores load nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_mlops.record import paths, tag
from airflow_mlops.record.cache import CacheOutcome

from .conftest import CANDIDATES, MLFLOW_CONN, Stack, context, resolve


def _chain(stack: Stack, experiment: str, run_id: str, candidates: list[dict[str, Any]] = CANDIDATES) -> Any:
    """prepare_data (with its cache) and train for DAG run ``run_id`` of DAG ``d``: the split and the trained."""
    from airflow_mlops.operators.prepare import PrepareDatasetOperator
    from airflow_mlops.operators.train import TrainCandidateOperator

    from .conftest import DVC_CONN

    prepare = PrepareDatasetOperator(
        task_id="prepare_data", data=resolve(stack, "d", run_id), target="target", test_size=0.25, seed=7,
        dvc_conn_id=DVC_CONN, experiment=experiment, mlflow_conn_id=MLFLOW_CONN,
    )  # fmt: skip
    dataset = prepare.execute(context("d", run_id))
    trained = [
        TrainCandidateOperator(
            task_id="train", dataset=dataset, candidate=c, experiment=experiment, mlflow_conn_id=MLFLOW_CONN
        ).execute(context("d", run_id))
        for c in candidates
    ]
    return dataset, trained


def _evaluate(dataset: Any, trained: list[Any], experiment: str, run_id: str, **kwargs: Any) -> Any:
    from airflow_mlops.operators.evaluate import EvaluateCandidatesOperator

    params = kwargs.pop("params", None)
    lineage = kwargs.pop("lineage", None)
    op = EvaluateCandidatesOperator(
        task_id="evaluate", dataset=dataset, trained=trained, experiment=experiment, model_name=f"{experiment}_m",
        mlflow_conn_id=MLFLOW_CONN, prediction_rows=5, **kwargs,
    )  # fmt: skip
    found = context("d", run_id)
    found["params"] = params or {}
    result = op.execute(found)
    if lineage is not None:
        lineage.append(op.lineage_report)
    return result


def _outcome(stack: Stack, experiment: str, run_id: str, step: str) -> CacheOutcome:
    hook = stack.hook
    experiment_id = hook.get_or_create_experiment(experiment)
    parent = stack.client().get_run(hook.get_or_create_pipeline_run(experiment_id, "d", run_id))
    return CacheOutcome.from_json(parent.data.tags[tag.cache_outcome(step)])


def _unloadable(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("evaluate loaded a model although its earlier scores were reusable")


def _crown(stack: Stack, experiment: str, trained: Any) -> str:
    """Register ``trained``'s model and point ``@champion`` at it, as promote would; the version."""
    client = stack.client()
    name = f"{experiment}_m"
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        client.create_registered_model(name)
    version = client.create_model_version(name, trained["model_uri"], run_id=trained["mlflow_run_id"])
    client.set_registered_model_alias(name, "champion", version.version)
    return str(version.version)


def test_a_second_run_reuses_every_score_and_records_them_as_its_own(stack: Stack) -> None:
    dataset, trained = _chain(stack, "ecache_reuse", "s1")
    first = _evaluate(dataset, trained, "ecache_reuse", "s1")
    assert not _outcome(stack, "ecache_reuse", "s1", "evaluate.logreg").hit

    dataset, adopted = _chain(stack, "ecache_reuse", "s2")
    assert [t["model_uri"] for t in adopted] == [t["model_uri"] for t in trained]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("airflow_mlops.ml.flavors.load_predictor", _unloadable)
        lineage: list[Any] = []
        again = _evaluate(dataset, adopted, "ecache_reuse", "s2", lineage=lineage)
    assert [c["metrics"] for c in again["candidates"]] == [c["metrics"] for c in first["candidates"]]
    client = stack.client()
    for before, now in zip(first["candidates"], again["candidates"], strict=True):
        outcome = _outcome(stack, "ecache_reuse", "s2", f"evaluate.{now['candidate']}")
        assert (outcome.hit, outcome.source_dag_run, outcome.source_run_id) == (True, "s1", before["mlflow_run_id"])
        # This run's candidate run gets the scores and the predictions the serving check compares with.
        assert client.get_run(now["mlflow_run_id"]).data.metrics["test_f1"] == before["metrics"]["f1"]
        predictions: Any = stack.hook.read_json(now["mlflow_run_id"], paths.OFFLINE_PREDICTIONS)
        assert predictions == stack.hook.read_json(before["mlflow_run_id"], paths.OFFLINE_PREDICTIONS)
        assert predictions["rows"] == 5
        # Lineage: the model evaluate read says its scores were reused, and from which DAG run.
        (model,) = [d for d in lineage[0].inputs if d.name == now["model_id"]]
        facet = model.io_facets["mlops_stepCache"]
        assert (facet["step"], facet["hit"], facet["reusedFromDagRun"]) == (f"evaluate.{now['candidate']}", True, "s1")


def test_the_champion_is_scored_once_per_model_and_a_new_champion_is_scored_again(stack: Stack) -> None:
    dataset, trained = _chain(stack, "ecache_champion", "c1")
    version = _crown(stack, "ecache_champion", trained[0])
    first = _evaluate(dataset, trained, "ecache_champion", "c1")
    assert first["champion"]["version"] == version
    assert first["champion"]["metrics"] == first["candidates"][0]["metrics"]  # the same model, the same rows

    dataset, adopted = _chain(stack, "ecache_champion", "c2")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("airflow_mlops.ml.flavors.load_predictor", _unloadable)
        again = _evaluate(dataset, adopted, "ecache_champion", "c2")
    assert again["champion"] == first["champion"]
    assert _outcome(stack, "ecache_champion", "c2", "evaluate.champion").hit

    # The other candidate crowned: c1 scored its model as a candidate, and a model's scores are its own.
    crowned = _crown(stack, "ecache_champion", trained[1])
    dataset, adopted = _chain(stack, "ecache_champion", "c3")
    moved = _evaluate(dataset, adopted, "ecache_champion", "c3")
    assert (moved["champion"]["version"], moved["champion"]["metrics"]) == (crowned, first["candidates"][1]["metrics"])
    outcome = _outcome(stack, "ecache_champion", "c3", "evaluate.champion")
    assert (outcome.hit, outcome.source_run_id) == (True, trained[1]["mlflow_run_id"])

    # A champion whose model no run of this DAG scored is scored, and the miss says what changed.
    unscored = {**CANDIDATES[1], "name": "stump", "params": {"max_depth": 1, "random_state": 0}}
    _, (stump,) = _chain(stack, "ecache_champion", "c4", [unscored])
    _crown(stack, "ecache_champion", stump)
    dataset, adopted = _chain(stack, "ecache_champion", "c5")
    _evaluate(dataset, adopted, "ecache_champion", "c5")
    outcome = _outcome(stack, "ecache_champion", "c5", "evaluate.champion")
    assert not outcome.hit and outcome.reason.startswith("since c1: inputs.model: "), outcome.reason


def test_a_changed_candidate_is_scored_again_alone_and_no_cache_scores_all(stack: Stack) -> None:
    dataset, trained = _chain(stack, "ecache_one", "o1")
    _evaluate(dataset, trained, "ecache_one", "o1")
    changed = [CANDIDATES[0], {**CANDIDATES[1], "params": {"max_depth": 2, "random_state": 0}}]
    dataset, retrained = _chain(stack, "ecache_one", "o2", changed)
    _evaluate(dataset, retrained, "ecache_one", "o2")
    assert _outcome(stack, "ecache_one", "o2", "evaluate.logreg").hit
    tree = _outcome(stack, "ecache_one", "o2", "evaluate.tree")
    assert not tree.hit and tree.reason.startswith("since o1: inputs.model: "), tree.reason

    dataset, adopted = _chain(stack, "ecache_one", "o3", changed)
    _evaluate(dataset, adopted, "ecache_one", "o3", params={"no_cache": True})
    for step in ("evaluate.logreg", "evaluate.tree"):
        assert _outcome(stack, "ecache_one", "o3", step).reason == "caching is off for this run (params.no_cache)"


def test_other_metric_settings_are_a_miss_and_caching_off_files_nothing(stack: Stack) -> None:
    dataset, trained = _chain(stack, "ecache_settings", "m1")
    _evaluate(dataset, trained, "ecache_settings", "m1")
    dataset, adopted = _chain(stack, "ecache_settings", "m2")
    _evaluate(dataset, adopted, "ecache_settings", "m2", average="weighted")
    reason = _outcome(stack, "ecache_settings", "m2", "evaluate.logreg").reason
    assert reason == 'since m1: spec.average: "macro" -> "weighted"', reason

    dataset, adopted = _chain(stack, "ecache_settings", "m3")
    off = _evaluate(dataset, adopted, "ecache_settings", "m3", cache=False)
    tags = stack.client().get_run(off["candidates"][0]["mlflow_run_id"]).data.tags
    assert tag.cache_key("evaluate.logreg") not in tags


def test_a_champion_whose_model_was_deleted_is_not_judged_on_its_old_scores(stack: Stack) -> None:
    import shutil
    from urllib.parse import urlparse

    from airflow_mlops.errors import MlopsError

    dataset, trained = _chain(stack, "ecache_gone", "g1")
    _crown(stack, "ecache_gone", trained[0])
    _evaluate(dataset, trained, "ecache_gone", "g1")
    model = stack.client().get_logged_model(trained[0]["model_id"])
    shutil.rmtree(urlparse(model.artifact_location).path)
    dataset, again = _chain(stack, "ecache_gone", "g2", [CANDIDATES[1]])
    with pytest.raises(MlopsError, match="cannot be scored on this test set"):
        _evaluate(dataset, again, "ecache_gone", "g2")
    reason = _outcome(stack, "ecache_gone", "g2", "evaluate.champion").reason
    assert reason.startswith("the result of g1 cannot be reused: its model ") and reason.endswith("(deleted)"), reason
