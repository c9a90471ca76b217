"""The retraining SLA for real: a late run fires Airflow's deadline alert, an old champion its alert.

One deployment, one pipeline with ``sla:`` (a one-minute deadline after the logical date, a
30-day champion limit, a file notifier), and Airflow's real scheduler and triggerer beside it:

- a DAG run is triggered with a logical date an hour ago, so its deadline has passed when it is
  created; the DAG stays paused, so no task runs and only the deadline machinery acts: the
  scheduler records the miss, the triggerer awaits ``airflow_mlops.alerts.run_deadline_missed``,
  which counts it over StatsD and tells the notifier;
- the registry holds a champion promoted 40 days ago, and ``check_champion_age`` runs under
  ``dag.test()`` with every other task marked done (the retraining itself is tested elsewhere):
  it sends the champion's age and the SLA metrics and tells the notifier.

Metrics go through Airflow's StatsD backend to a real UDP socket (tests/statsd_capture.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from airflow_mlops.record import tag
from tests.integration.harness import PipelineEnv, free_port
from tests.statsd_capture import StatsdListener

pytestmark = pytest.mark.integration

DAG_ID = "sla_late"
MODEL = "sla_model"
USER_CODE = Path(__file__).resolve().parents[1] / "fixtures" / "user_code"

# Serializes the DAG (with its deadline alert), triggers a run whose deadline has already passed,
# then runs check_champion_age alone through dag.test() (the other tasks are marked done). One
# process, so Airflow and the pipeline are imported once.
_SETUP = """
import sys
from argparse import Namespace
from datetime import datetime, timedelta, timezone

from airflow.api.common.trigger_dag import trigger_dag
from airflow.cli.commands.dag_command import dag_reserialize
from airflow.utils.types import DagRunTriggeredByType

dag_id = sys.argv[1]
dag_reserialize(Namespace(bundle_name=None))
an_hour_ago = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
late = trigger_dag(dag_id, triggered_by=DagRunTriggeredByType.TEST, logical_date=an_hour_ago, run_after=an_hour_ago)
print("LATE_RUN", late.run_id, flush=True)

from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.configuration import conf

dag = DagBag(dag_folder=conf.get("core", "dags_folder")).get_dag(dag_id)
dag.deadline = None  # dag.test() in Airflow 3.3.2 crashes on a deadline (see demo/run_dag.py)
run = dag.test(mark_success_pattern=r"(?!check_champion_age$).*")
ti = run.get_task_instance("check_champion_age")
print("CHECK_STATE", ti.state if ti is not None else None, flush=True)
"""


def _old_champion(env: PipelineEnv, promoted: datetime) -> str:
    client = env.client()
    client.create_registered_model(MODEL)
    source = env.root / "model-source"
    source.mkdir()
    version = client.create_model_version(MODEL, source=str(source))
    client.set_registered_model_alias(MODEL, "champion", version.version)
    client.set_model_version_tag(MODEL, version.version, tag.PROMOTED_AT, promoted.isoformat())
    return str(version.version)


def _stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group (its executor's workers too), SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, sig)
        try:
            server.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_for(predicate: Any, timeout: float, what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    tails = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs if log.exists())
    raise AssertionError(f"{what} within {timeout:.0f} s\n{tails}")


@pytest.fixture(scope="module")
def sla_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("sla")
    env = PipelineEnv(root)
    udp = StatsdListener()
    env.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(USER_CODE), env.env.get("PYTHONPATH")]))
    env.env["AIRFLOW__MLOPS__ALLOWED_IMPORT_PREFIXES"] = "sklearn.,acme_ml."
    # One Fernet key for every process. Without it the scheduler and the triggerer, started together in a
    # home with no airflow.cfg yet, can each make their own config: one then writes a trigger's kwargs
    # encrypted and the other reads them with an empty key (JSONDecodeError, the trigger runner dies).
    env.env.update(
        {
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(udp.port),
        }
    )
    alerts = root / "alerts.jsonl"
    notifier = {
        "notifier": "acme_ml.notify.FileNotifier",
        "params": {"path": str(alerts), "message": "{{ mlops_alert.kind }}: {{ mlops_alert.message }}"},
    }
    env.write_pipeline(
        DAG_ID,
        registry={"model_name": MODEL},
        sla={
            "max_champion_age_days": 30,
            "run_deadline": {"minutes": 1, "after": "logical_date"},
            "notify": [notifier],
        },
    )
    promoted = datetime.now(UTC) - timedelta(days=40)
    version = _old_champion(env, promoted)

    airflow = str(Path(sys.executable).with_name("airflow"))
    logs = [root / "scheduler.log", root / "triggerer.log", root / "setup.log"]
    # No task of the paused DAG runs, so no api-server: the execution API points at a closed port.
    server_env = {
        **env.env,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{free_port()}/execution/",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
    }
    servers = [
        subprocess.Popen(
            [airflow, name, "--skip-serve-logs"],
            env=server_env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            cwd=root,
            start_new_session=True,
        )
        for name, log in zip(("scheduler", "triggerer"), logs, strict=False)
    ]
    # The scheduler and triggerer send their own metrics all the time: read the socket while they
    # run, or its buffer fills and later packets (ours) are dropped.
    stop_reading = threading.Event()
    reader = threading.Thread(target=lambda: [udp.samples() for _ in iter(stop_reading.is_set, True)], daemon=True)
    reader.start()
    try:
        with logs[2].open("wb") as out:
            code = subprocess.call(
                [sys.executable, "-c", _SETUP, DAG_ID], env=env.env, stdout=out, stderr=subprocess.STDOUT, cwd=root
            )
        setup = logs[2].read_text()
        assert code == 0, setup[-6000:]

        def lines() -> list[dict[str, Any]]:
            return [json.loads(line) for line in alerts.read_text().splitlines()] if alerts.exists() else []

        _wait_for(
            lambda: any(a["message"].startswith("run_deadline_missed") for a in lines()),
            120,
            "the deadline alert reached no notifier",
            logs,
        )
    finally:
        for server in servers:
            _stop(server)
        stop_reading.set()
        reader.join()
        samples = udp.samples()
        udp.close()
    return {"setup": setup, "alerts": lines(), "samples": samples, "version": version, "promoted": promoted}


def _named(run: dict[str, Any], name: str) -> list[float]:
    return [s.value for s in run["samples"] if s.name == name]


def test_a_late_run_fires_the_deadline_callback_in_the_triggerer(sla_run: dict[str, Any]) -> None:
    (late_run,) = [line.split()[1] for line in sla_run["setup"].splitlines() if line.startswith("LATE_RUN ")]
    (alert,) = [a for a in sla_run["alerts"] if a["message"].startswith("run_deadline_missed")]
    assert alert["message"].startswith(
        f"run_deadline_missed: DAG run {late_run} of {DAG_ID} had not ended 1 minutes after its logical date"
    )
    assert _named(sla_run, f"airflow.mlops.sla.run_deadline_missed.{DAG_ID}") == [1.0]
    # Airflow's own count of the miss, sent by the scheduler
    assert any(s.name.startswith("airflow.deadline_alerts.deadline_missed") for s in sla_run["samples"])


def test_an_old_champion_raises_the_sla_metric_and_alert(sla_run: dict[str, Any]) -> None:
    assert "CHECK_STATE success" in sla_run["setup"]
    assert _named(sla_run, f"airflow.mlops.sla.champion_too_old.{MODEL}") == [1.0]
    assert _named(sla_run, f"airflow.mlops.sla.champion_age_limit_seconds.{MODEL}") == [30 * 86_400.0]
    (age,) = _named(sla_run, f"airflow.mlops.champion.age_seconds.{MODEL}")
    assert age == pytest.approx(40 * 86_400, abs=600)
    (alert,) = [a for a in sla_run["alerts"] if a["message"].startswith("champion_too_old")]
    assert f"champion of {MODEL} (version {sla_run['version']}) took the alias 40.0 days ago" in alert["message"]
    assert "older than the SLA of 30 days" in alert["message"]
