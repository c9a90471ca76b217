"""Problem types and frameworks in the spec: the regression and multiclass examples, and what each refuses."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from airflow_mlops.errors import PipelineConfigError
from airflow_mlops.gates.decision import ChampionRule
from airflow_mlops.spec.loader import load_pipeline_spec
from airflow_mlops.spec.models import RetrainingPipelineSpec

PIPELINES = Path(__file__).resolve().parents[3] / "dags" / "pipelines"
FRAMEWORKS = ("sklearn.", "xgboost.", "lightgbm.")


def _variant(tmp_path: Path, example: str, *replacements: tuple[str, str]) -> Path:
    text = (PIPELINES / f"{example}.yaml").read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    shutil.copytree(PIPELINES / "suites", tmp_path / "suites", dirs_exist_ok=True)
    path = tmp_path / f"{example}.yaml"
    path.write_text(text)
    return path


def _issues(path: Path) -> dict[str, str]:
    with pytest.raises(PipelineConfigError) as info:
        load_pipeline_spec(path, allowed_import_prefixes=FRAMEWORKS)
    return {issue.field: f"{issue.message} | {issue.hint}" for issue in info.value.issues}


def test_regression_example_loads_with_default_settings() -> None:
    spec = load_pipeline_spec(PIPELINES / "diabetes.yaml")
    assert isinstance(spec, RetrainingPipelineSpec)
    assert spec.problem == "regression" and spec.data.split.stratify is None and spec.stratify_split is False


def test_multiclass_example_sets_its_average_and_class_weight() -> None:
    spec = load_pipeline_spec(PIPELINES / "wine.yaml")
    assert isinstance(spec, RetrainingPipelineSpec)
    assert spec.averaging == "weighted" and spec.stratify_split is True
    assert spec.models[0].class_weight == "balanced"
    assert load_pipeline_spec(PIPELINES / "breast_cancer.yaml").averaging == "macro"  # type: ignore[union-attr]


def test_classification_only_settings_are_refused_for_regression_at_their_lines(tmp_path: Path) -> None:
    path = _variant(
        tmp_path,
        "diabetes",
        ("\nproblem: regression\n", "\nproblem: regression\naverage: weighted\n"),
        ("  target: target", "  target: target\n  split: {stratify: true}"),
        (
            "    estimator: sklearn.linear_model.Ridge\n",
            "    estimator: sklearn.linear_model.Ridge\n    class_weight: balanced\n",
        ),
    )
    issues = _issues(path)
    assert issues["average"].startswith("average applies to classification only")
    assert issues["data.split.stratify"].startswith("a regression target cannot be stratified")
    assert issues["models[0].class_weight"].startswith("class_weight applies to classification only")


def test_tree_framework_estimators_take_no_preprocessing_and_class_weight_is_set_once(tmp_path: Path) -> None:
    path = _variant(
        tmp_path,
        "wine",
        ("sklearn.ensemble.RandomForestClassifier", "xgboost.XGBClassifier"),
        ("    class_weight: balanced", "    class_weight: {0: 2, 1: 1}\n    params: {class_weight: balanced}"),
        ("    params: {max_iter: 2000}\n", ""),
    )
    issues = _issues(path)
    assert issues["models[1].preprocessing"].startswith("preprocessing does not apply to xgboost estimators")
    assert issues["models[0].class_weight"].startswith("class_weight is set twice")


def test_an_xgboost_path_needs_its_prefix_added_by_an_administrator(tmp_path: Path) -> None:
    path = _variant(tmp_path, "wine", ("sklearn.linear_model.LogisticRegression", "xgboost.XGBClassifier"))
    with pytest.raises(PipelineConfigError) as info:
        load_pipeline_spec(path)
    [issue] = info.value.issues
    assert issue.field == "models[0].estimator" and "allowed_import_prefixes" in issue.message


@pytest.mark.parametrize(
    ("rule", "metric_direction", "text"),
    [
        (ChampionRule("rmse", max_drop=2), "lower", "rmse may rise at most 2 over champion"),
        (ChampionRule("rmse", min_gain=0.5), "lower", "rmse falls at least 0.5 below champion"),
        (ChampionRule("f1", max_drop=0.01), "higher", "f1 drops at most 0.01 below champion"),
        (ChampionRule("f1", min_gain=0.01, relative=True), "higher", "f1 gains at least 0.01 (relative) over champion"),
    ],
)
def test_champion_rules_read_right_for_either_direction(rule: ChampionRule, metric_direction: str, text: str) -> None:
    assert rule.describe(metric_direction) == text  # type: ignore[arg-type]
