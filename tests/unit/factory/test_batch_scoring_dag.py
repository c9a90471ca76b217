"""The batch_scoring template's DAG shape and schedule, and the scoring operator's pure parts; no DB."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow.sdk import DAG, Asset
from airflow.sdk.definitions.xcom_arg import XComArg
from airflow.sdk.exceptions import AirflowFailException
from airflow.serialization.serialized_objects import DagSerialization

from airflow_mlops.errors import NoChampionError
from airflow_mlops.factory.batch_scoring import build_batch_scoring_dag
from airflow_mlops.factory.templates import build_dag
from airflow_mlops.ml.scoring import input_columns, score_frame
from airflow_mlops.operators.scoring import BatchScoreOperator
from airflow_mlops.spec.loader import load_pipeline_spec
from airflow_mlops.spec.yaml_source import PipelineYamlLoader

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "dags" / "pipelines" / "breast_cancer_scoring.yaml"
DAG_ID = "breast_cancer_scoring"


def _spec(tmp_path: Path, **changes: Any) -> Any:
    data = yaml.load(EXAMPLE.read_text(), Loader=PipelineYamlLoader)  # `on:` stays a key
    data.update(changes)
    path = tmp_path / f"{data['pipeline']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_pipeline_spec(path)


@pytest.fixture(scope="module")
def dag() -> DAG:
    return build_batch_scoring_dag(load_pipeline_spec(EXAMPLE), source="breast_cancer_scoring.yaml")


def test_task_ids_and_the_one_edge(dag: DAG) -> None:
    assert dag.dag_id == DAG_ID
    assert set(dag.task_ids) == {"resolve_data", "score", "close_runs"}
    assert {(up, t.task_id) for t in dag.tasks for up in t.upstream_task_ids} == {
        ("resolve_data", "score"),
        ("score", "close_runs"),  # the teardown that closes the DAG run's MLflow runs
    }


def test_score_reads_the_pinned_ref_not_the_rev(dag: DAG) -> None:
    score = dag.get_task("score")
    assert isinstance(score, BatchScoreOperator)
    assert "data" in score.template_fields
    assert isinstance(score.data, XComArg)
    assert score.data.operator.task_id == "resolve_data"
    assert (score.model_name, score.alias) == ("breast_cancer_classifier", "champion")
    assert score.experiment == DAG_ID
    assert score.lineage["spec_file"] == "breast_cancer_scoring.yaml"
    resolve = dag.get_task("resolve_data")
    assert (resolve.path, resolve.rev, resolve.dvc_conn_id) == ("data/breast_cancer.csv", "main", "dvc_default")


def test_score_emits_the_predictions_asset(dag: DAG) -> None:
    [asset] = dag.get_task("score").outlets
    assert isinstance(asset, Asset)
    assert asset.uri == f"mlops://predictions/{DAG_ID}"
    assert asset.name == f"mlops.predictions.{DAG_ID}"
    assert not dag.get_task("resolve_data").outlets


def test_champion_changed_schedules_on_the_champion_asset(dag: DAG) -> None:
    assert dag.schedule.uri == "mlflow://models/breast_cancer_classifier"
    assert type(dag.timetable).__name__ == "AssetTriggeredTimetable"


def test_cron_schedule_and_per_step_timeout(tmp_path: Path) -> None:
    dag = build_batch_scoring_dag(_spec(tmp_path, schedule="@daily", timeouts={"score": 5}), "x.yaml")
    assert dag.schedule == "@daily"
    assert dag.get_task("score").execution_timeout.total_seconds() == 300
    assert dag.get_task("resolve_data").execution_timeout is None


def test_template_registry_and_tags(dag: DAG) -> None:
    built = build_dag(load_pipeline_spec(EXAMPLE), "breast_cancer_scoring.yaml")
    assert built.dag_id == DAG_ID
    assert set(dag.tags) == {"mlops", "mlops:batch_scoring", "demo"}
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    for task in dag.tasks:
        assert task.retries == 2, task.task_id


def test_dag_serializes(dag: DAG) -> None:
    restored = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    assert sorted(restored.task_ids) == ["close_runs", "resolve_data", "score"]
    assert [a.uri for a in restored.get_task("score").outlets] == [f"mlops://predictions/{DAG_ID}"]


# -- the operator's parts that need no MLflow server ---------------------------------------


class _NoAliasHook:
    def session(self) -> Any:
        return nullcontext()

    def get_client(self) -> Any:
        class Client:
            def get_experiment_by_name(self, name: str) -> None:
                return None

        return Client()

    def alias_version(self, model_name: str, alias: str) -> None:
        return None


def test_no_champion_fails_at_once_with_the_way_out() -> None:
    op = BatchScoreOperator(task_id="score", data={}, model_name="bc_model", experiment="e")
    op.__dict__["mlflow_hook"] = _NoAliasHook()
    context: Any = {"dag_run": type("R", (), {"dag_id": "d", "run_id": "r"})()}
    with pytest.raises(
        NoChampionError,
        match=r"no @champion for model bc_model yet; run its retraining pipeline first \(.*'mlflow_default'\)",
    ):
        op.execute(context)
    assert issubclass(NoChampionError, AirflowFailException)


@pytest.fixture(scope="module")
def frames() -> dict[str, Any]:
    import pandas as pd
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True).frame
    iris.columns = ["a", "b", "c", "d", "target"]
    iris["row_id"] = range(len(iris))
    return {"multi": iris, "binary": iris.assign(target=(iris["target"] == 2).astype(int)), "pd": pd}


def _fit(estimator: Any, frame: Any) -> Any:
    return estimator.fit(frame[["a", "b", "c", "d"]], frame["target"])


def test_binary_proba_is_the_positive_class(frames: dict[str, Any]) -> None:
    from sklearn.linear_model import LogisticRegression

    frame = frames["binary"]
    model = _fit(LogisticRegression(max_iter=1000), frame)
    out, meaning = score_frame(
        model, frame, columns=["a", "b", "c", "d"], passthrough=["row_id"], prediction_column="p"
    )
    assert list(out.columns) == ["row_id", "p", "p_proba"]
    assert meaning == "probability of class 1"
    assert out["p_proba"].tolist() == pytest.approx(model.predict_proba(frame[["a", "b", "c", "d"]])[:, 1].tolist())
    assert ((out["p_proba"] >= 0.5) == (out["p"] == 1)).all()
    assert out["row_id"].tolist() == frame["row_id"].tolist()


def test_multiclass_proba_is_the_predicted_class(frames: dict[str, Any]) -> None:
    from sklearn.tree import DecisionTreeClassifier

    frame = frames["multi"]
    model = _fit(DecisionTreeClassifier(max_depth=2, random_state=0), frame)
    out, meaning = score_frame(model, frame, columns=["a", "b", "c", "d"], passthrough=[], prediction_column="p")
    assert meaning == "probability of the predicted class"
    expected = model.predict_proba(frame[["a", "b", "c", "d"]]).max(axis=1)
    assert out["p_proba"].tolist() == pytest.approx(expected.tolist())
    assert set(out["p"]) <= {0, 1, 2}


def test_regressor_gets_no_proba_column(frames: dict[str, Any]) -> None:
    from sklearn.linear_model import LinearRegression

    frame = frames["multi"]
    model = _fit(LinearRegression(), frame)
    out, meaning = score_frame(model, frame, columns=["a", "b", "c", "d"], passthrough=[], prediction_column="y")
    assert list(out.columns) == ["y"] and meaning is None
    assert len(out) == len(frame)


def test_input_columns_prefer_the_signature_then_fit_names(frames: dict[str, Any]) -> None:
    from mlflow.models import infer_signature
    from sklearn.linear_model import LinearRegression

    frame = frames["multi"]
    model = _fit(LinearRegression(), frame)
    signature = infer_signature(frame[["b", "a"]], frame["target"])
    assert input_columns(signature, model, "models:/m/1") == (["b", "a"], ["b", "a"])
    assert input_columns(None, model, "models:/m/1") == (["a", "b", "c", "d"], ["a", "b", "c", "d"])
    with pytest.raises(AirflowFailException, match="models:/m/1 has no signature"):
        input_columns(None, object(), "models:/m/1")


def _op_on(frame: Any, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> BatchScoreOperator:
    """An operator whose data read and model download are stubbed, to test what it checks first."""
    from airflow_mlops.hooks.dvc import DvcHook

    monkeypatch.setattr(DvcHook, "read_dataframe", lambda self, ref: frame)
    data = {"repo": "/repo", "path": "data/x.csv", "commit": "abcdef1234567890"}
    op = BatchScoreOperator(task_id="score", data=data, model_name="m", experiment="e", **kwargs)
    monkeypatch.setattr(op, "_load_model", lambda uri: (object(), ["a", "b", "c", "d"], ["a", "b", "c", "d"]))
    return op


def test_missing_inputs_name_the_columns_the_data_and_the_version(
    frames: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    op = _op_on(frames["multi"].drop(columns=["c"]), monkeypatch)
    with pytest.raises(
        AirflowFailException, match=r"data data/x.csv@abcdef123456 lacks columns \['c'\] that m version 3"
    ):
        op._score("d", "r", "3", "models:/m/3", "run")


def test_passthrough_must_exist_and_not_collide(frames: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    op = _op_on(frames["multi"], monkeypatch, passthrough=["row_id", "customer_id"])
    with pytest.raises(AirflowFailException, match=r"lacks passthrough columns \['customer_id'\]"):
        op._score("d", "r", "3", "models:/m/3", "run")
    op = _op_on(frames["multi"], monkeypatch, passthrough=["prediction"])
    with pytest.raises(AirflowFailException, match=r"passthrough columns \['prediction'\] would be overwritten"):
        op._score("d", "r", "3", "models:/m/3", "run")
    op = _op_on(frames["multi"].iloc[:0], monkeypatch)
    with pytest.raises(AirflowFailException, match="has no rows to score"):
        op._score("d", "r", "3", "models:/m/3", "run")
