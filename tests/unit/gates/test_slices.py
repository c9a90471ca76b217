"""Per-slice gate rules: every value of a column must meet the rule, and each slice is named."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_mlops.errors import ConfigurationError
from airflow_mlops.gates.decision import ChampionRule, ThresholdRule, decide
from airflow_mlops.gates.metrics import (
    MLFLOW_KEY_MAX_CHARS,
    mlflow_metric_names,
    slice_key,
    slice_keys,
    slice_metric_name,
    slice_specs,
    split_slice_key,
)

CANDIDATE = {
    "recall": 0.9,
    slice_key("recall", "region", "north"): 0.95,
    slice_key("recall", "region", "south"): 0.70,
    slice_key("recall", "regionality", "x"): 0.10,  # another column with a shared prefix: ignored
}


def _decide(rules: list[ThresholdRule | ChampionRule], champion: dict[str, float] | None = None) -> Any:
    return decide(
        candidate="c",
        candidate_metrics=CANDIDATE,
        champion_metrics=champion,
        champion_version="1" if champion else None,
        rules=rules,
        problem="classification",
        n_test=200,
    )


def test_slice_keys_are_exact_per_column() -> None:
    assert slice_keys(CANDIDATE, "recall", "region") == ["recall[region=north]", "recall[region=south]"]


def test_every_slice_must_pass_and_the_failing_one_is_named() -> None:
    verdict = _decide([ThresholdRule("recall", min=0.8, slice_by="region")])
    assert verdict.decision == "reject"
    by_metric = {o.metric: o for o in verdict.outcomes}
    assert set(by_metric) == {"recall[region=north]", "recall[region=south]"}
    assert by_metric["recall[region=north]"].passed
    assert not by_metric["recall[region=south]"].passed
    assert by_metric["recall[region=south]"].reason == "recall[region=south] 0.7000 is below the minimum 0.8"
    assert _decide([ThresholdRule("recall", min=0.6, slice_by="region")]).decision == "promote"


def test_slices_compare_with_the_champions_same_slice() -> None:
    champion = {"recall[region=north]": 0.90, "recall[region=south]": 0.72}
    verdict = _decide([ChampionRule("recall", max_drop=0.01, slice_by="region")], champion)
    assert [(o.metric, o.passed, o.champion_value) for o in verdict.outcomes] == [
        ("recall[region=north]", True, 0.90),
        ("recall[region=south]", False, 0.72),
    ]


def test_a_slice_rule_with_no_judgeable_slice_rejects() -> None:
    verdict = _decide([ThresholdRule("recall", min=0.5, slice_by="segment")])
    (outcome,) = verdict.outcomes
    assert (outcome.kind, outcome.passed) == ("slice", False)
    assert outcome.reason == "no slice of segment had enough test rows to judge recall"


def test_slice_metrics_from_a_real_model() -> None:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from airflow_mlops.ml.metrics import compute_slice_metrics

    rng = np.random.default_rng(0)
    features = pd.DataFrame(
        {"x": rng.normal(size=300), "region": rng.choice(["n", "s", "tiny"], p=[0.5, 0.48, 0.02], size=300)}
    )
    labels = pd.Series((features["x"] > 0).astype(int))
    model = LogisticRegression().fit(features[["x"]], labels)

    class OnX:
        classes_ = model.classes_

        def predict(self, frame: pd.DataFrame) -> object:
            return model.predict(frame[["x"]])

        def predict_proba(self, frame: pd.DataFrame) -> object:
            return model.predict_proba(frame[["x"]])

    sliced, skipped = compute_slice_metrics(OnX(), features, labels, "classification", "region", min_rows=20)
    assert set(skipped) == {"tiny"} and skipped["tiny"] < 20
    assert {k for k in sliced if k.startswith("f1[")} == {"f1[region=n]", "f1[region=s]"}
    n_mask = (features["region"] == "n").to_numpy()
    from sklearn.metrics import f1_score

    assert sliced["f1[region=n]"] == pytest.approx(f1_score(labels[n_mask], model.predict(features.loc[n_mask, ["x"]])))
    with pytest.raises(ConfigurationError, match="not among the test features"):
        compute_slice_metrics(OnX(), features, labels, "classification", "nope", 1)
    with pytest.raises(ConfigurationError, match="distinct values; slice on a categorical column"):
        compute_slice_metrics(OnX(), features, labels, "classification", "x", 1)


def test_spec_slice_rules_reach_the_evaluate_and_gate_tasks(tmp_path: Path) -> None:
    from airflow_mlops.factory.templates import build_dag
    from airflow_mlops.spec.loader import load_pipeline_spec

    repo = Path(__file__).resolve().parents[3]
    data = yaml.safe_load((repo / "dags" / "pipelines" / "breast_cancer.yaml").read_text())
    data["validation"] = {"expectations": [{"expect_column_to_exist": {"column": "target"}}]}
    data["gate"]["metrics"].append({"metric": "recall", "min": 0.8, "slice_by": "segment", "min_slice_rows": 25})
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    dag = build_dag(load_pipeline_spec(path))
    assert dag.get_task("evaluate").slices == [{"column": "segment", "min_rows": 25}]
    assert dag.get_task("gate").rules[-1]["slice_by"] == "segment"


# --- slice metrics in MLflow ---------------------------------------------------------------------
# A slice key such as recall[segment=n] is not a valid MLflow metric name; `evaluate` logs each
# slice metric under slice_metric_name() and keeps the key itself in XCom and the verdict.

TRICKY_VALUES = ["n", "north east", "a/b", "..", ".", "", "ñ", "x=1]", "recall[segment=n]", "1.5", "-", "z" * 400]


def test_slice_metric_names_read_plainly_and_escape_the_rest() -> None:
    assert slice_metric_name("recall", "segment", "n") == "test_slice/recall/segment/n"
    assert slice_metric_name("f1", "customer_tier", 2) == "test_slice/f1/customer_tier/2"
    assert slice_metric_name("recall", "segment", "north east") == "test_slice/recall/segment/north.20east"
    assert slice_metric_name("recall", "seg/ment", "a/b") == "test_slice/recall/seg.2fment/a.2fb"
    assert slice_metric_name("recall", "segment", "..") == "test_slice/recall/segment/.2e.2e"
    assert slice_metric_name("recall", "segment", "") == "test_slice/recall/segment/.-"
    assert slice_metric_name("recall", "segment", "ñ") == "test_slice/recall/segment/.c3.b1"
    long = slice_metric_name("recall", "segment", "z" * 400)
    assert len(long) == MLFLOW_KEY_MAX_CHARS and re.fullmatch(r"test_slice/recall/segment/z+\.\.[0-9a-f]{16}", long)
    assert slice_metric_name("recall", "segment", "z" * 401) != long


def test_mlflow_names_keep_whole_set_metrics_and_rename_only_slices() -> None:
    metrics = ["f1", "recall", "recall[segment=n]", "f1[segment=north east]", "f1[seg=x]", "recall[region=s]"]
    assert mlflow_metric_names(metrics, ["segment", "region"]) == {
        "f1": "test_f1",
        "recall": "test_recall",
        "recall[segment=n]": "test_slice/recall/segment/n",
        "f1[segment=north east]": "test_slice/f1/segment/north.20east",
        "f1[seg=x]": "test_f1[seg=x]",  # not a slice of a configured column: left as it is
        "recall[region=s]": "test_slice/recall/region/s",
    }
    assert split_slice_key("recall[segment=a=b]", "segment") == ("recall", "a=b")
    assert split_slice_key("recall[segment=a=b]", "segment=a") == ("recall", "b")
    assert split_slice_key("recall", "segment") is None
    # A column whose name contains "=": the longer column wins, consistently.
    assert mlflow_metric_names(["f1[a=b=c]"], ["a", "a=b"]) == {"f1[a=b=c]": "test_slice/f1/a.3db/c"}


def test_slice_specs_come_from_the_recorded_rules() -> None:
    rules = [
        {"metric": "f1", "min": 0.9},
        {"metric": "recall", "min": 0.8, "slice_by": "segment", "min_slice_rows": 25},
        {"metric": "f1", "compare_to": "champion", "max_drop": 0.01, "slice_by": "segment", "min_slice_rows": 25},
        {"metric": "f1", "min": 0.5, "slice_by": "region"},  # recorded before min_slice_rows existed: 10
    ]
    assert slice_specs(rules) == [{"column": "region", "min_rows": 10}, {"column": "segment", "min_rows": 25}]
    assert slice_specs([{"metric": "f1", "min": 0.9}]) == []


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=60), st.text(max_size=300), st.text(min_size=1, max_size=60), st.text(max_size=300))
def test_every_slice_name_is_a_valid_mlflow_name_and_no_two_slices_share_one(
    column: str, value: str, other_column: str, other_value: str
) -> None:
    from mlflow.utils.validation import _validate_metric_name

    name = slice_metric_name("recall", column, value)
    _validate_metric_name(name)  # raises MlflowException on a name MLflow would refuse
    assert len(name) <= MLFLOW_KEY_MAX_CHARS
    if (column, value) != (other_column, other_value):
        assert slice_metric_name("recall", other_column, other_value) != name
    assert slice_metric_name("f1", column, value) != name


def test_slice_names_are_accepted_by_a_real_mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from airflow_mlops.hooks.mlflow import MlflowHook

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLFLOW_SLICES", json.dumps({"conn_type": "mlflow", "extra": {"tracking_uri": uri}})
    )
    client = MlflowClient(tracking_uri=uri)
    run_id = client.create_run(client.create_experiment("names", artifact_location=str(tmp_path / "a"))).info.run_id
    with pytest.raises(MlflowException, match="Names may only contain"):
        client.log_metric(run_id, "test_" + slice_key("recall", "segment", "n"), 0.5)  # why the names exist
    keys = {slice_key("recall", "segment", v): float(i) for i, v in enumerate(TRICKY_VALUES)}
    names = mlflow_metric_names(["recall", *keys], ["segment"])
    MlflowHook("mlflow_slices").log_batch(run_id, metrics={names[k]: v for k, v in {"recall": 0.9, **keys}.items()})
    logged = client.get_run(run_id).data.metrics
    assert logged == {names[k]: v for k, v in {"recall": 0.9, **keys}.items()}
    assert len(set(names.values())) == len(names)
