"""The ``mlops-local`` target on MLflow's deployments plugin interface.

Registered under the ``mlflow.deployments`` entry-point group, so once airflow-mlops is installed::

    from mlflow.deployments import get_deploy_client
    client = get_deploy_client("mlops-local")            # endpoints under [mlops] endpoints_root
    client = get_deploy_client("mlops-local:/srv/endpoints")  # or under this folder
    client.create_deployment("churn", "models:/churn@champion")
    client.predict("churn", frame)

MLflow's plugin manager wants this module to hold ``run_local``, ``target_help`` and exactly one
``BaseDeploymentClient`` subclass at module level, so this is the one module of the package that
imports MLflow at import time; only MLflow loads it (the DAG-facing code calls ``local.py``).
The client is a thin adapter: the work is done by :class:`~airflow_mlops.deploy.local.LocalEndpoints`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from mlflow.deployments import BaseDeploymentClient, PredictionsResponse
from mlflow.exceptions import MlflowException

from airflow_mlops.deploy.endpoint import Timeouts
from airflow_mlops.deploy.local import LocalEndpoints

#: The target's name (the URI scheme given to ``get_deploy_client``).
TARGET = "mlops-local"
#: Keys a deployment's ``config`` may hold.
CONFIG_KEYS = frozenset({"port", "canary_percent", "startup_timeout", "drain_timeout", "request_timeout", "reason"})


def target_help() -> str:
    return (
        f"{TARGET}: serves a model on this machine as MLflow's scoring server behind a stable loopback URL "
        "that outlives version switches (airflow-mlops). Target URI: 'mlops-local' (endpoints under "
        "[mlops] endpoints_root) or 'mlops-local:/folder'. Config: port (the endpoint's stable port, on "
        "create), canary_percent (1-99: serve the new version to that share beside the current one), "
        "startup_timeout, drain_timeout, request_timeout (seconds), reason. Stop an endpoint with "
        "delete_deployment or `airflow-mlops endpoint stop NAME`."
    )


def run_local(name: str, model_uri: str, flavor: str | None = None, config: dict[str, Any] | None = None) -> None:
    """Serve the model at a local endpoint under the default folder and print its URL (it keeps running)."""
    deployment = LocalDeploymentClient(TARGET).create_deployment(name, model_uri, flavor, config)
    print(f"{name} serves {deployment['model_uri']} at {deployment['url']}; stop it with delete_deployment({name!r})")


class LocalDeploymentClient(BaseDeploymentClient):  # type: ignore[misc]
    """MLflow's deployment client for the local target; one endpoint per deployment name."""

    def __init__(self, target_uri: str) -> None:
        super().__init__(target_uri)
        path = urlparse(target_uri).path if ":" in target_uri else ""
        if not path:
            from airflow_mlops.settings import endpoints_root

            path = endpoints_root()
        self.root = path

    def _endpoints(self, config: dict[str, Any] | None) -> LocalEndpoints:
        config = dict(config or {})
        unknown = sorted(set(config) - CONFIG_KEYS)
        if unknown:
            raise MlflowException(f"{TARGET}: unknown config keys {unknown}; known: {sorted(CONFIG_KEYS)}")
        defaults = Timeouts()
        timeouts = Timeouts(
            startup=float(config.get("startup_timeout", defaults.startup)),
            drain=float(config.get("drain_timeout", defaults.drain)),
            request=float(config.get("request_timeout", defaults.request)),
        )
        return LocalEndpoints(self.root, timeouts)

    def _deploy(
        self, name: str, model_uri: str | None, flavor: str | None, config: dict[str, Any] | None, *, exists: bool
    ) -> dict[str, Any]:
        if flavor not in (None, "python_function"):
            raise MlflowException(f"{TARGET} serves the python_function flavor only, not {flavor!r}")
        if model_uri is None:
            raise MlflowException(f"{TARGET}: give the model_uri to serve at {name!r}")
        config = config or {}
        if exists and "port" in config:
            raise MlflowException(f"{TARGET}: an endpoint keeps its port; 'port' is set on create_deployment only")
        return self._endpoints(config).deploy(
            name,
            model_uri,
            exists=exists,
            port=config.get("port"),
            canary_percent=config.get("canary_percent"),
            reason=str(config.get("reason", "")),
        )

    def create_deployment(
        self,
        name: str,
        model_uri: str,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        return self._deploy(name, model_uri, flavor, config, exists=False)

    def update_deployment(
        self,
        name: str,
        model_uri: str | None = None,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        return self._deploy(name, model_uri, flavor, config, exists=True)

    def delete_deployment(self, name: str, config: dict[str, Any] | None = None, endpoint: str | None = None) -> None:
        self._endpoints(config).delete(name)

    def list_deployments(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        endpoints = self._endpoints(None)
        return [endpoints.get(name) for name in endpoints.names()]

    def get_deployment(self, name: str, endpoint: str | None = None) -> dict[str, Any]:
        return self._endpoints(None).get(name)

    def predict(
        self, deployment_name: str | None = None, inputs: Any = None, endpoint: str | None = None
    ) -> PredictionsResponse:
        if deployment_name is None:
            raise MlflowException(f"{TARGET}: predict needs the deployment name")
        from airflow_mlops.ml.serving_requests import scoring_body

        body = scoring_body(inputs)
        return PredictionsResponse.from_json(self._endpoints(None).predict(deployment_name, body).decode())
