"""defaults.yaml inheritance: outermost first, nearest wins, and errors name the right file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from airflow_mlops.errors import PipelineConfigError
from airflow_mlops.spec.defaults import defaults_chain
from airflow_mlops.spec.loader import load_pipeline_spec

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = yaml.safe_load((REPO / "dags" / "pipelines" / "breast_cancer.yaml").read_text())
SUITE = REPO / "dags" / "pipelines" / "suites" / "breast_cancer.yaml"


def _write(path: Path, data: dict[str, object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """org/defaults.yaml > org/team/defaults.yaml > org/team/churn/churn.yaml."""
    _write(
        tmp_path / "org" / "defaults.yaml",
        {
            "owner": "ml-platform",
            "tags": ["org"],
            "retries": {"retries": 4, "delay_seconds": 60},
            "gate": {"first_run": "fail", "metrics": [{"metric": "f1", "min": 0.8}]},
        },
    )
    _write(
        tmp_path / "org" / "team" / "defaults.yaml",
        {
            "owner": "churn-team",
            "tags": ["team"],
            "retries": {"delay_seconds": 5},
            "data": {"dvc_conn_id": "dvc_churn"},
        },
    )
    pipeline = {k: v for k, v in EXAMPLE.items() if k not in ("gate", "tags")}
    pipeline["data"] = {k: v for k, v in EXAMPLE["data"].items() if k != "dvc_conn_id"}
    _write(tmp_path / "org" / "team" / "churn" / "churn.yaml", pipeline)
    (tmp_path / "org" / "team" / "churn" / "suites").mkdir()
    shutil.copy(SUITE, tmp_path / "org" / "team" / "churn" / "suites" / "breast_cancer.yaml")
    return tmp_path / "org"


def test_nearest_defaults_win_and_mappings_merge_deeply(tree: Path) -> None:
    spec = load_pipeline_spec(tree / "team" / "churn" / "churn.yaml", defaults_root=tree)
    assert spec.owner == "churn-team"  # nearest wins
    assert spec.retries.retries == 4 and spec.retries.delay_seconds == 5  # merged key by key
    assert spec.tags == ["team"]  # lists are replaced, not concatenated
    assert spec.data.dvc_conn_id == "dvc_churn" and spec.data.path == "data/breast_cancer.csv"
    assert spec.gate.first_run == "fail" and spec.gate.metrics[0].min == 0.8  # inherited from the org


def test_the_pipeline_file_wins_over_every_default(tree: Path) -> None:
    path = tree / "team" / "churn" / "churn.yaml"
    data = yaml.safe_load(path.read_text())
    data["owner"] = "me"
    data["retries"] = {"delay_seconds": 1}
    _write(path, data)
    spec = load_pipeline_spec(path, defaults_root=tree)
    assert spec.owner == "me" and spec.retries.delay_seconds == 1 and spec.retries.retries == 4


def test_defaults_above_the_root_do_not_apply(tree: Path) -> None:
    with pytest.raises(PipelineConfigError, match="gate: required field is missing"):
        load_pipeline_spec(tree / "team" / "churn" / "churn.yaml", defaults_root=tree / "team")
    assert defaults_chain(tree / "team" / "churn" / "churn.yaml", tree / "team") == [tree / "team" / "defaults.yaml"]
    assert defaults_chain(tree / "team" / "churn" / "churn.yaml", None) == []


def test_an_error_in_an_inherited_value_points_at_the_defaults_file(tree: Path) -> None:
    team_defaults = tree / "team" / "defaults.yaml"
    team_defaults.write_text("owner: churn-team\nretries:\n  delay_seconds: -5\n")
    with pytest.raises(PipelineConfigError) as err:
        load_pipeline_spec(tree / "team" / "churn" / "churn.yaml", defaults_root=tree)
    (issue,) = err.value.issues
    assert issue.file == str(team_defaults)
    assert (issue.line, issue.field) == (3, "retries.delay_seconds")


def test_unknown_key_in_defaults_is_reported_there(tree: Path) -> None:
    org_defaults = tree / "defaults.yaml"
    org_defaults.write_text(org_defaults.read_text() + "ownr: typo\n")
    with pytest.raises(PipelineConfigError) as err:
        load_pipeline_spec(tree / "team" / "churn" / "churn.yaml", defaults_root=tree)
    (issue,) = err.value.issues
    assert issue.file == str(org_defaults) and issue.field == "ownr" and "did you mean 'owner'" in issue.hint


def test_defaults_cannot_set_the_dag_id(tree: Path) -> None:
    (tree / "team" / "defaults.yaml").write_text("pipeline: everyone\n")
    with pytest.raises(PipelineConfigError, match="cannot set the dag id"):
        load_pipeline_spec(tree / "team" / "churn" / "churn.yaml", defaults_root=tree)


def test_a_suite_named_in_defaults_is_relative_to_that_file(tree: Path) -> None:
    shutil.copy(SUITE, tree / "shared_suite.yaml")
    org = yaml.safe_load((tree / "defaults.yaml").read_text())
    org["validation"] = {"suite": "shared_suite.yaml"}
    _write(tree / "defaults.yaml", org)
    path = tree / "team" / "churn" / "churn.yaml"
    data = yaml.safe_load(path.read_text())
    del data["validation"]
    _write(path, data)
    spec = load_pipeline_spec(path, defaults_root=tree)
    assert spec.validation.expectations is not None and len(spec.validation.expectations) == 9
