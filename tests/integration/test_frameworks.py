"""Frameworks and problem types end to end through dag.test(), on real DVC, GX, MLflow and Airflow.

One pipeline trains an XGBoost, a LightGBM and a PyTorch candidate (through a trainer) on the
multiclass wine example (``dags/pipelines/wine.yaml`` with its models swapped), evaluates,
gates, registers and promotes one; batch scoring and the drift monitor then run on that
champion. The regression example (``dags/pipelines/diabetes.yaml``) runs unchanged but for
retries: default settings (no stratify), plus its 3-fold cross-validation. Models are tiny (few
trees, few epochs), CPU only.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from airflow_mlops.demo.datasets import diabetes_frame, to_csv_bytes, wine_frame
from airflow_mlops.factory.loader import LOADER_STUB
from tests.integration.harness import REPO_ROOT, PipelineEnv

USER_CODE = Path(__file__).resolve().parents[1] / "fixtures" / "user_code"
EXAMPLES = REPO_ROOT / "dags" / "pipelines"
WINE_MODEL = "wine_frameworks"
FRAMEWORK_MODELS = [
    {"name": "xgb", "estimator": "xgboost.XGBClassifier", "params": {"n_estimators": 10, "max_depth": 2, "n_jobs": 1}},
    {
        "name": "lgbm",
        "estimator": "lightgbm.LGBMClassifier",
        "params": {"n_estimators": 10, "num_leaves": 4, "min_child_samples": 5, "verbose": -1, "n_jobs": 1},
        "class_weight": "balanced",
    },
    {"name": "mlp", "trainer": "acme_ml.torch_training:train_mlp", "params": {"epochs": 60}},
]


def _write(env: PipelineEnv, example: str, **overrides: Any) -> dict[str, Any]:
    spec = yaml.safe_load((EXAMPLES / f"{example}.yaml").read_text())
    spec.update({"retries": {"retries": 0}, **overrides})
    path = env.dags / "pipelines" / f"{spec['pipeline']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    path.with_suffix(".py").write_text(LOADER_STUB)
    return spec


def _xcom(env: PipelineEnv, dag_id: str, run_id: str, task_id: str) -> Any:
    with sqlite3.connect(env.root / "airflow" / "airflow.db") as db:
        [(value,)] = db.execute(
            "select value from xcom where dag_id = ? and run_id = ? and task_id = ? and key = 'return_value'",
            (dag_id, run_id, task_id),
        )
    while isinstance(value, str | bytes):
        value = json.loads(value)
    return value


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> PipelineEnv:
    env = PipelineEnv(tmp_path_factory.mktemp("frameworks"))
    env.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(USER_CODE), env.env.get("PYTHONPATH")]))
    # What an administrator adds to use these frameworks (docs/frameworks.md).
    env.env["AIRFLOW__MLOPS__ALLOWED_IMPORT_PREFIXES"] = "sklearn.,xgboost.,lightgbm.,acme_ml."
    env.commit_data(to_csv_bytes(wine_frame()), "wine", path="data/wine.csv")
    env.commit_data(to_csv_bytes(diabetes_frame()), "diabetes", path="data/diabetes.csv")
    return env


@pytest.fixture(scope="module")
def runs(deployment: PipelineEnv) -> dict[str, Any]:
    wine = _write(
        deployment,
        "wine",
        pipeline="wine_frameworks",
        models=FRAMEWORK_MODELS,
        gate={"metrics": [{"metric": "f1", "min": 0.7}]},
        registry={"model_name": WINE_MODEL},
        cross_validation=None,  # the wine example's own run below cross-validates
    )
    for template, name in (("batch_scoring", "wine_scoring"), ("drift_monitor", "wine_drift")):
        spec = {
            "pipeline": name,
            "template": template,
            "retries": {"retries": 0},
            "model": {"name": WINE_MODEL, "alias": "champion"},
            "data": {"dvc_conn_id": "dvc_default", "path": "data/wine.csv", "rev": "main"},
        }
        path = deployment.dags / "pipelines" / f"{name}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        path.with_suffix(".py").write_text(LOADER_STUB)
    diabetes = _write(deployment, "diabetes")
    wine_example = _write(deployment, "wine")
    return {
        "wine": deployment.run(wine["pipeline"]),
        "scoring": deployment.run("wine_scoring"),
        "drift": deployment.run("wine_drift"),
        "diabetes": deployment.run(diabetes["pipeline"]),
        "wine_example": deployment.run(wine_example["pipeline"]),
    }


def test_xgboost_lightgbm_and_torch_candidates_train_and_one_is_promoted(
    deployment: PipelineEnv, runs: dict[str, Any]
) -> None:
    outcome = runs["wine"]
    assert outcome["state"] == "success", outcome["log"][-4000:]
    assert {outcome["tasks"][f"train[{m['name']}]"] for m in FRAMEWORK_MODELS} == {"success"}
    evaluation = _xcom(deployment, "wine_frameworks", outcome["run_id"], "evaluate")
    scored = {c["candidate"]: c["metrics"] for c in evaluation["candidates"]}
    assert set(scored) == {"xgb", "lgbm", "mlp"}
    for name, metrics in scored.items():  # every framework scored on the test rows, probabilities included
        assert metrics["f1"] > 0.7 and "roc_auc" in metrics and "log_loss" in metrics, (name, metrics)
    assert evaluation["averaging"] == "weighted average over 3 classes"
    gate = _xcom(deployment, "wine_frameworks", outcome["run_id"], "gate")
    assert "(precision, recall, f1, roc_auc: weighted average over 3 classes)" in gate["verdict"]["summary"]
    assert gate["verdict"]["outcomes"][0]["rule"] == "f1 >= 0.7 (weighted average over 3 classes)"
    champion = deployment.client().get_model_version_by_alias(WINE_MODEL, "champion")
    assert champion.run_id == gate["candidate"]["mlflow_run_id"]


def test_each_framework_is_logged_natively_with_its_flavor_recorded(
    deployment: PipelineEnv, runs: dict[str, Any]
) -> None:
    """Native files and a pyfunc flavor with a signature (tests/unit/test_flavors.py loads each through pyfunc)."""
    import mlflow
    from mlflow.models import get_model_info

    mlflow.set_tracking_uri(deployment.tracking_uri)
    client = deployment.client()
    evaluation = _xcom(deployment, "wine_frameworks", runs["wine"]["run_id"], "evaluate")
    files = {"xgb": "model.ubj", "lgbm": "model.skops", "mlp": "data"}
    expected = {"xgb": "xgboost", "lgbm": "lightgbm", "mlp": "pytorch"}
    for candidate in evaluation["candidates"]:
        name, uri = candidate["candidate"], candidate["model_uri"]
        flavor = expected[name]
        assert client.get_run(candidate["mlflow_run_id"]).data.tags["mlops.model_flavor"] == flavor
        info = get_model_info(uri)
        assert set(info.flavors) == {flavor, "python_function"} and info.signature is not None, name
        artifacts = {Path(a.path).name for a in client.list_logged_model_artifacts(uri.removeprefix("models:/"))}
        assert files[name] in artifacts, (name, artifacts)


def test_batch_scoring_and_drift_work_on_the_framework_champion(deployment: PipelineEnv, runs: dict[str, Any]) -> None:
    scoring, drift = runs["scoring"], runs["drift"]
    assert scoring["state"] == "success", scoring["log"][-4000:]
    result = _xcom(deployment, "wine_scoring", scoring["run_id"], "score")
    predictions = pd.read_parquet(result["uri"].removeprefix("file://"))
    truth = wine_frame()["target"]
    assert list(predictions.columns) == ["prediction", "prediction_proba"] and len(predictions) == len(truth)
    assert (predictions["prediction"].to_numpy() == truth.to_numpy()).mean() > 0.8
    assert predictions["prediction_proba"].between(1 / 3, 1).all()
    assert drift["state"] == "success", drift["log"][-4000:]
    report = _xcom(deployment, "wine_drift", drift["run_id"], "check_drift")
    assert report["model"]["name"] == WINE_MODEL
    assert report["summary"]["features_checked"] == 13


def test_regression_example_validates_and_runs_with_default_settings(
    deployment: PipelineEnv, runs: dict[str, Any]
) -> None:
    outcome = runs["diabetes"]
    assert outcome["state"] == "success", outcome["log"][-4000:]
    gate = _xcom(deployment, "diabetes_retrain", outcome["run_id"], "gate")
    rules = [o["rule"] for o in gate["verdict"]["outcomes"]]
    assert rules == ["r2 >= 0.3", "cv_r2_bound >= 0.2", "rmse may rise at most 2 over champion"]
    assert "averaging" not in gate["verdict"]
    champion = deployment.client().get_model_version_by_alias("diabetes_regressor", "champion")
    assert champion.run_id == gate["candidate"]["mlflow_run_id"]
    # cross_validation: {folds: 3} in the example: every candidate's run has the fold statistics
    for candidate in _xcom(deployment, "diabetes_retrain", outcome["run_id"], "evaluate")["candidates"]:
        metrics = deployment.client().get_run(candidate["mlflow_run_id"]).data.metrics
        assert candidate["cv_metrics"] == {k: v for k, v in metrics.items() if k.startswith("cv_")}
        assert set(candidate["cv_metrics"]) == {f"cv_{m}_{s}" for m in ("r2", "rmse", "mae") for s in ("mean", "std")}
        assert 0 < metrics["cv_r2_mean"] < 1 and metrics["cv_rmse_std"] > 0


def _trial_runs(deployment: PipelineEnv, candidate: dict[str, Any]) -> list[Any]:
    client = deployment.client()
    parent = candidate["mlflow_run_id"]
    runs = client.search_runs([candidate["experiment_id"]], f"tags.`mlflow.parentRunId` = '{parent}'")
    return [r for r in runs if r.data.tags.get("mlops.role") == "trial"]


@pytest.mark.parametrize(("example", "dag_id", "tuned", "trials", "metric"), [
    ("diabetes", "diabetes_retrain", "ridge", 4, "rmse"),
    ("wine_example", "wine_retrain", "logreg", 3, "f1"),
])  # fmt: skip
def test_the_examples_tune_cross_validate_and_gate_on_the_cv_bound(
    deployment: PipelineEnv, runs: dict[str, Any], example: str, dag_id: str, tuned: str, trials: int, metric: str
) -> None:
    outcome = runs[example]
    assert outcome["state"] == "success", outcome["log"][-4000:]
    evaluation = _xcom(deployment, dag_id, outcome["run_id"], "evaluate")
    candidates = {c["candidate"]: c for c in evaluation["candidates"]}
    trial_runs = _trial_runs(deployment, candidates[tuned])
    assert len(trial_runs) == trials and {r.info.status for r in trial_runs} == {"FINISHED"}
    run = deployment.client().get_run(candidates[tuned]["mlflow_run_id"])
    # The median pruner may stop a trial after its first 3 (ml/tuning_study.py): the run's tally is what its
    # trial runs recorded, and every trial either completed or was pruned.
    states = [json.loads(r.data.tags["mlops.trial"])["state"] for r in trial_runs]
    assert run.data.metrics["tuning_trials_complete"] == states.count("complete") >= min(trials, 3)
    assert run.data.metrics["tuning_trials_pruned"] == states.count("pruned") == trials - states.count("complete")
    assert f"tuning_best_{metric}" in run.data.metrics
    searched = next(
        iter(yaml.safe_load((EXAMPLES / f"{dag_id.split('_')[0]}.yaml").read_text())["models"][0]["tuning"]["space"])
    )
    # the best trial's value trained the candidate that was evaluated
    best = next(r for r in trial_runs if r.data.tags["mlops.trial_number"] == run.data.params["tuning.best_trial"])
    assert candidates[tuned]["params"][searched] == json.loads(best.data.params[f"param.{searched}"])
    assert not _trial_runs(deployment, next(c for n, c in candidates.items() if n != tuned))
    gate = _xcom(deployment, dag_id, outcome["run_id"], "gate")
    cv_rule = next(o for o in gate["verdict"]["outcomes"] if o["metric"].startswith("cv_"))
    cv = candidates[gate["verdict"]["candidate"]]["cv_metrics"]
    base = cv_rule["metric"].removesuffix("_bound")
    sign = -1 if cv_rule["metric"] in ("cv_f1_bound", "cv_r2_bound") else 1
    assert cv_rule["candidate_value"] == pytest.approx(cv[f"{base}_mean"] + sign * cv[f"{base}_std"])
