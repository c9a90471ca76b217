"""deploy/rollout.py without processes: which target a URI opens, and the plugin path on a scripted client."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_mlops.deploy.rollout import LocalTarget, PluginTarget, open_target
from airflow_mlops.errors import ConfigurationError


class ScriptedClient:
    """An MLflow deployments client that keeps one dict per deployment and records every call."""

    def __init__(self, answer: Any = None) -> None:
        self.deployments: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[Any, ...]] = []
        self.answer = answer if answer is not None else {"predictions": [1]}

    def get_deployment(self, name: str) -> dict[str, Any]:
        if name not in self.deployments:
            raise RuntimeError(f"no deployment {name}")  # plugins raise their own kind
        return self.deployments[name]

    def create_deployment(self, name: str, model_uri: str) -> dict[str, Any]:
        self.calls.append(("create", name, model_uri))
        self.deployments[name] = {"name": name, "model_uri": model_uri, "url": f"https://serving.example/{name}"}
        return self.deployments[name]

    def update_deployment(self, name: str, model_uri: str) -> dict[str, Any]:
        self.calls.append(("update", name, model_uri))
        self.deployments[name]["model_uri"] = model_uri
        return self.deployments[name]

    def delete_deployment(self, name: str) -> None:
        self.calls.append(("delete", name))
        del self.deployments[name]

    def predict(self, name: str, inputs: Any) -> Any:
        self.calls.append(("predict", name, inputs))
        return self.answer


def _plugin(client: ScriptedClient, monkeypatch: pytest.MonkeyPatch) -> PluginTarget:
    monkeypatch.setattr("mlflow.deployments.get_deploy_client", lambda uri: client)
    target = open_target("remote-example", startup_timeout=5, request_timeout=5)
    assert isinstance(target, PluginTarget)
    return target


def test_the_local_scheme_opens_local_endpoints_under_the_uri_path_or_the_setting(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = open_target(f"mlops-local:{tmp_path}", startup_timeout=7, request_timeout=3)
    assert isinstance(target, LocalTarget)
    assert str(target.endpoints.store.root) == str(tmp_path)
    assert (target.timeouts.startup, target.timeouts.request) == (7, 3)
    monkeypatch.setenv("AIRFLOW__MLOPS__ENDPOINTS_ROOT", str(tmp_path / "configured"))
    default = open_target("mlops-local", startup_timeout=1, request_timeout=1)
    assert isinstance(default, LocalTarget) and str(default.endpoints.store.root) == str(tmp_path / "configured")
    assert default.url("churn") is None  # no such endpoint yet


def test_a_plugin_target_creates_then_updates_and_rolls_back_by_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    client = ScriptedClient()
    target = _plugin(client, monkeypatch)
    target.deploy("churn", "models:/churn/1", canary_percent=None, reason="r")
    target.deploy("churn", "models:/churn/2", canary_percent=None, reason="r")
    assert client.calls == [("create", "churn", "models:/churn/1"), ("update", "churn", "models:/churn/2")]
    assert target.url("churn") == "https://serving.example/churn"
    assert target.rollback("churn", "models:/churn/1", "smoke") == "serves models:/churn/1 again"
    assert client.deployments["churn"]["model_uri"] == "models:/churn/1"
    assert target.rollback("churn", None, "smoke").startswith("deleted")
    assert client.deployments == {}


def test_a_plugin_target_refuses_a_canary(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="cannot split traffic"):
        _plugin(ScriptedClient(), monkeypatch).deploy("churn", "models:/churn/1", canary_percent=10, reason="r")


def test_probes_through_predict_count_answers_without_predictions_and_errors_as_failures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = json.dumps({"dataframe_split": {"columns": ["a"], "data": [[1.0]]}}).encode()
    ok = _plugin(ScriptedClient(), monkeypatch).probe("churn", body)
    assert ok.ok and ok.elapsed_ms >= 0
    empty = _plugin(ScriptedClient(answer={"error": "x"}), monkeypatch).probe("churn", body)
    assert not empty.ok and empty.error == "no predictions in the answer"
    broken = ScriptedClient()
    broken.predict = lambda name, inputs: (_ for _ in ()).throw(ConnectionError("refused"))  # type: ignore[method-assign]
    failed = _plugin(broken, monkeypatch).probe("churn", body)
    assert not failed.ok and failed.error == "ConnectionError: refused"


def test_an_unknown_plugin_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mlflow.deployments.get_deploy_client", lambda uri: None)
    with pytest.raises(ConfigurationError, match="no MLflow deployments plugin"):
        open_target("nowhere", startup_timeout=1, request_timeout=1)


class RecordingEndpoints:
    """LocalEndpoints' calls recorded against a fixed list of serving URIs (no process is started)."""

    def __init__(self, serving: list[str]) -> None:
        from types import SimpleNamespace

        self.calls: list[tuple[Any, ...]] = []
        state = SimpleNamespace(serving=[SimpleNamespace(model_uri=uri) for uri in serving]) if serving else None
        self.store = SimpleNamespace(load=lambda name: state)

    def deploy(self, name: str, model_uri: str, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("deploy", model_uri, kwargs.get("canary_percent")))
        return {}

    def settle(self, name: str, keep: str, reason: str = "") -> dict[str, Any]:
        self.calls.append(("settle", keep))
        return {}

    def get(self, name: str) -> dict[str, Any]:
        self.calls.append(("get",))
        return {}


@pytest.mark.parametrize(
    ("serving", "canary", "expected"),
    [
        ([], 10, [("deploy", "models:/m/2", None)]),  # a first version: all traffic, nothing to serve beside
        (["models:/m/1"], 10, [("deploy", "models:/m/2", 10)]),
        (["models:/m/1", "models:/m/2"], 10, [("get",)]),  # a retry finds its canary serving: nothing started
        (["models:/m/2"], 10, [("get",)]),  # ... or already settled
        (["models:/m/1", "models:/m/2"], None, [("settle", "new")]),  # now direct: the canary takes all traffic
        (["models:/m/2"], None, [("deploy", "models:/m/2", None)]),  # LocalEndpoints records it "unchanged"
    ],
)
def test_the_local_target_never_starts_a_second_server_for_a_version_it_serves(
    tmp_path: Any, serving: list[str], canary: int | None, expected: list[tuple[Any, ...]]
) -> None:
    target = open_target(f"mlops-local:{tmp_path}", startup_timeout=1, request_timeout=1)
    assert isinstance(target, LocalTarget)
    recording = RecordingEndpoints(serving)
    target.endpoints = recording  # type: ignore[assignment]
    target.deploy("churn", "models:/m/2", canary_percent=canary, reason="r")
    assert recording.calls == expected
