"""The pipeline against a real `mlflow server` over HTTP, as in production.

The sqlite store used elsewhere runs in-process; this proves the same tasks work through the
REST API with proxied artifacts (mlflow-artifacts:/ URIs), and that links point at the server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_mlops.demo.datasets import data_versions, to_csv_bytes
from tests.integration.harness import MlflowServer, PipelineEnv


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    srv = MlflowServer(tmp_path_factory.mktemp("mlflow-server")).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_pipeline_registers_and_promotes_through_the_server(tmp_path: Path, server: MlflowServer) -> None:
    env = PipelineEnv(tmp_path)
    env.env["AIRFLOW_CONN_MLFLOW_DEFAULT"] = json.dumps({"conn_type": "mlflow", "host": server.url})
    env.tracking_uri = server.url
    v1, _ = data_versions()
    env.commit_data(to_csv_bytes(v1), "v1", "data-v1")
    env.write_pipeline("bc_server", registry={"model_name": "bc_server_model"})

    outcome = env.run("bc_server")

    assert outcome["state"] == "success", outcome["log"][-3000:]
    client = env.client()
    champion = client.get_model_version_by_alias("bc_server_model", "champion")
    assert champion.version == "1"
    assert champion.tags["mlops.run_id"] == outcome["run_id"]
    # Artifacts went through the server's proxy, not to a path on this "worker".
    run = client.get_run(champion.tags["mlops.training.run_id"])
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
    assert not (tmp_path / "mlflow-artifacts").exists()
    # The registered model loads back from the registry through the server.
    import mlflow.sklearn

    mlflow.set_tracking_uri(server.url)
    model = mlflow.sklearn.load_model("models:/bc_server_model@champion")
    features = v1.drop(columns=["target"]).head(5)
    assert len(model.predict(features)) == 5
