"""The deploy step of the retraining template: built only with a deployment: section, after promote."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from airflow_mlops.factory.retraining import build_retraining_dag
from airflow_mlops.operators.deploy import DeployModelOperator
from airflow_mlops.spec.loader import load_pipeline_spec
from tests.pipeline_steps import retraining_steps
from tests.unit.spec.test_loader import write_example


def _dag(tmp_path: Path, append: str = "") -> object:
    return build_retraining_dag(load_pipeline_spec(write_example(tmp_path, append=append)), source="p.yaml")


def test_without_the_section_the_pipeline_is_unchanged(tmp_path: Path) -> None:
    dag = _dag(tmp_path)
    assert set(dag.task_ids) == set(retraining_steps())  # type: ignore[attr-defined]
    assert [t.task_id for t in dag.get_task("promote").downstream_list] == ["close_runs"]  # type: ignore[attr-defined]


def test_the_deploy_step_runs_after_promote_and_before_the_teardown(tmp_path: Path) -> None:
    dag = _dag(
        tmp_path,
        "\ntimeouts: {deploy: 7}\n"
        "deployment:\n  endpoint: churn\n  strategy: canary\n  canary_percent: 25\n  bake_seconds: 12\n"
        "  smoke: {requests: 8, max_error_rate: 0.1, max_p95_ms: 250}\n  rollback: {on_smoke_failure: fail}\n",
    )
    steps = retraining_steps()
    assert set(dag.task_ids) == {*steps, "deploy"}  # type: ignore[attr-defined]
    deploy = dag.get_task("deploy")  # type: ignore[attr-defined]
    assert isinstance(deploy, DeployModelOperator)
    # promote's output says which version to serve, prepare_data's test split makes the smoke requests
    assert deploy.upstream_task_ids == {"promote", "prepare_data"}
    assert [t.task_id for t in deploy.downstream_list] == ["close_runs"]
    assert dag.get_task("close_runs").get_flat_relative_ids(upstream=True) >= {"deploy", "promote"}  # type: ignore[attr-defined]
    assert "deploy" not in dag.get_task("promote").get_flat_relative_ids(upstream=True)  # type: ignore[attr-defined]
    assert (deploy.target, deploy.endpoint, deploy.strategy, deploy.canary_percent) == (
        "mlops-local", "churn", "canary", 25,
    )  # fmt: skip
    assert (deploy.bake_seconds, deploy.smoke_requests, deploy.max_error_rate, deploy.max_p95_ms) == (12, 8, 0.1, 250)
    assert deploy.on_smoke_failure == "fail" and deploy.target_conn_id is None
    assert (deploy.alias, deploy.previous_alias) == ("champion", "previous")
    assert deploy.execution_timeout == timedelta(minutes=7)


def test_the_endpoint_defaults_to_the_model_name(tmp_path: Path) -> None:
    deploy = _dag(tmp_path, "\ndeployment: {target: databricks, conn_id: dbx}\n").get_task("deploy")  # type: ignore[attr-defined]
    assert (deploy.endpoint, deploy.target, deploy.target_conn_id) == ("breast_cancer_classifier", "databricks", "dbx")
