"""Every problem of a pipeline file in one pass: the schema's and the cross-field rules' together (issue #15).

Pydantic builds no model once a field fails, so the cross-field rules (an unknown ``select_by``
metric, a duplicate candidate) used to wait until the schema errors were fixed. Now they run on
the sections that passed, and a rule that reads a failed section is skipped, so a bad value
never adds a made-up follow-on error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_mlops.cli import main
from airflow_mlops.errors import ConfigIssue, PipelineConfigError
from airflow_mlops.spec.loader import load_pipeline_spec
from tests.unit.spec.test_loader import write_example


def _issues(path: Path) -> list[ConfigIssue]:
    with pytest.raises(PipelineConfigError) as caught:
        load_pipeline_spec(path, defaults_root=path.parent)
    return caught.value.issues


def _where(issues: list[ConfigIssue]) -> list[tuple[str, int | None, str]]:
    return [(issue.field, issue.line, issue.message) for issue in issues]


def test_a_typo_and_an_unknown_select_by_metric_are_reported_together(tmp_path: Path) -> None:
    path = write_example(tmp_path, ("test_size: 0.25", "test_sise: 0.25"), ("select_by: f1", "select_by: f2"))

    issues = _issues(path)

    assert _where(issues) == [
        ("data.split.test_sise", 14, "unknown key 'test_sise'"),
        ("select_by", 29, "unknown classification metric 'f2'"),
    ]
    assert issues[1].hint.startswith("known classification metrics:")


def test_several_kinds_of_error_in_one_file_each_once(tmp_path: Path) -> None:
    path = write_example(
        tmp_path,
        ("rev: main", "rev: main\n  colour: blue"),  # unknown key (schema)
        ("    params: {n_estimators: 200, random_state: 0}", "    params: {n_estimators: 200}\n    alias: x"),
        ("- name: forest", "- name: logreg"),  # duplicate candidate (rule on a failed section: skipped)
        ("select_by: f1", "select_by: auc"),  # unknown metric (rule)
        ("{metric: roc_auc, min: 0.95}", "{metric: rocauc, min: 0.95}"),  # unknown gate metric (rule)
        ("  model_name: breast_cancer_classifier", "  model_name: 42"),  # wrong type (schema)
        append="timeouts: {trian: 30}\n",  # unknown step (rule)
    )

    issues = _issues(path)
    last_line = len(path.read_text().splitlines())  # the appended timeouts line, wherever the example ends

    assert sorted(_where(issues)) == sorted(
        [
            ("data.colour", 13, "unknown key 'colour'"),
            ("models[1].alias", 28, "unknown key 'alias'"),
            ("registry.model_name", 40, "Input should be a valid string (got 42)"),
            ("select_by", 31, "unknown classification metric 'auc'"),
            ("gate.metrics[1].metric", 35, "unknown classification metric 'rocauc'"),
            ("timeouts.trian", last_line, "unknown step 'trian'"),
        ]
    )
    assert len({str(issue) for issue in issues}) == len(issues)


def test_the_models_rules_run_when_the_models_pass(tmp_path: Path) -> None:
    path = write_example(tmp_path, ("- name: forest", "- name: logreg"), ("rev: main", "rev: [main]"))

    assert _where(_issues(path)) == [
        ("data.rev", 12, "Input should be a valid string (got ['main'])"),
        ("models[1].name", 24, "duplicate candidate name 'logreg'"),
    ]


def test_a_bad_problem_adds_no_bogus_unknown_metric(tmp_path: Path) -> None:
    """select_by and the gate metrics are checked against the problem; with no valid problem they are not."""
    path = write_example(
        tmp_path, ("problem: classification", "problem: clasification"), ("select_by: f1", "select_by: r2")
    )

    issues = _issues(path)

    assert [issue.field for issue in issues] == ["problem"]
    assert "did you mean 'classification'?" in issues[0].hint


def test_a_broken_gate_hides_only_the_rules_that_read_the_gate(tmp_path: Path) -> None:
    path = write_example(
        tmp_path,
        ("{metric: f1, min: 0.90}", "{metric: f1, min: high}"),
        ("{metric: roc_auc, min: 0.95}", "{metric: rocauc, min: 0.95}"),
        ("select_by: f1", "select_by: auc"),
    )

    fields = [issue.field for issue in _issues(path)]

    assert "select_by" in fields and any(field.startswith("gate.metrics[0]") for field in fields)
    assert "gate.metrics[1].metric" not in fields  # its rule reads the gate, which failed


def test_the_suite_file_is_checked_in_the_same_pass(tmp_path: Path) -> None:
    path = write_example(tmp_path, ("select_by: f1", "select_by: f2"))
    suite = tmp_path / "suites" / "breast_cancer.yaml"
    suite.write_text(suite.read_text().replace("expect_column_to_exist:", "Expect_column_to_exist:"))

    issues = _issues(path)

    assert [issue.field for issue in issues][:2] == ["select_by", "validation.suite"]
    assert any(issue.file == str(suite) and issue.field.startswith("expectations[1]") for issue in issues), issues


def test_validate_prints_every_problem_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_example(tmp_path, ("test_size: 0.25", "test_sise: 0.25"), ("select_by: f1", "select_by: f2"))

    assert main(["validate", str(path)]) == 1

    printed = capsys.readouterr().err
    assert f"{path}:14:" in printed and "test_sise" in printed
    assert f"{path}:29:1: select_by: unknown classification metric 'f2'" in printed
