"""``cache:``: per pipeline and per step, checked at its line, and what the DAG's operators get from it."""

from __future__ import annotations

from pathlib import Path

from airflow_mlops.factory.retraining import build_retraining_dag
from airflow_mlops.operators.base import NO_CACHE_PARAM
from airflow_mlops.spec.loader import load_pipeline_spec

from .test_loader import by_field, load_error, write_example


def test_caching_is_on_by_default_with_no_age_limit_and_a_no_cache_param(tmp_path: Path) -> None:
    spec = load_pipeline_spec(write_example(tmp_path))
    assert spec.cache.for_step("train") == (True, None)
    dag = build_retraining_dag(spec, "pipeline.yaml")
    assert dag.params[NO_CACHE_PARAM] is False
    prepare, train = dag.get_task("prepare_data"), dag.get_task("train")
    assert (prepare.cache, prepare.cache_expire_after_seconds) == (True, None)  # type: ignore[attr-defined]
    assert train.partial_kwargs.get("cache", True) is True  # type: ignore[attr-defined]


def test_a_step_setting_overrides_the_pipeline_setting(tmp_path: Path) -> None:
    append = (
        "cache:\n  expire_after: 7d\n  steps:\n    train: {expire_after: 12h}\n    prepare_data: {enabled: false}\n"
        "    validate_data: {enabled: false}\n    evaluate: {expire_after: 90m}\n"
    )
    spec = load_pipeline_spec(write_example(tmp_path, append=append))
    assert spec.cache.for_step("train") == (True, 12 * 3600.0)
    assert spec.cache.for_step("prepare_data") == (False, 7 * 86_400.0)
    dag = build_retraining_dag(spec, "pipeline.yaml")
    assert dag.get_task("prepare_data").cache is False  # type: ignore[attr-defined]
    assert dag.get_task("train").partial_kwargs["cache_expire_after_seconds"] == 43_200.0  # type: ignore[attr-defined]
    assert dag.get_task("validate_data").cache is False  # type: ignore[attr-defined]
    evaluate = dag.get_task("evaluate")
    assert (evaluate.cache, evaluate.cache_expire_after_seconds) == (True, 5400.0)  # type: ignore[attr-defined]


def test_every_bad_cache_setting_is_reported_at_its_line_in_one_pass(tmp_path: Path) -> None:
    append = "cache:\n  enabled: sometimes\n  expire_after: 3 weeks\n  steps:\n    gate: {enabled: false}\n"
    path = write_example(tmp_path, append=append)
    issues = by_field(load_error(path).issues)
    lines = {line.strip().split(":")[0]: n for n, line in enumerate(path.read_text().splitlines(), start=1)}
    assert issues["cache.enabled"].line == lines["enabled"]
    assert issues["cache.expire_after"].line == lines["expire_after"]
    assert issues["cache.expire_after"].message == "'3 weeks' is not a duration"
    assert "12h (hours)" in issues["cache.expire_after"].hint
    unknown = [field for field in issues if field.startswith("cache.steps")]
    assert unknown, issues
    assert issues[unknown[0]].line == lines["gate"]
