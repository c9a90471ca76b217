"""User code in a pipeline, end to end: a training function, a custom transformer, notifiers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from airflow_mlops.demo.datasets import data_versions, to_csv_bytes
from tests.integration.harness import PipelineEnv

USER_CODE = Path(__file__).resolve().parents[1] / "fixtures" / "user_code"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> PipelineEnv:
    env = PipelineEnv(tmp_path_factory.mktemp("custom"))
    env.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(USER_CODE), env.env.get("PYTHONPATH")]))
    env.env["AIRFLOW__MLOPS__ALLOWED_IMPORT_PREFIXES"] = "sklearn.,acme_ml."
    v1, _ = data_versions()
    env.commit_data(to_csv_bytes(v1), "v1", "data-v1")
    return env


def _notifications(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_user_trainer_and_transformer_train_and_register(deployment: PipelineEnv) -> None:
    inbox = deployment.root / "inbox.jsonl"
    notifier = {
        "notifier": "acme_ml.notify.FileNotifier",
        "params": {"path": str(inbox), "message": "{{ dag.dag_id }}"},
    }
    deployment.write_pipeline(
        "custom_ok",
        registry={"model_name": "custom_model"},
        models=[
            {"name": "mine", "trainer": "acme_ml.training:train_scaled_logreg", "params": {"C": 0.5}},
            {
                "name": "clipped",
                "estimator": "sklearn.linear_model.LogisticRegression",
                "params": {"max_iter": 5000},
                "preprocessing": {
                    "steps": [{"transformer": "acme_ml.features.ClipExtremes", "params": {"margin": 0.1}}]
                },
            },
        ],
        notifications={
            "on_success": [notifier],
            "on_failure": [{**notifier, "params": {"path": str(inbox) + ".fail"}}],
        },
    )
    outcome = deployment.run("custom_ok")
    assert outcome["state"] == "success", outcome["log"][-3000:]
    assert outcome["tasks"]["train[mine]"] == "success" and outcome["tasks"]["train[clipped]"] == "success"
    version = deployment.client().get_model_version_by_alias("custom_model", "champion")
    assert version.tags["mlops.training.estimator"] in ("trainer:acme_ml.training:train_scaled_logreg",
                                                       "sklearn.linear_model.LogisticRegression")  # fmt: skip
    delivered = _notifications(inbox)
    assert delivered == [
        {"dag_id": "custom_ok", "run_id": outcome["run_id"], "state": "success", "message": "custom_ok"}
    ]
    assert not Path(str(inbox) + ".fail").exists()


def test_failure_notifier_hears_about_a_failed_run(deployment: PipelineEnv) -> None:
    inbox = deployment.root / "failures.jsonl"
    deployment.write_pipeline(
        "custom_broken",
        registry={"model_name": "custom_broken_model"},
        models=[{"name": "bad", "trainer": "acme_ml.training:not_a_model"}],
        # The training task itself must fail here; under the default (drop) the gate would fail instead.
        candidates={"on_failure": "fail"},
        notifications={"on_failure": [{"notifier": "acme_ml.notify.FileNotifier", "params": {"path": str(inbox)}}]},
    )
    outcome = deployment.run("custom_broken")
    assert outcome["state"] == "failed"
    assert outcome["tasks"]["train[bad]"] == "failed"
    assert "returned dict, which has no predict()" in outcome["log"]
    delivered = _notifications(inbox)
    assert [(d["dag_id"], d["run_id"], d["state"]) for d in delivered] == [
        ("custom_broken", outcome["run_id"], "failed")
    ]
