"""The retraining SLA without a scheduler: the age judgement, alert delivery, the YAML and the DAG it builds.

The deadline firing in a real scheduler and triggerer, and ``check_champion_age`` against a real
registry, are in tests/integration/test_sla.py.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineReference
from airflow.serialization.serialized_objects import DagSerialization

from airflow_mlops import alerts
from airflow_mlops.errors import AlertDeliveryError, ConfigIssue, PipelineConfigError
from airflow_mlops.factory.retraining import build_retraining_dag
from airflow_mlops.operators.close_runs import CloseMlflowRunsOperator
from airflow_mlops.spec.loader import load_pipeline_spec
from tests.statsd_capture import StatsdListener
from tests.unit.spec.test_loader import write_example

USER_CODE = Path(__file__).resolve().parents[1] / "fixtures" / "user_code"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SLA = """
sla:
  max_champion_age_days: 30
  run_deadline: {minutes: 90, after: logical_date}
  notify:
    - notifier: airflow.providers.smtp.notifications.smtp.SmtpNotifier
      params: {to: ml@example.com}
"""


# -- the judgement ---------------------------------------------------------------------------


def test_a_champion_older_than_the_limit_is_too_old() -> None:
    age = alerts.champion_age("churn", "7", (NOW - timedelta(days=31)).isoformat(), 30, now=NOW)
    assert (age.age_days, age.too_old) == (pytest.approx(31), True)
    assert age.message == (
        "champion of churn (version 7) took the alias 31.0 days ago (2026-05-01T12:00:00+00:00), "
        "older than the SLA of 30 days"
    )


def test_a_champion_at_or_within_the_limit_is_not_and_naive_times_are_utc() -> None:
    assert not alerts.champion_age("churn", "7", "2026-05-02T12:00:00", 30, now=NOW).too_old  # exactly 30 days
    assert "within the SLA of 30 days" in alerts.champion_age("churn", "7", "2026-05-20T00:00:00", 30, now=NOW).message


@pytest.mark.parametrize(
    ("version", "promoted_at", "says"),
    [
        (None, None, "churn has no champion yet; nothing to age"),
        ("3", None, "churn version 3 has no recorded promotion time (aliased by hand?); age unknown"),
        ("3", "last tuesday", "churn version 3 has no recorded promotion time (aliased by hand?); age unknown"),
    ],
)
def test_no_champion_or_no_promotion_time_is_never_too_old(version: str | None, promoted_at: Any, says: str) -> None:
    age = alerts.champion_age("churn", version, promoted_at, 1, now=NOW)
    assert (age.age_days, age.too_old, age.message) == (None, False, says)


# -- delivery --------------------------------------------------------------------------------


@pytest.fixture
def user_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(USER_CODE))


def _file_notifier(path: Path) -> dict[str, Any]:
    return {
        "notifier": "acme_ml.notify.FileNotifier",
        "params": {"path": str(path), "message": "{{ mlops_alert.message }}"},
    }


def test_every_notifier_is_tried_and_the_error_names_each_that_failed(tmp_path: Path, user_code: None) -> None:
    told = tmp_path / "told.jsonl"
    notifiers = [
        {"notifier": "acme_ml.notify.NoSuchNotifier", "params": {}},
        _file_notifier(told),
        {"notifier": "acme_ml.notify.FileNotifier", "params": {"path": str(tmp_path / "no" / "dir" / "x")}},
    ]
    context = alerts.alert_context({"dag_run": None}, message="late")
    with pytest.raises(AlertDeliveryError) as caught:
        alerts.deliver(notifiers, context)
    assert caught.value.targets == ["acme_ml.notify.NoSuchNotifier", "acme_ml.notify.FileNotifier"]
    assert str(caught.value).startswith("SLA alert not delivered to 2 of 3 notifier(s): acme_ml.notify.NoSuchNotifier:")
    assert "FileNotFoundError" in str(caught.value)
    assert json.loads(told.read_text())["message"] == "late"  # the one that works was still told


def test_the_deadline_callback_counts_the_miss_and_tells_the_notifiers(
    tmp_path: Path, user_code: None, listener: StatsdListener
) -> None:
    told = tmp_path / "told.jsonl"
    # the context Airflow's scheduler builds for a deadline callback (models/deadline.py, handle_miss)
    context = {
        "dag_run": {"dag_id": "team.churn", "dag_run_id": "scheduled__2026-06-01T03:00:00+00:00", "state": "running"},
        "deadline": {"id": "0190", "deadline_time": "2026-06-01T04:30:00+00:00"},
    }
    result = asyncio.run(
        alerts.run_deadline_missed(
            pipeline="team.churn", minutes=90, after="logical_date", notify=[_file_notifier(told)], context=context
        )
    )
    message = (
        "DAG run scheduled__2026-06-01T03:00:00+00:00 of team.churn had not ended 90 minutes after its logical date"
        " (deadline 2026-06-01T04:30:00+00:00)"
    )
    assert result == {
        "pipeline": "team.churn",
        "run_id": "scheduled__2026-06-01T03:00:00+00:00",
        "message": message,
        "notified": 1,
    }
    assert json.loads(told.read_text())["message"] == message
    assert listener.named("airflow.mlops.sla") == {"airflow.mlops.sla.run_deadline_missed.team_churn": 1.0}


# -- the YAML --------------------------------------------------------------------------------


def test_the_sla_section_loads(tmp_path: Path) -> None:
    spec = load_pipeline_spec(write_example(tmp_path, append=SLA), defaults_root=tmp_path)
    assert spec.sla.max_champion_age_days == 30
    assert spec.sla.run_deadline is not None
    assert (spec.sla.run_deadline.minutes, spec.sla.run_deadline.after) == (90, "logical_date")
    assert [n.notifier for n in spec.sla.notify] == ["airflow.providers.smtp.notifications.smtp.SmtpNotifier"]
    assert spec.step_names()[-2:] == ("close_runs", "check_champion_age")


def _issues(path: Path) -> list[tuple[str, int | None, str]]:
    with pytest.raises(PipelineConfigError) as caught:
        load_pipeline_spec(path, defaults_root=path.parent)
    issues: list[ConfigIssue] = caught.value.issues
    assert all(issue.file == str(path) for issue in issues)
    return [(issue.field, issue.line, issue.message) for issue in issues]


def test_every_bad_sla_field_is_reported_at_its_line_in_one_pass(tmp_path: Path) -> None:
    path = write_example(
        tmp_path, append="sla:\n  max_champion_age_days: 0\n  run_deadline: {minutes: -5, after: started}\n"
    )
    first = len(path.read_text().splitlines()) - 1  # max_champion_age_days
    assert sorted(_issues(path)) == [
        ("sla.max_champion_age_days", first, "Input should be greater than 0 (got 0)"),
        ("sla.run_deadline.after", first + 1, "Input should be 'queued' or 'logical_date' (got 'started')"),
        ("sla.run_deadline.minutes", first + 1, "Input should be greater than 0 (got -5)"),
    ]


def test_a_champion_age_limit_in_a_template_without_a_champion_is_refused(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "dags" / "pipelines" / "breast_cancer_ingest.yaml"
    path = tmp_path / "ingest.yaml"
    path.write_text(example.read_text() + "sla:\n  max_champion_age_days: 7\n  run_deadline: {minutes: 30}\n")
    line = len(path.read_text().splitlines()) - 1
    assert _issues(path) == [
        ("sla.max_champion_age_days", line, "only a retraining pipeline checks its champion's age")
    ]


# -- the DAG ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sla_dag(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("sla-dag")
    return build_retraining_dag(load_pipeline_spec(write_example(folder, append=SLA), defaults_root=folder))


def test_the_run_deadline_is_an_airflow_deadline_alert_with_an_async_callback(sla_dag: Any) -> None:
    (alert,) = sla_dag.deadline
    assert alert.reference == DeadlineReference.DAGRUN_LOGICAL_DATE
    assert alert.interval == timedelta(minutes=90)
    assert isinstance(alert.callback, AsyncCallback)
    assert alert.callback.path == "airflow_mlops.alerts.run_deadline_missed"
    assert alert.callback.kwargs == {
        "pipeline": "breast_cancer_retrain",
        "minutes": 90,
        "after": "logical_date",
        "notify": [
            {"notifier": "airflow.providers.smtp.notifications.smtp.SmtpNotifier", "params": {"to": "ml@example.com"}}
        ],
    }
    restored = DagSerialization.from_dict(DagSerialization.to_dict(sla_dag))
    assert restored.deadline


def test_check_champion_age_is_a_teardown_after_the_work(sla_dag: Any) -> None:
    check = sla_dag.get_task("check_champion_age")
    assert check.is_teardown
    assert check.upstream_task_ids == {"promote"}
    assert (check.model_name, check.alias, check.max_age_days) == ("breast_cancer_classifier", "champion", 30)
    assert sla_dag.get_task("close_runs").upstream_task_ids == {"promote"}


def test_a_pipeline_without_sla_has_neither(tmp_path: Path) -> None:
    dag = build_retraining_dag(load_pipeline_spec(write_example(tmp_path), defaults_root=tmp_path))
    assert not dag.deadline
    assert "check_champion_age" not in dag.task_ids


class _TaskStates:
    def __init__(self, states: dict[str, str]) -> None:
        self.states = states

    def get_task_states(self, *, dag_id: str, task_ids: list[str], run_ids: list[str]) -> dict[str, dict[str, str]]:
        return {run_ids[0]: {t: self.states[t] for t in task_ids if t in self.states}}


@pytest.mark.parametrize(
    ("states", "failed"),
    [
        ({"promote": "success", "check_champion_age": "failed"}, []),
        ({"gate": "failed", "promote": "upstream_failed", "check_champion_age": "success"}, ["gate", "promote"]),
    ],
)
def test_close_runs_leaves_teardowns_out_of_the_runs_outcome(
    sla_dag: Any, states: dict[str, str], failed: list[str]
) -> None:
    close: CloseMlflowRunsOperator = sla_dag.get_task("close_runs")
    context: Any = {"ti": _TaskStates(states), "dag_run": SimpleNamespace(dag_id=sla_dag.dag_id, run_id="r")}
    assert close._failed_tasks(context, sla_dag.dag_id, "r") == failed
