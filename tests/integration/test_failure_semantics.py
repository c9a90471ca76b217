"""Deterministic errors run exactly one try, transient ones are retried with Airflow's backoff.

Both pipelines allow two retries. A ValueError that scikit-learn raises inside a user's trainer
(a bug that no retry fixes) fails ``train`` on its first try; an MLflow that is not there (a closed
port) fails ``validate_data`` on every try, each within seconds, and Airflow spends all three.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from airflow_mlops.demo.datasets import data_versions, to_csv_bytes
from tests.integration.harness import PipelineEnv

pytestmark = pytest.mark.integration

USER_CODE = Path(__file__).resolve().parents[1] / "fixtures" / "user_code"
RETRIES = {"retries": 2, "delay_seconds": 1, "backoff_multiplier": 1, "max_delay_seconds": 2}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> PipelineEnv:
    env = PipelineEnv(tmp_path_factory.mktemp("failure-semantics"))
    env.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(USER_CODE), env.env.get("PYTHONPATH")]))
    env.env["AIRFLOW__MLOPS__ALLOWED_IMPORT_PREFIXES"] = "sklearn.,acme_ml."
    env.env["AIRFLOW_CONN_MLFLOW_DOWN"] = json.dumps(
        {"conn_type": "mlflow", "extra": {"tracking_uri": f"http://127.0.0.1:{_closed_port()}"}}
    )
    v1, _ = data_versions()
    env.commit_data(to_csv_bytes(v1), "v1", "data-v1")
    return env


def test_a_library_value_error_in_training_runs_exactly_one_try(deployment: PipelineEnv) -> None:
    deployment.write_pipeline(
        "bc_one_try",
        retries=RETRIES,
        candidates={"on_failure": "fail"},
        models=[{"name": "buggy", "trainer": "acme_ml.training:train_on_one_class"}],
    )
    outcome = deployment.run("bc_one_try")
    assert outcome["state"] == "failed", outcome["log"][-3000:]
    assert outcome["tasks"]["train[buggy]"] == "failed"
    assert outcome["tries"]["train[buggy]"] == 1, outcome["tries"]
    assert "LibraryError" in outcome["log"] and "mlflow_conn_id='mlflow_default'" in outcome["log"]


def test_an_unreachable_tracking_server_is_retried_and_named(deployment: PipelineEnv) -> None:
    deployment.write_pipeline("bc_mlflow_down", retries=RETRIES, mlflow_conn_id="mlflow_down")
    outcome = deployment.run("bc_mlflow_down")
    assert outcome["state"] == "failed", outcome["log"][-3000:]
    assert outcome["tasks"]["resolve_data"] == "success"
    assert outcome["tasks"]["validate_data"] == "failed"
    assert outcome["tries"]["validate_data"] == 3, outcome["tries"]  # the first try and both retries
    assert "(connection 'mlflow_down') is not reachable" in outcome["log"]
    assert outcome["log"].count("TransientError") >= 3
