"""DeployModelOperator against a real MLflow registry (sqlite) and a scripted target: what it deploys,
what a breach rolls back, what it records, and what it refuses. Real endpoints: tests/integration."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_mlops.errors import ConfigurationError, DeploymentSmokeError, PromotionConflictError
from airflow_mlops.gates.smoke import Probe
from airflow_mlops.operators.deploy import DeployModelOperator, credential_env
from airflow_mlops.record import tag
from tests.unit.operators.conftest import MLFLOW_CONN, Stack, context

COLUMNS = ["a", "b"]


class ScriptedTarget:
    """A target that records each call and answers every probe in ``elapsed_ms``."""

    def __init__(self, elapsed_ms: float = 1.0) -> None:
        self.elapsed_ms = elapsed_ms
        self.calls: list[tuple[Any, ...]] = []

    def deploy(self, name: str, model_uri: str, *, canary_percent: int | None, reason: str) -> dict[str, Any]:
        self.calls.append(("deploy", name, model_uri, canary_percent))
        return {}

    def keep_new(self, name: str, reason: str) -> None:
        self.calls.append(("keep_new", name))

    def rollback(self, name: str, previous_uri: str | None, reason: str) -> str:
        self.calls.append(("rollback", name, previous_uri))
        return f"serves {previous_uri} again"

    def probe(self, name: str, body: bytes) -> Probe:
        assert json.loads(body)["dataframe_split"]["columns"] == COLUMNS  # the features, not the target
        self.calls.append(("probe",))
        return Probe(True, self.elapsed_ms)

    def url(self, name: str) -> str:
        return "http://127.0.0.1:1234"

    can_pin = True

    def predict_pinned(self, name: str, body: bytes, model_uri: str) -> tuple[Probe, list[Any] | None]:
        self.calls.append(("pinned", model_uri))
        return Probe(True, self.elapsed_ms), [0]

    def live_stats(self, name: str, model_uri: str, since: float) -> None:
        return None


@pytest.fixture
def registry(stack: Stack, tmp_path: Any) -> Iterator[dict[str, Any]]:
    """``model`` with v1 (@previous) and v2 (@champion, as promote left it), and a two-column test split."""
    import pandas as pd

    from airflow_mlops import artifacts

    model = f"deploy_{tmp_path.name[-12:].replace('-', '_')}"
    with stack.hook.session():
        client = stack.hook.get_client()
        client.create_registered_model(model)
        for _ in range(2):
            client.create_model_version(model, source=str(tmp_path))
        client.set_registered_model_alias(model, "champion", "2")
        client.set_registered_model_alias(model, "previous", "1")
    test_uri = artifacts.write_parquet(
        pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0], "y": [0, 1]}), f"file://{tmp_path}/test.parquet"
    )
    yield {"model": model, "stack": stack, "dataset": {"test_uri": test_uri, "target": "y"}}


def _run(registry: dict[str, Any], target: ScriptedTarget, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> Any:
    monkeypatch.setattr("airflow_mlops.deploy.rollout.open_target", lambda *a, **k: target)
    operator = DeployModelOperator(
        task_id="deploy",
        promotion={"model_name": registry["model"], "alias": "champion", "version": "2", "previous": "1"},
        dataset=registry["dataset"],
        endpoint="churn",
        smoke_requests=5,
        mlflow_conn_id=MLFLOW_CONN,
        **kwargs,
    )
    return operator.execute(context("dag", "run"))


def _state(registry: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    stack = registry["stack"]
    with stack.hook.session():
        client = stack.hook.get_client()
        found = client.get_registered_model(registry["model"])
        return {k: str(v) for k, v in found.aliases.items()}, dict(
            client.get_model_version(registry["model"], "2").tags
        )


def test_a_passing_smoke_check_keeps_the_new_version_and_records_it(
    registry: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = ScriptedTarget()
    result = _run(registry, target, monkeypatch, strategy="canary", canary_percent=20)
    model = registry["model"]
    assert target.calls[0] == ("deploy", "churn", f"models:/{model}/2", 20)  # the version, never the alias
    assert target.calls[1:] == [("probe",)] * 5 + [("keep_new", "churn")]
    assert result["decision"] == "deployed" and result["url"] == "http://127.0.0.1:1234"
    assert result["smoke"]["requests"] == 5 and result["smoke"]["decision"] == "pass"
    aliases, tags = _state(registry)
    assert aliases == {"champion": "2", "previous": "1"}
    assert tags[tag.DEPLOY_DECISION] == tag.DeployDecision.DEPLOYED and tags[tag.DEPLOY_ENDPOINT] == "churn"
    assert tags[tag.DEPLOY_TARGET] == "mlops-local" and tags[tag.DEPLOY_STRATEGY] == "canary"
    assert json.loads(tags[tag.DEPLOY_SMOKE])["requests"] == 5
    assert tags[tag.DEPLOY_BY] == "airflow:dag/run"


def test_a_breach_rolls_back_the_endpoint_and_the_alias_then_fails(
    registry: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = ScriptedTarget(elapsed_ms=40.0)
    with pytest.raises(DeploymentSmokeError) as failed:
        _run(registry, target, monkeypatch, max_p95_ms=0.001)
    model = registry["model"]
    message = str(failed.value)
    assert "endpoint 'churn'" in message and f"{model} v2" in message and "max_p95_ms 0.001 ms" in message
    assert "@champion back on v1" in message
    assert ("rollback", "churn", f"models:/{model}/1") in target.calls
    aliases, tags = _state(registry)
    assert aliases == {"champion": "1", "previous": "2"}
    assert tags[tag.DEPLOY_DECISION] == tag.DeployDecision.ROLLED_BACK
    stack = registry["stack"]
    with stack.hook.session():
        restored = stack.hook.get_client().get_model_version(model, "1").tags
    # the audit record of `airflow-mlops rollback`
    assert restored[tag.PROMOTION_ACTION] == "rollback" and restored[tag.PROMOTED_BY] == "airflow:dag/run"
    assert "max_p95_ms" in restored[tag.PROMOTION_REASON]


def test_fail_policy_fails_without_moving_anything(registry: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    target = ScriptedTarget(elapsed_ms=40.0)
    with pytest.raises(DeploymentSmokeError, match="keeps serving"):
        _run(registry, target, monkeypatch, max_p95_ms=0.001, on_smoke_failure="fail")
    assert not any(call[0] in ("rollback", "keep_new") for call in target.calls)
    aliases, tags = _state(registry)
    assert aliases == {"champion": "2", "previous": "1"} and tags[tag.DEPLOY_DECISION] == tag.DeployDecision.FAILED


def test_a_version_no_longer_champion_is_not_deployed(
    registry: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = registry["stack"]
    with stack.hook.session():
        stack.hook.get_client().set_registered_model_alias(registry["model"], "champion", "1")
    target = ScriptedTarget()
    with pytest.raises(PromotionConflictError, match="is v1, not v2"):
        _run(registry, target, monkeypatch)
    assert target.calls == []


def test_credentials_come_from_named_connection_fields_only() -> None:
    connection = SimpleNamespace(host="https://dbx.example", password="dapi-secret", login=None)
    mapping = {"DATABRICKS_HOST": "host", "DATABRICKS_TOKEN": "password", "DATABRICKS_USER": "login"}
    assert credential_env("dbx", mapping, connection) == {
        "DATABRICKS_HOST": "https://dbx.example",
        "DATABRICKS_TOKEN": "dapi-secret",
    }
    with pytest.raises(ConfigurationError, match="name one of"):
        credential_env("dbx", {"X": "extra"}, connection)
    with pytest.raises(ConfigurationError, match="no extra 'env'"):
        credential_env("dbx", None, connection)


def test_a_kserve_canary_that_breaks_its_smoke_check_is_pinned_back_with_credentials_from_a_connection(
    stack: Stack, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deploy step on mlops-kserve, against the emulated Kubernetes API of tests/fake_kubernetes.py."""
    import os

    import pandas as pd

    from airflow_mlops import artifacts
    from airflow_mlops.deploy.rollout import open_target
    from airflow_mlops.hooks.mlflow import temporary_env
    from tests.fake_kubernetes import FakeKube, constant

    model = f"kserve_{tmp_path.name[-12:].replace('-', '_')}"
    old, new = f"s3://models/{model}/1", f"s3://models/{model}/2"
    with stack.hook.session():
        client = stack.hook.get_client()
        client.create_registered_model(model)
        for source in (old, new):
            client.create_model_version(model, source=source)
        client.set_registered_model_alias(model, "champion", "2")
        client.set_registered_model_alias(model, "previous", "1")
    test_uri = artifacts.write_parquet(
        pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0], "y": [0, 1]}), f"file://{tmp_path}/test.parquet"
    )

    def crashing(columns: dict[str, list[Any]]) -> list[Any]:
        raise ValueError("the new model crashes")

    fake = FakeKube()
    fake.models = {old: constant(0.0), new: crashing}
    with fake.running():
        credentials = {"MLOPS_KSERVE_HOST": "host", "MLOPS_KSERVE_TOKEN": "password"}
        connection = {"conn_type": "generic", "host": fake.url, "password": fake.token, "extra": {"env": credentials}}
        monkeypatch.setenv("AIRFLOW_CONN_KUBE_DEPLOY", json.dumps(connection))
        with temporary_env({"MLOPS_KSERVE_HOST": fake.url, "MLOPS_KSERVE_TOKEN": fake.token}), stack.hook.session():
            open_target("mlops-kserve:/ml", startup_timeout=10, request_timeout=5).deploy(
                "churn", f"models:/{model}/1", canary_percent=None, reason="an earlier run"
            )
        operator = DeployModelOperator(
            task_id="deploy",
            promotion={"model_name": model, "alias": "champion", "version": "2", "previous": "1"},
            dataset={"test_uri": test_uri, "target": "y"},
            target="mlops-kserve:/ml",
            endpoint="churn",
            target_conn_id="kube_deploy",
            strategy="canary",
            canary_percent=50,
            smoke_requests=4,
            startup_timeout_seconds=10,
            mlflow_conn_id=MLFLOW_CONN,
        )
        with pytest.raises(DeploymentSmokeError) as failed:
            operator.execute(context("dag", "run"))
    assert "MLOPS_KSERVE_HOST" not in os.environ  # the credentials were set only while the task talked to the API
    assert f"serves models:/{model}/1 again (canaryTrafficPercent 0)" in str(failed.value)
    assert "@champion back on v1" in str(failed.value)
    assert (
        fake.spec("ml", "churn")["canaryTrafficPercent"] == 0 and fake.spec("ml", "churn")["model"]["storageUri"] == new
    )
    assert fake.answers[old] == 2  # (53 n mod 100) < 50 sends requests 0 and 2 of 4 to the canary, which fails them
    with stack.hook.session():
        client = stack.hook.get_client()
        assert {k: str(v) for k, v in client.get_registered_model(model).aliases.items()}["champion"] == "1"
        tags = client.get_model_version(model, "2").tags
    assert tags[tag.DEPLOY_DECISION] == tag.DeployDecision.ROLLED_BACK and tags[tag.DEPLOY_TARGET] == "mlops-kserve:/ml"
    assert tags[tag.DEPLOY_URL] == f"{fake.url}/serve/ml/churn"


class RefusingTarget(ScriptedTarget):
    """A target whose rollout fails: permanently (a refused model) or transiently (a server slow to start)."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def deploy(self, name: str, model_uri: str, *, canary_percent: int | None, reason: str) -> dict[str, Any]:
        raise self.error


def test_a_failed_rollout_with_no_retry_left_puts_the_champion_back_and_records_the_error(
    registry: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_mlops.errors import TransientError

    # A try that will be retried changes nothing: the retry deploys the same version.
    with pytest.raises(TransientError):
        _run(registry, RefusingTarget(TransientError("no /ping in 120 s")), monkeypatch, retries=2)
    aliases, tags = _state(registry)
    assert aliases == {"champion": "2", "previous": "1"} and tag.DEPLOY_DECISION not in tags

    with pytest.raises(ConfigurationError, match="refused"):
        _run(registry, RefusingTarget(ConfigurationError("the target refused the model")), monkeypatch, retries=2)
    aliases, tags = _state(registry)
    assert aliases == {"champion": "1", "previous": "2"}  # through rollback's compare-and-set and audit
    assert tags[tag.DEPLOY_DECISION] == tag.DeployDecision.ROLLED_BACK
    assert tags[tag.DEPLOY_ERROR] == "ConfigurationError: the target refused the model"
    assert json.loads(tags[tag.DEPLOY_ROLLBACK])["alias"] == "@champion back on v1"
    assert tags[tag.DEPLOY_SUMMARY].startswith("rollout failed: ConfigurationError")


def test_a_failed_rollout_under_the_fail_policy_leaves_the_champion(
    registry: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError):
        _run(registry, RefusingTarget(ConfigurationError("refused")), monkeypatch, on_rollout_failure="fail")
    aliases, tags = _state(registry)
    assert aliases == {"champion": "2", "previous": "1"}
    assert (
        tags[tag.DEPLOY_DECISION] == tag.DeployDecision.FAILED
        and tags[tag.DEPLOY_ERROR] == "ConfigurationError: refused"
    )
    assert not tags.get(tag.DEPLOY_ROLLBACK)
