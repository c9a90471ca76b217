"""Per-slice gate rules: every value of a column must meet the rule, and each slice is named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_mlops.exceptions import ConfigurationError
from airflow_mlops.gates.decision import ChampionRule, ThresholdRule, decide
from airflow_mlops.gates.metrics import slice_key, slice_keys

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
