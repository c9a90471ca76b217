"""The ``mlops-kserve`` target against a MOCKED Kubernetes API (tests/fake_kubernetes.py: an HTTP server
in a thread emulating the API server, KServe's controller and the predictor), through the real
``kubernetes`` client, MLflow's ``get_deploy_client`` and a real sqlite MLflow registry.

No Kubernetes cluster runs here; what KServe itself does with the objects is emulated, not tested.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_mlops.errors import ConfigurationError, NotFoundError, TransientError
from tests.fake_kubernetes import FakeKube, constant

NS = "ml"
TARGET = f"mlops-kserve:/{NS}"
V1, V2, V3 = "s3://models/churn/1", "s3://models/churn/2", "s3://models/churn/3"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``churn`` v1-v3 with files on s3:// (@champion on v1), ``local_only`` v1 with files on this machine."""
    from mlflow import MlflowClient
    from mlflow.deployments import interface

    root = tmp_path_factory.mktemp("kserve-registry")
    uri = f"sqlite:///{root}/mlflow.db"
    client = MlflowClient(uri, uri)
    client.create_registered_model("churn")
    for source in (V1, V2, V3):
        client.create_model_version("churn", source=source)
    client.set_registered_model_alias("churn", "champion", "1")
    client.create_registered_model("local_only")
    client.create_model_version("local_only", source=str(root / "model"))
    if "mlops-kserve" not in interface.plugin_store.registry:  # the entry point, before a reinstall adds it
        interface.plugin_store.register("mlops-kserve", "airflow_mlops.deploy.kserve_plugin")
    yield uri


@pytest.fixture
def kube(registry: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKube]:
    fake = FakeKube()
    fake.models = {V1: constant(1.0), V2: constant(2.0), V3: constant(3.0)}
    with fake.running():
        monkeypatch.setenv("MLFLOW_TRACKING_URI", registry)
        monkeypatch.setenv("MLFLOW_REGISTRY_URI", registry)
        monkeypatch.setenv("MLOPS_KSERVE_HOST", fake.url)
        monkeypatch.setenv("MLOPS_KSERVE_TOKEN", fake.token)
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        yield fake


def _client(target: str = TARGET) -> Any:
    from mlflow.deployments import get_deploy_client

    return get_deploy_client(target)


def _frame(rows: int = 1) -> Any:
    import pandas as pd

    return pd.DataFrame({"age": [41] * rows, "income": [52_000.5] * rows, "plan": ["gold"] * rows})


def _answered(client: Any, requests: int) -> list[float]:
    return [client.predict("churn", _frame())["predictions"][0] for _ in range(requests)]


def test_the_package_declares_the_plugin_and_mlflow_accepts_the_module(registry: str) -> None:
    from mlflow.deployments import interface

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["mlflow.deployments"]
    assert declared["mlops-kserve"] == "airflow_mlops.deploy.kserve_plugin"
    module = interface.plugin_store["mlops-kserve:/ml"]  # MLflow checks run_local, target_help, one client class
    assert "InferenceService" in module.target_help()


def test_create_waits_until_ready_then_predicts_through_the_v2_protocol(kube: FakeKube) -> None:
    client = _client()
    created = client.create_deployment("churn", "models:/churn@champion", config={"reason": "first"})
    assert created["ready"] and created["model_uri"] == "models:/churn/1"  # the alias, resolved once
    assert created["storage_uri"] == V1 and created["url"] == f"{kube.url}/serve/{NS}/churn"
    assert kube.api_calls("GET") >= 3  # it waited: a stale status, a revision starting, then ready
    predictor = kube.spec(NS, "churn")
    assert predictor == {"model": {"modelFormat": {"name": "mlflow"}, "protocolVersion": "v2", "storageUri": V1}}
    annotations = kube.objects[(NS, "churn")]["metadata"]["annotations"]
    assert annotations["airflow-mlops/model-uri"] == "models:/churn/1"
    assert annotations["airflow-mlops/reason"] == "first"
    assert client.predict("churn", _frame(3))["predictions"] == [1.0, 1.0, 1.0]
    split = {"dataframe_split": {"columns": ["age", "plan"], "data": [[1, "a"], [2, "b"]]}}
    assert client.predict("churn", split)["predictions"] == [1.0, 1.0]
    assert [d["name"] for d in client.list_deployments()] == ["churn"]
    assert client.get_deployment("churn")["serving"] == [{"model_uri": "models:/churn/1", "percent": 100}]
    with pytest.raises(Exception, match="already exists"):
        client.create_deployment("churn", "models:/churn/2")


def test_a_canary_gets_its_share_then_promotion_gives_it_all_traffic(kube: FakeKube) -> None:
    client = _client()
    client.create_deployment("churn", "models:/churn/1")
    canary = client.update_deployment("churn", "models:/churn/2", config={"canary_percent": 10})
    assert kube.spec(NS, "churn")["canaryTrafficPercent"] == 10
    assert canary["serving"] == [
        {"model_uri": "models:/churn/1", "percent": 90},
        {"model_uri": "models:/churn/2", "percent": 10},
    ]
    assert [(t["percent"], t["latestRevision"]) for t in canary["traffic"]] == [(10, True), (90, False)]
    answers = _answered(client, 100)
    assert answers.count(2.0) == 10 and answers.count(1.0) == 90
    revisions = kube.api_calls("PATCH")
    promoted = client.update_deployment("churn", config={"canary_percent": 100})
    assert "canaryTrafficPercent" not in kube.spec(NS, "churn")  # removed, as KServe documents promotion
    assert promoted["serving"] == [{"model_uri": "models:/churn/2", "percent": 100}]
    assert len(kube.revisions[(NS, "churn")]) == 2  # promotion starts no revision
    assert kube.api_calls("PATCH") == revisions + 1
    assert set(_answered(client, 10)) == {2.0}


def test_rolling_a_canary_back_pins_all_traffic_to_the_revision_rolled_out_before(kube: FakeKube) -> None:
    client = _client()
    client.create_deployment("churn", "models:/churn/1")
    client.update_deployment("churn", "models:/churn/2", config={"canary_percent": 30})
    assert set(_answered(client, 10)) == {1.0, 2.0}
    back = client.update_deployment("churn", config={"canary_percent": 0})
    assert kube.spec(NS, "churn")["canaryTrafficPercent"] == 0
    assert back["serving"] == [{"model_uri": "models:/churn/1", "percent": 100}]
    assert set(_answered(client, 20)) == {1.0}
    with pytest.raises(Exception, match="give a model_uri to serve"):
        client.update_deployment("churn")


def test_delete_then_reads_name_the_namespace_the_service_and_the_api(kube: FakeKube) -> None:
    client = _client()
    client.create_deployment("churn", "models:/churn/1")
    client.delete_deployment("churn")
    assert kube.objects == {}
    with pytest.raises(NotFoundError) as missing:
        client.get_deployment("churn")
    assert f"InferenceService {NS}/churn" in str(missing.value) and kube.url in str(missing.value)
    client.delete_deployment("churn")  # nothing left to delete: not an error
    assert client.list_deployments() == []


def test_a_revision_that_never_gets_ready_times_out_and_the_old_one_keeps_serving(kube: FakeKube) -> None:
    client = _client()
    client.create_deployment("churn", "models:/churn/1")
    kube.broken.add(V2)
    with pytest.raises(TransientError) as waited:
        client.update_deployment("churn", "models:/churn/2", config={"startup_timeout": 0.5})
    message = str(waited.value)
    assert f"InferenceService {NS}/churn at the Kubernetes API {kube.url}" in message
    assert "after 0.5 s" in message and "RevisionFailed" in message and "storage-initializer" in message
    assert set(_answered(client, 5)) == {1.0}  # KServe routes to ready revisions only
    annotations = kube.objects[(NS, "churn")]["metadata"]["annotations"]
    assert annotations["airflow-mlops/rolled-out-model-uri"] == "models:/churn/1"  # not the failed one


def test_the_api_refusing_the_credentials_is_a_configuration_error_naming_the_api_and_where_they_came_from(
    kube: FakeKube, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_KSERVE_TOKEN", "expired")
    with pytest.raises(ConfigurationError) as unauthorized:
        _client().create_deployment("churn", "models:/churn/1")
    message = str(unauthorized.value)
    assert "401 Unauthorized" in message and kube.url in message and "$MLOPS_KSERVE_TOKEN" in message
    assert repr(TARGET) in message and "expired" not in message  # the credential's name, never its value
    monkeypatch.setenv("MLOPS_KSERVE_TOKEN", kube.token)
    kube.forbidden.add(NS)
    with pytest.raises(ConfigurationError) as forbidden:
        _client().get_deployment("churn")
    assert "403 Forbidden" in str(forbidden.value) and f'namespace "{NS}"' in str(forbidden.value)
    assert "inferenceservices.serving.kserve.io" in str(forbidden.value)


def test_an_api_that_does_not_answer_is_a_transient_error_naming_it(
    kube: FakeKube, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_mlops.hooks.model_server import free_loopback_port

    silent = f"http://127.0.0.1:{free_loopback_port()}"  # nothing listens there
    monkeypatch.setenv("MLOPS_KSERVE_HOST", silent)
    with pytest.raises(TransientError) as down:
        _client().get_deployment("churn")
    assert f"InferenceService {NS}/churn at the Kubernetes API {silent}" in str(down.value)
    assert "did not answer" in str(down.value)


def test_files_only_this_machine_can_read_are_refused_before_any_call(kube: FakeKube) -> None:
    with pytest.raises(ConfigurationError) as refused:
        _client().create_deployment("churn", "models:/local_only/1")
    message = str(refused.value)
    assert "local_only v1 cannot be served by KServe" in message and "a path on this machine" in message
    assert "s3://" in message and kube.calls == []
    with pytest.raises(ConfigurationError, match="not 'runs:/abc/model'"):
        _client().create_deployment("churn", "runs:/abc/model")


def test_a_kubeconfig_gives_the_server_the_token_and_the_context_namespace(
    kube: FakeKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": kube.url}}],
        "users": [{"name": "deployer", "user": {"token": kube.token}}],
        "contexts": [
            {"name": "other", "context": {"cluster": "fake", "user": "deployer", "namespace": "elsewhere"}},
            {"name": "team", "context": {"cluster": "fake", "user": "deployer", "namespace": "team-a"}},
        ],
        "current-context": "other",
    }
    (tmp_path / "config").write_text(yaml.safe_dump(kubeconfig))
    monkeypatch.delenv("MLOPS_KSERVE_HOST")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "config"))
    _client("mlops-kserve:?context=team").create_deployment("churn", "models:/churn/1")
    assert list(kube.objects) == [("team-a", "churn")]
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    with pytest.raises(ConfigurationError, match="no Kubernetes credentials"):
        _client().get_deployment("churn")


def test_predictions_through_an_ingress_carry_the_services_host_name(
    registry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeKube(ingress=True)
    fake.models = {V1: constant(1.0)}
    with fake.running():
        for name, value in {"MLFLOW_TRACKING_URI": registry, "MLFLOW_REGISTRY_URI": registry,
                            "MLOPS_KSERVE_HOST": fake.url, "MLOPS_KSERVE_TOKEN": fake.token}.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        client = _client(f"{TARGET}?ingress_url={fake.url}&request_timeout=5")
        created = client.create_deployment("churn", "models:/churn/1")
        assert created["url"] == f"http://churn.{NS}.example.com"  # not resolvable: only the ingress is
        assert client.predict("churn", _frame(2))["predictions"] == [1.0, 1.0]


@pytest.mark.parametrize(
    ("target", "config", "message"),
    [
        ("mlops-kserve:/Bad_NS", None, "is not a Kubernetes namespace name"),
        ("mlops-kserve:/ml?token=x", None, "unknown settings \\['token'\\]"),
        ("mlops-kserve:/ml?startup_timeout=soon", None, "a number of seconds"),
        (TARGET, {"password": "x"}, "unknown config keys \\['password'\\]"),
    ],
)
def test_a_malformed_target_or_config_is_refused_before_any_call(
    kube: FakeKube, target: str, config: dict[str, Any] | None, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        _client(target).create_deployment("churn", "models:/churn/1", config=config)
    assert kube.calls == []


# --- through the rollout target the deploy step uses ----------------------------------------------------


def _body(rows: int = 1) -> bytes:
    from airflow_mlops.ml.serving_requests import frame_body

    return frame_body(_frame(rows))


def test_the_rollout_target_runs_a_canary_keeps_it_and_rolls_back_the_kserve_way(kube: FakeKube) -> None:
    from airflow_mlops.deploy.rollout import KServeTarget, open_target

    target = open_target(TARGET, startup_timeout=5, request_timeout=5)
    assert isinstance(target, KServeTarget)
    target.deploy("churn", "models:/churn/1", canary_percent=10, reason="r")  # a first version takes all traffic
    assert "canaryTrafficPercent" not in kube.spec(NS, "churn")
    target.deploy("churn", "models:/churn/2", canary_percent=20, reason="r")
    assert kube.spec(NS, "churn")["canaryTrafficPercent"] == 20
    patches = kube.api_calls("PATCH")
    target.deploy("churn", "models:/churn/2", canary_percent=20, reason="a retry")
    assert kube.api_calls("PATCH") == patches  # a retry finds its canary: nothing sent
    probes = [target.probe("churn", _body()) for _ in range(10)]
    # the fake's split: request n goes to the canary when (53 n mod 100) < 20, i.e. n = 0, 2, 4, 6 of the first 10
    assert all(p.ok for p in probes) and kube.answers[V2] == 4 and kube.answers[V1] == 6
    target.keep_new("churn", "smoke passed")
    assert "canaryTrafficPercent" not in kube.spec(NS, "churn")
    assert target.url("churn") == f"{kube.url}/serve/{NS}/churn"

    target.deploy("churn", "models:/churn/3", canary_percent=50, reason="r")
    said = target.rollback("churn", "models:/churn/2", "smoke failed")
    assert said == "serves models:/churn/2 again (canaryTrafficPercent 0)"
    assert kube.spec(NS, "churn")["canaryTrafficPercent"] == 0
    assert {target.probe("churn", _body()).ok for _ in range(4)} == {True} and kube.answers[V3] <= 2

    target.deploy("churn", "models:/churn/3", canary_percent=None, reason="direct now")  # promotes the pinned one
    assert "canaryTrafficPercent" not in kube.spec(NS, "churn") and len(kube.revisions[(NS, "churn")]) == 3
    assert target.rollback("churn", "models:/churn/2", "smoke failed") == "serves models:/churn/2 again"
    assert kube.spec(NS, "churn")["model"]["storageUri"] == V2  # a direct rollout: the previous files again
    assert target.rollback("churn", None, "first version failed").startswith("deleted")
    assert kube.objects == {}
    assert target.rollback("churn", None, "again") == "no InferenceService to roll back"


def test_a_probe_counts_an_error_answer_as_a_failure(kube: FakeKube) -> None:
    from airflow_mlops.deploy.rollout import open_target

    def broken(columns: dict[str, list[Any]]) -> list[Any]:
        raise ValueError("model crashed")

    kube.models[V1] = broken
    target = open_target(TARGET, startup_timeout=5, request_timeout=5)
    target.deploy("churn", "models:/churn/1", canary_percent=None, reason="r")
    probe = target.probe("churn", _body())
    assert not probe.ok and probe.error is not None and "HTTP 500" in probe.error and "model crashed" in probe.error
    assert json.loads(json.dumps(probe.elapsed_ms)) >= 0
