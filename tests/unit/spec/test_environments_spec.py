"""The ``environments:`` declaration: inherited from a defaults.yaml, checked at its file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from airflow_mlops.cli import main
from airflow_mlops.errors import PipelineConfigError
from airflow_mlops.spec.environments_file import load_environments
from airflow_mlops.spec.loader import load_pipeline_spec

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "dags" / "pipelines" / "breast_cancer.yaml"
SUITES = REPO / "dags" / "pipelines" / "suites"

DEFAULTS = """\
environments:
  dev:
    mlflow_conn_id: mlflow_dev
    model_name: churn_dev
    policy: {require_approval: false}
  prod:
    mlflow_conn_id: mlflow_prod
    model_name: churn
    holdout: {path: holdout/prod.csv, rev: prod-holdout-3}
"""


def _tree(tmp_path: Path, defaults: str) -> Path:
    dags = tmp_path / "dags"
    (dags / "pipelines").mkdir(parents=True)
    shutil.copy(EXAMPLE, dags / "pipelines" / "breast_cancer.yaml")
    shutil.copytree(SUITES, dags / "pipelines" / "suites")
    (dags / "defaults.yaml").write_text(defaults)
    return dags


def test_every_pipeline_inherits_the_declared_environments(tmp_path: Path) -> None:
    dags = _tree(tmp_path, DEFAULTS)
    spec = load_pipeline_spec(dags / "pipelines" / "breast_cancer.yaml", defaults_root=dags)
    assert sorted(spec.environments) == ["dev", "prod"]
    prod = spec.environments["prod"]
    assert (prod.mlflow_conn_id, prod.model_name, prod.alias) == ("mlflow_prod", "churn", "champion")
    assert prod.holdout is not None
    assert (prod.holdout.rev, prod.holdout.dvc_conn_id) == ("prod-holdout-3", "dvc_default")
    # Production asks for approval unless it says otherwise; dev switched it off.
    assert prod.policy.require_approval is True
    assert spec.environments["dev"].policy.require_approval is False


def test_an_error_in_a_shared_environment_points_at_the_defaults_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = DEFAULTS.replace("policy: {require_approval: false}", "policy: {require_aproval: false}").replace(
        "model_name: churn\n", "model_name: churn_dev\n    mlflow_conn_id: mlflow_dev\n"
    )
    dags = _tree(tmp_path, broken.replace("    mlflow_conn_id: mlflow_prod\n", ""))
    assert main(["validate", str(dags)]) == 1
    err = capsys.readouterr().err
    defaults = dags / "defaults.yaml"
    assert f"{defaults}:5:14: environments.dev.policy.require_aproval: unknown key" in err, err
    # Both problems in one pass, the cross-field one included once the typo is fixed.
    fixed = broken.replace("require_aproval", "require_approval").replace("    mlflow_conn_id: mlflow_prod\n", "")
    (dags / "defaults.yaml").write_text(fixed)
    with pytest.raises(PipelineConfigError) as raised:
        load_pipeline_spec(dags / "pipelines" / "breast_cancer.yaml", defaults_root=dags)
    (issue,) = raised.value.issues
    assert issue.file == str(defaults) and issue.field == "environments.prod.model_name"
    assert "both name model 'churn_dev' through connection 'mlflow_dev'" in issue.message


def test_the_promote_command_reads_environments_with_line_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "defaults.yaml"
    path.write_text(DEFAULTS.replace("rev: prod-holdout-3", "rev: ''").replace("model_name: churn\n", "model: x\n"))
    with pytest.raises(PipelineConfigError) as raised:
        load_environments(path)
    found = {(issue.line, issue.field) for issue in raised.value.issues}
    assert found == {
        (7, "environments.prod.model_name"),  # missing: reported at its environment
        (8, "environments.prod.model"),  # unknown key
        (9, "environments.prod.holdout.rev"),  # empty
    }, found
    assert main(["promote", "--from", "dev", "--to", "prod", "--environments", str(path)]) == 1
    assert f"{path}:8:5: environments.prod.model: unknown key" in capsys.readouterr().err
    path.write_text(yaml.safe_dump({"owner": "ml-team"}))
    with pytest.raises(PipelineConfigError, match="environments"):
        load_environments(path)
    path.write_text(DEFAULTS)
    assert sorted(load_environments(path)) == ["dev", "prod"]
