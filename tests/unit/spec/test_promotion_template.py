"""The ``promotion`` template: a path through declared environments, checked at file:line, built into hops.

The DAG is built for real (no run: tests/integration/test_environments_dag.py runs it against two
MLflow servers); here, which tasks it has, in which order, and which errors ``validate`` gives.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_mlops.errors import PipelineConfigError
from airflow_mlops.factory.templates import build_dag
from airflow_mlops.spec.environments_file import environments_from
from airflow_mlops.spec.loader import load_pipeline_spec

DEFAULTS = """\
environments:
  dev:
    mlflow_conn_id: mlflow_dev
    model_name: churn_dev
    policy: {require_approval: false}
  staging:
    mlflow_conn_id: mlflow_staging
    model_name: churn
    holdout: {path: holdout/staging.csv, rev: s1}
    policy: {require_approval: false}
  prod:
    mlflow_conn_id: mlflow_prod
    model_name: churn
    holdout: {path: holdout/prod.csv, rev: p1}
"""


def _load(tmp_path: Path, pipeline: str) -> object:
    dags = tmp_path / "dags"
    (dags / "pipelines").mkdir(parents=True, exist_ok=True)
    (dags / "defaults.yaml").write_text(DEFAULTS)
    path = dags / "pipelines" / "promote.yaml"
    path.write_text(pipeline)
    return load_pipeline_spec(path, defaults_root=dags)


def test_a_path_becomes_one_promotion_per_hop_with_an_approval_where_the_target_asks(tmp_path: Path) -> None:
    spec = _load(
        tmp_path,
        "template: promotion\npipeline: churn_promotion\nschedule: {on: champion_changed}\n"
        "timeouts: {promote: 30}\npromotion:\n  through: [dev, staging, prod]\n  approvers: [alice]\n",
    )
    dag = build_dag(spec, "promote.yaml")  # type: ignore[arg-type]
    tasks = {t.task_id: t for t in dag.tasks}
    assert list(tasks) == ["promote_staging", "approve_prod", "promote_prod"]
    assert tasks["approve_prod"].upstream_task_ids == {"promote_staging"}
    assert tasks["promote_prod"].upstream_task_ids == {"approve_prod", "promote_staging"}
    # staging needs no approval: its promotion has none; production's is the approval task's answer.
    assert tasks["promote_staging"].approval is None  # type: ignore[attr-defined]
    assert (tasks["promote_prod"].from_env, tasks["promote_prod"].to_env) == ("staging", "prod")  # type: ignore[attr-defined]
    assert tasks["approve_prod"].assigned_users == [{"id": "alice", "name": "alice"}]  # type: ignore[attr-defined]
    assert tasks["promote_prod"].execution_timeout.total_seconds() == 30 * 60
    # The default trigger is a new champion of the first environment's model.
    assert "mlops.champion.churn_dev" in str(dag.timetable)


def test_every_problem_of_the_path_is_reported_at_its_line(tmp_path: Path) -> None:
    with pytest.raises(PipelineConfigError) as err:
        _load(
            tmp_path,
            "template: promotion\npipeline: bad\nschedule: {on: new_data_version}\n"
            "promotion:\n  through: [prod, qa, prod, dev]\n  force: true\n",
        )
    text = str(err.value)
    assert ":6:3: promotion.force:" in text  # no force in YAML: skipping the gates is a person's decision
    with pytest.raises(PipelineConfigError) as err:
        _load(tmp_path, "template: promotion\npipeline: bad\nschedule: {on: new_data_version}\n"
                        "promotion:\n  through: [prod, qa, prod, dev]\n")  # fmt: skip
    lines = str(err.value).splitlines()
    assert any(":3:12: schedule.on: a promotion pipeline reads no data" in line for line in lines), lines
    assert any(":5:19: promotion.through[1]: no environment named 'qa'" in line for line in lines), lines
    assert any(":5:23: promotion.through[2]: environment 'prod' appears twice" in line for line in lines), lines
    assert any(":5:29: promotion.through[3]: environment 'dev' declares no holdout" in line for line in lines)


def test_an_operator_given_declarations_checks_them_like_the_file() -> None:
    declared = environments_from({"dev": {"mlflow_conn_id": "a", "model_name": "m"}})
    assert declared["dev"].policy.require_approval is True
    with pytest.raises(PipelineConfigError) as err:
        environments_from({"dev": {"model_name": "m"}, "prod": {"mlflow_conn_id": "a", "model_name": "m", "x": 1}})
    text = str(err.value)
    assert "environments.dev.mlflow_conn_id" in text and "environments.prod.x" in text, text
