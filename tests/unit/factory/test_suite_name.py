"""A suite file's ``name:`` names the validation report (issue #15: it was ignored for ``<pipeline>.validation``)."""

from __future__ import annotations

from pathlib import Path

from airflow_mlops.factory.templates import build_dag
from airflow_mlops.spec.loader import load_pipeline_spec
from tests.unit.spec.test_loader import write_example

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "dags" / "pipelines" / "breast_cancer.yaml"


def test_the_suite_files_name_reaches_the_validate_task() -> None:
    spec = load_pipeline_spec(EXAMPLE, defaults_root=EXAMPLE.parent)

    task = build_dag(spec).get_task("validate_data")

    assert spec.validation.name == "breast_cancer"  # the name: line of suites/breast_cancer.yaml
    assert task.suite_name == "breast_cancer"  # type: ignore[attr-defined]


def test_the_pipeline_can_name_the_suite_and_a_nameless_suite_keeps_the_default(tmp_path: Path) -> None:
    named = write_example(tmp_path, ("  on_failure: fail", "  on_failure: fail\n  name: churn_checks"))
    assert load_pipeline_spec(named).validation.name == "churn_checks"

    unnamed = write_example(tmp_path)  # writes the suite too
    suite = tmp_path / "suites" / "breast_cancer.yaml"
    suite.write_text(suite.read_text().replace("name: breast_cancer\n", ""))
    spec = load_pipeline_spec(unnamed)
    assert spec.validation.name is None
    assert build_dag(spec).get_task("validate_data").suite_name is None  # type: ignore[attr-defined]
