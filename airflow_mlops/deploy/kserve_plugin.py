"""The ``mlops-kserve`` target on MLflow's deployments plugin interface: a KServe InferenceService per deployment.

Registered under the ``mlflow.deployments`` entry-point group::

    from mlflow.deployments import get_deploy_client
    client = get_deploy_client("mlops-kserve:/ml-serving")   # the namespace; settings may follow ?key=value
    client.create_deployment("churn", "models:/churn/3")       # waits until it serves all traffic
    client.update_deployment("churn", "models:/churn/4", config={"canary_percent": 10})
    client.update_deployment("churn", config={"canary_percent": 100})  # promote the canary (0 rolls it back)
    client.predict("churn", frame)                              # the v2 protocol, at the service's URL

Like ``mlflow_plugin.py``, MLflow's plugin manager wants ``run_local``, ``target_help`` and exactly
one ``BaseDeploymentClient`` subclass at module level, so this module imports MLflow at import
time; only MLflow loads it. The work is done by :class:`~airflow_mlops.deploy.kserve.KServeEndpoints`.
"""

from __future__ import annotations

from typing import Any

from mlflow.deployments import BaseDeploymentClient, PredictionsResponse
from mlflow.exceptions import MlflowException

from airflow_mlops.deploy.kserve import CONFIG_KEYS, KServeEndpoints, KServeSettings
from airflow_mlops.spec.kserve_target import KSERVE_TARGET

#: The target's name (the URI scheme given to ``get_deploy_client``).
TARGET = KSERVE_TARGET


def target_help() -> str:
    return (
        f"{TARGET}: serves a registered MLflow model version as a KServe InferenceService (serving.kserve.io/"
        "v1beta1, model format mlflow, v2 protocol) on the Kubernetes cluster your credentials reach "
        "(MLOPS_KSERVE_HOST + MLOPS_KSERVE_TOKEN, the pod's service account, or a kubeconfig). Target URI: "
        f"'{TARGET}:/<namespace>', optionally '?context=..&service_account=..&runtime=..&ingress_url=..&"
        "startup_timeout=..&request_timeout=..'. The version's artifact location must be one the cluster reads "
        f"(s3://, gs://, pvc://, ...). Config: {', '.join(sorted(CONFIG_KEYS))}; update_deployment with "
        "canary_percent 1-99 and a model_uri starts a canary, without a model_uri 0-100 sets its share "
        "(0 rolls back to the revision rolled out before, 100 promotes)."
    )


def run_local(name: str, model_uri: str, flavor: str | None = None, config: dict[str, Any] | None = None) -> None:
    raise MlflowException(f"{TARGET} serves on a Kubernetes cluster; to serve on this machine use mlops-local")


class KServeDeploymentClient(BaseDeploymentClient):  # type: ignore[misc]
    """MLflow's deployment client for KServe; one InferenceService per deployment name."""

    def __init__(self, target_uri: str) -> None:
        super().__init__(target_uri)
        KServeSettings.of(target_uri)  # a malformed URI fails here, before any credentials are looked for

    def _endpoints(self, config: dict[str, Any] | None) -> KServeEndpoints:
        return KServeEndpoints(self.target_uri, KServeSettings.of(self.target_uri, config))

    def create_deployment(
        self,
        name: str,
        model_uri: str,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        _check_flavor(flavor)
        config = config or {}
        if config.get("canary_percent") is not None:
            raise MlflowException(f"{TARGET}: a new InferenceService serves all traffic; canary on update_deployment")
        return self._endpoints(config).deploy(name, model_uri, exists=False, reason=str(config.get("reason", "")))

    def update_deployment(
        self,
        name: str,
        model_uri: str | None = None,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        _check_flavor(flavor)
        config = config or {}
        percent, reason = config.get("canary_percent"), str(config.get("reason", ""))
        endpoints = self._endpoints(config)
        if model_uri is None:
            if percent is None:
                raise MlflowException(
                    f"{TARGET}: give a model_uri to serve, or config canary_percent (0-100) to set the canary's "
                    "share of traffic (0 rolls back to the revision rolled out before, 100 promotes the canary)"
                )
            return endpoints.set_traffic(name, int(percent), reason)
        return endpoints.deploy(
            name, model_uri, canary_percent=None if percent is None else int(percent), exists=True, reason=reason
        )

    def delete_deployment(self, name: str, config: dict[str, Any] | None = None, endpoint: str | None = None) -> None:
        self._endpoints(config).delete(name)

    def list_deployments(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        return self._endpoints(None).list()

    def get_deployment(self, name: str, endpoint: str | None = None) -> dict[str, Any]:
        return self._endpoints(None).get(name)

    def predict(
        self, deployment_name: str | None = None, inputs: Any = None, endpoint: str | None = None
    ) -> PredictionsResponse:
        if deployment_name is None:
            raise MlflowException(f"{TARGET}: predict needs the deployment name")
        from airflow_mlops.ml.serving_requests import scoring_body

        return PredictionsResponse(self._endpoints(None).predict(deployment_name, scoring_body(inputs)))


def _check_flavor(flavor: str | None) -> None:
    if flavor not in (None, "python_function"):
        raise MlflowException(f"{TARGET} serves the python_function flavor (KServe's mlflow format), not {flavor!r}")
