"""Batch scoring end to end against the demo's registered model, through dag.test().

The example retraining pipeline makes ``breast_cancer_classifier@champion``; the example
scoring pipeline then scores newer data with it. Before that, the scoring pipeline runs once
with no champion at all and must fail with a clear message and leave nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
import yaml

from airflow_mlops.demo.datasets import data_versions, to_csv_bytes
from airflow_mlops.spec.yaml_source import PipelineYamlLoader
from tests.integration.harness import REPO_ROOT, PipelineEnv

EXAMPLE_SCORING = REPO_ROOT / "dags" / "pipelines" / "breast_cancer_scoring.yaml"
EXAMPLE_RETRAIN = REPO_ROOT / "dags" / "pipelines" / "breast_cancer.yaml"
RETRAIN = "breast_cancer_retrain"
SCORING = "breast_cancer_scoring"
MODEL = "breast_cancer_classifier"
PREDICTIONS_URI = f"mlops://predictions/{SCORING}"
CHAMPION_URI = f"mlflow://models/{MODEL}"


def _write_scoring(env: PipelineEnv, **overrides: Any) -> None:
    spec = yaml.load(EXAMPLE_SCORING.read_text(), Loader=PipelineYamlLoader)  # `on:` stays a key
    spec.update({"retries": {"retries": 0}, **overrides})
    path = env.dags / "pipelines" / f"{spec['pipeline']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    if not (env.dags / "mlops_pipelines.py").exists():
        # Per-pipeline loaders: the harness writes one beside each retraining file, this is ours.
        from airflow_mlops.factory.loader import LOADER_STUB  # type: ignore[attr-defined,unused-ignore]

        path.with_suffix(".py").write_text(LOADER_STUB)


def _airflow_db(env: PipelineEnv, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(env.root / "airflow" / "airflow.db") as db:
        return list(db.execute(sql, args))


def _asset_events(env: PipelineEnv, uri: str) -> list[dict[str, Any]]:
    rows = _airflow_db(
        env,
        "select e.extra, e.source_dag_id, e.source_task_id, e.source_run_id from asset_event e "
        "join asset a on a.id = e.asset_id where a.uri = ? order by e.id",
        uri,
    )
    return [{"extra": json.loads(r[0] or "{}"), "dag_id": r[1], "task_id": r[2], "run_id": r[3]} for r in rows]


def _xcom(env: PipelineEnv, dag_id: str, run_id: str, task_id: str) -> Any:
    [(value,)] = _airflow_db(
        env,
        "select value from xcom where dag_id = ? and run_id = ? and task_id = ? and key = 'return_value'",
        dag_id,
        run_id,
        task_id,
    )
    while isinstance(value, str | bytes):
        value = json.loads(value)
    return value


def _scoring_runs(env: PipelineEnv, experiment: str, run_id: str | None = None) -> list[Any]:
    client = env.client()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    query = "tags.`mlops.role` = 'scoring'" + (f" and tags.`mlops.run_id` = '{run_id}'" if run_id else "")
    return list(client.search_runs([found.experiment_id], filter_string=query))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> PipelineEnv:
    return PipelineEnv(tmp_path_factory.mktemp("scoring"))


@pytest.fixture(scope="module")
def runs(deployment: PipelineEnv) -> dict[str, Any]:
    """Score with no champion (fails), retrain on v1 (first champion), commit v2, score again."""
    v1, v2 = data_versions()
    deployment.commit_data(to_csv_bytes(v1), "v1", "data-v1")
    # One candidate is enough to make a champion and keeps the module fast.
    deployment.write_pipeline(RETRAIN, models=[yaml.safe_load(EXAMPLE_RETRAIN.read_text())["models"][0]])
    _write_scoring(deployment, passthrough=["target"])

    no_champion = deployment.run(SCORING)
    left_behind = {
        "artifacts": sorted(p.name for p in (deployment.root / "artifacts").glob(f"{SCORING}/*")),
        "experiment": deployment.client().get_experiment_by_name(SCORING),
        "events": _asset_events(deployment, PREDICTIONS_URI),
    }
    retrain = deployment.run(RETRAIN)
    champion = str(deployment.client().get_model_version_by_alias(MODEL, "champion").version)
    commit_v2 = deployment.commit_data(to_csv_bytes(v2), "v2", "data-v2")
    scored = deployment.run(SCORING)
    return {
        "no_champion": no_champion,
        "left_behind": left_behind,
        "retrain": retrain,
        "champion": champion,
        "scored": scored,
        "commit_v2": commit_v2,
        "v2": v2,
    }


def test_scoring_before_any_champion_fails_clearly_and_writes_nothing(runs: dict[str, Any]) -> None:
    outcome = runs["no_champion"]
    assert outcome["state"] == "failed"
    assert outcome["tasks"] == {"resolve_data": "success", "score": "failed", "close_runs": "success"}
    assert f"no @champion for model {MODEL} yet; run its retraining pipeline first" in outcome["log"]
    assert "NoChampionError" in outcome["log"]
    assert runs["left_behind"] == {"artifacts": [], "experiment": None, "events": []}


def test_scoring_writes_one_prediction_per_row(deployment: PipelineEnv, runs: dict[str, Any]) -> None:
    assert runs["retrain"]["state"] == "success", runs["retrain"]["log"][-3000:]
    scored = runs["scored"]
    assert scored["state"] == "success", scored["log"][-3000:]
    result = _xcom(deployment, SCORING, scored["run_id"], "score")
    assert result["model_version"] == runs["champion"]
    assert result["data_commit"] == runs["commit_v2"]
    predictions = pd.read_parquet(result["uri"].removeprefix("file://"))
    v2 = runs["v2"]
    assert result["rows"] == len(predictions) == len(v2)
    assert list(predictions.columns) == ["target", "prediction", "prediction_proba"]
    assert set(predictions["prediction"]) <= {0, 1}
    assert predictions["prediction_proba"].between(0, 1).all()
    # The passthrough column is the data's own label, row for row, so the champion can be checked.
    assert predictions["target"].tolist() == v2["target"].tolist()
    assert (predictions["prediction"] == predictions["target"]).mean() > 0.9
    assert ((predictions["prediction_proba"] >= 0.5) == (predictions["prediction"] == 1)).all()


def test_mlflow_run_records_the_champion_version_and_the_data(deployment: PipelineEnv, runs: dict[str, Any]) -> None:
    scored = runs["scored"]
    [run] = _scoring_runs(deployment, SCORING, scored["run_id"])
    params, tags = run.data.params, run.data.tags
    assert params["model.name"] == MODEL
    assert params["model.version"] == runs["champion"]
    assert params["model.alias"] == "champion"
    assert params["data.commit"] == runs["commit_v2"]
    assert params["data.rev"] == "main"
    assert params["data.path"] == "data/breast_cancer.csv"
    assert params["data.md5"] == hashlib.md5(to_csv_bytes(runs["v2"])).hexdigest()
    assert run.data.metrics["rows"] == len(runs["v2"])
    assert run.info.status == "FINISHED"
    assert tags["mlops.dag_id"] == SCORING
    assert tags["mlops.model_uri"] == f"models:/{MODEL}/{runs['champion']}"
    assert tags["mlops.predictions.uri"] == _xcom(deployment, SCORING, scored["run_id"], "score")["uri"]
    assert tags["mlops.predictions.proba"] == "probability of class 1"
    assert tags["mlops.code.spec_file"].endswith("breast_cancer_scoring.yaml")


def test_predictions_asset_event_carries_the_facts(deployment: PipelineEnv, runs: dict[str, Any]) -> None:
    scored = runs["scored"]
    [event] = _asset_events(deployment, PREDICTIONS_URI)
    assert (event["dag_id"], event["task_id"], event["run_id"]) == (SCORING, "score", scored["run_id"])
    result = _xcom(deployment, SCORING, scored["run_id"], "score")
    assert event["extra"] == {
        "uri": result["uri"],
        "rows": len(runs["v2"]),
        "model_name": MODEL,
        "model_version": runs["champion"],
        "data_commit": runs["commit_v2"],
    }


def test_promotion_emitted_the_champion_asset_event(deployment: PipelineEnv, runs: dict[str, Any]) -> None:
    [event] = _asset_events(deployment, CHAMPION_URI)
    assert (event["dag_id"], event["task_id"], event["run_id"]) == (RETRAIN, "promote", runs["retrain"]["run_id"])
    assert event["extra"]["version"] == runs["champion"]
    assert event["extra"]["model_name"] == MODEL


def test_version_stays_pinned_when_the_alias_moves_mid_run(
    deployment: PipelineEnv, runs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator in this process, with @champion moved right after it was resolved; then a retry."""
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    from airflow_mlops.assets import predictions_asset
    from airflow_mlops.hooks.mlflow import MlflowHook
    from airflow_mlops.operators.scoring import BatchScoreOperator

    for key in ("AIRFLOW_CONN_MLFLOW_DEFAULT", "AIRFLOW_CONN_DVC_DEFAULT", "AIRFLOW__MLOPS__ARTIFACT_ROOT"):
        monkeypatch.setenv(key, deployment.env[key])
    # The operator points MLflow's process-wide URIs at the deployment; undo that afterwards.
    monkeypatch.setattr(tracking_utils, "_tracking_uri", tracking_utils._tracking_uri)
    monkeypatch.setattr(registry_utils, "_registry_uri", registry_utils._registry_uri)
    mlflow.set_tracking_uri(deployment.tracking_uri)
    client = deployment.client()
    pinned = runs["champion"]
    newer = str(mlflow.register_model(client.get_model_version(MODEL, pinned).source, MODEL).version)
    resolve = MlflowHook.alias_version

    def resolve_then_promote(self: MlflowHook, model_name: str, alias: str) -> Any:
        version = resolve(self, model_name, alias)
        client.set_registered_model_alias(MODEL, "champion", newer)
        return version

    monkeypatch.setattr(MlflowHook, "alias_version", resolve_then_promote)
    op = BatchScoreOperator(
        task_id="score",
        data=_xcom(deployment, SCORING, runs["scored"]["run_id"], "resolve_data"),
        model_name=MODEL,
        experiment="bc_pinning",
        outlets=[predictions_asset("bc_pinning")],
    )
    events: defaultdict[Any, SimpleNamespace] = defaultdict(SimpleNamespace)
    context: Any = {"dag_run": SimpleNamespace(dag_id="bc_pinning", run_id="manual__pin"), "outlet_events": events}
    try:
        first = op.execute(context)
        assert str(client.get_model_version_by_alias(MODEL, "champion").version) == newer
        retry = op.execute(context)  # @champion is `newer` now; the retry keeps the run's version
    finally:
        client.set_registered_model_alias(MODEL, "champion", pinned)
    assert first["model_version"] == retry["model_version"] == pinned != newer
    assert first["mlflow_run_id"] == retry["mlflow_run_id"]
    [run] = _scoring_runs(deployment, "bc_pinning")
    assert run.data.params["model.version"] == pinned
    assert run.info.status == "FINISHED"
    assert events[predictions_asset("bc_pinning")].extra["model_version"] == pinned
    assert Path(first["uri"].removeprefix("file://")).is_file()
