"""The source fields and the ingestion template, as ``airflow-mlops validate`` reports them: file, line, field, hint."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from airflow_mlops.errors import ConfigIssue, PipelineConfigError
from airflow_mlops.spec.loader import load_pipeline_spec
from airflow_mlops.spec.models_ingestion import IngestionPipelineSpec

EXAMPLES = Path(__file__).resolve().parents[3] / "dags" / "pipelines"


def _issues(path: Path) -> list[tuple[str, int | None, str]]:
    with pytest.raises(PipelineConfigError) as caught:
        load_pipeline_spec(path, defaults_root=path.parent)
    issues: list[ConfigIssue] = caught.value.issues
    return [(issue.field, issue.line, issue.message) for issue in issues]


def _example(tmp_path: Path, name: str, *replacements: tuple[str, str]) -> Path:
    text = (EXAMPLES / name).read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_ingestion_example_loads(tmp_path: Path) -> None:
    spec = load_pipeline_spec(shutil.copy(EXAMPLES / "breast_cancer_ingest.yaml", tmp_path), defaults_root=tmp_path)
    assert isinstance(spec, IngestionPipelineSpec)
    assert spec.data.sql is not None and spec.data.sql.statement.startswith("SELECT * FROM labelled.")
    assert spec.step_names() == ("extract", "version_data")


def test_ingestion_errors_point_at_their_lines_in_one_pass(tmp_path: Path) -> None:
    path = _example(
        tmp_path,
        "breast_cancer_ingest.yaml",
        ("    query: SELECT", "    table: a.b\n    query: SELECT"),  # query and table both
        ("    mean_radius: float", "    mean_radius: decimal"),  # unknown logical type
        ("  path: data/breast_cancer.parquet", "  path: data/breast_cancer.csv"),  # not parquet
        ("  branch: main", "  branch: ../main"),
    )
    found = _issues(path)
    assert ("data.sql", 12, "set exactly one of 'query' or 'table'") in found
    fields = {(field, line) for field, line, _ in found}
    assert {("data.columns.mean_radius", 19), ("output.path", 24), ("output.branch", 25)} <= fields
    assert len(found) == 4


def test_a_source_without_its_section_and_a_stray_path_are_named(tmp_path: Path) -> None:
    path = _example(
        tmp_path,
        "breast_cancer_from_sql.yaml",
        ("  dvc_conn_id: dvc_default\n", "  source: sql\n  dvc_conn_id: dvc_default\n"),
    )
    [(field, line, message)] = _issues(path)
    assert (field, line) == ("data", 9) and message == "source 'sql' needs a 'sql:' section"

    path = _example(
        tmp_path,
        "breast_cancer_from_sql.yaml",
        ("  dvc_conn_id: dvc_default\n", "  source: object_storage\n  object_storage: {uri: 'bucket/orders/'}\n"),
    )
    found = _issues(path)
    assert [(f, m) for f, _, m in found] == [
        ("data.object_storage.uri", "'bucket/orders/' is not a URI with a scheme"),
    ]


def test_an_ingestion_trigger_about_a_model_must_name_it(tmp_path: Path) -> None:
    path = _example(tmp_path, "breast_cancer_ingest.yaml", ('schedule: "@daily"', "schedule: {on: champion_changed}"))
    [(field, line, message)] = _issues(path)
    assert (field, line, message) == ("schedule.on", 7, "trigger 'champion_changed' needs the model it is about")
