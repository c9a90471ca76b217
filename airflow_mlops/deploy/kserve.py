"""The ``mlops-kserve`` target: each endpoint is one KServe InferenceService, changed by patches.

KServe does the serving and the traffic split; this module decides what to ask and waits until the
status says it is done:
- a new version is a new predictor revision (a new ``storageUri``): to all traffic once ready, or
  as a canary, ``canaryTrafficPercent`` of it beside the revision last rolled out to all traffic;
- promoting a canary removes ``canaryTrafficPercent`` (the new revision takes all traffic);
- rolling a canary back sets it to 0, which KServe documents as pinning all traffic to the
  revision rolled out before; a version that took all traffic is rolled back by serving the
  previous version's files again (a new revision of them).
A version whose revision does not become ready in time never takes traffic (KServe routes to
ready revisions only); the wait ends in a :class:`TransientError` naming the InferenceService,
the API URL and the Ready condition's reason.

The model's files must be where the cluster can read them: ``storageUri`` is the registered
version's artifact location as MLflow reports it (``get_model_version_download_uri``), so the
MLflow artifact store must be s3://, gs://, pvc://, hdfs:// or an https:// store KServe's storage
initializer reads. A ``file:`` location (an artifact store on one machine) is refused before
anything is sent to the cluster.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from airflow_mlops.deploy.kserve_api import InferenceServices, connect
from airflow_mlops.deploy.kserve_manifest import (
    ROLLED_OUT_URI,
    PredictorOptions,
    ServiceStatus,
    describe,
    manifest,
    new_revision_patch,
    read_status,
    traffic_patch,
)
from airflow_mlops.deploy.models import resolve
from airflow_mlops.errors import ConfigurationError, DeploymentError, NotFoundError, TransientError
from airflow_mlops.spec.kserve_target import KSERVE_TARGET, URI_KEYS, parse_kserve_uri, service_name_problem

#: Keys a deployment's ``config`` may hold: the target URI's settings, and these per-call ones.
CONFIG_KEYS = URI_KEYS | {"canary_percent", "reason", "resources"}
#: Schemes of the storage URIs KServe's storage initializer downloads from.
STORAGE_SCHEMES = ("s3", "gs", "pvc", "hdfs", "webhdfs", "https")


@dataclass(frozen=True)
class KServeSettings:
    """A target's settings: its URI's, then a call's ``config`` over them."""

    namespace: str | None
    context: str | None = None
    options: PredictorOptions = field(default_factory=PredictorOptions)
    ingress_url: str | None = None
    startup_timeout: float = 300.0
    request_timeout: float = 60.0

    @classmethod
    def of(
        cls, target_uri: str, config: Mapping[str, Any] | None = None, defaults: Mapping[str, Any] | None = None
    ) -> KServeSettings:
        """``defaults`` apply where neither the URI nor ``config`` says (the pipeline's timeouts, for a rollout)."""
        config = dict(config or {})
        unknown = sorted(set(config) - CONFIG_KEYS)
        if unknown:
            raise ConfigurationError(f"{KSERVE_TARGET}: unknown config keys {unknown}; known: {sorted(CONFIG_KEYS)}")
        try:
            parsed = parse_kserve_uri(target_uri)
        except ValueError as err:
            raise ConfigurationError(str(err)) from err
        merged: dict[str, Any] = {
            **(defaults or {}),
            **parsed.settings,
            **{k: v for k, v in config.items() if k in URI_KEYS},
        }
        resources = config.get("resources")
        if resources is not None and not isinstance(resources, Mapping):
            raise ConfigurationError(f"{KSERVE_TARGET}: resources is a mapping (requests/limits), not {resources!r}")
        default = cls(None)
        return cls(
            namespace=parsed.namespace,
            context=merged.get("context"),
            options=PredictorOptions(
                merged.get("service_account"), merged.get("runtime"), dict(resources or {}) or None
            ),
            ingress_url=merged.get("ingress_url"),
            startup_timeout=float(merged.get("startup_timeout", default.startup_timeout)),
            request_timeout=float(merged.get("request_timeout", default.request_timeout)),
        )


def storage_location(model_uri: str) -> tuple[str, str]:
    """The version's URI (an alias resolved once) and the ``storageUri`` of its files, if KServe can read them."""
    ref = resolve(model_uri)
    if ref.version is None:
        if urlparse(model_uri).scheme in STORAGE_SCHEMES:
            return model_uri, model_uri  # already where KServe reads it
        raise ConfigurationError(
            f"{KSERVE_TARGET} serves a registered version (models:/<name>/<version> or models:/<name>@<alias>) "
            f"or a storage URI ({', '.join(s + '://' for s in STORAGE_SCHEMES)}), not {model_uri!r}"
        )
    from mlflow import MlflowClient

    location = str(MlflowClient().get_model_version_download_uri(ref.registered_model, ref.version))
    scheme = urlparse(location).scheme
    if scheme not in STORAGE_SCHEMES:
        where = {
            "": "a path on this machine",
            "file": "a path on this machine",
            "mlflow-artifacts": "the tracking server's artifact proxy, which KServe cannot read",
        }.get(scheme, f"a {scheme}: location KServe's storage initializer does not read")
        raise ConfigurationError(
            f"{ref.label()} cannot be served by KServe: its files are at {location!r} ({where}). KServe downloads "
            f"a model from {', '.join(s + '://' for s in STORAGE_SCHEMES)}; log models to an artifact store the "
            "cluster reads (the experiment's artifact location, or the tracking server's --artifacts-destination)"
        )
    return ref.uri, location


class KServeEndpoints:
    """The InferenceServices of one namespace, as endpoints: deploy, shift traffic, read, predict, delete."""

    def __init__(self, target_uri: str, settings: KServeSettings) -> None:
        self.target_uri = target_uri
        self.settings = settings
        connection = connect(target_uri, settings.context)
        namespace = settings.namespace or connection.namespace or "default"
        self.services = InferenceServices(connection, namespace, target_uri, settings.request_timeout)

    # --- changes -----------------------------------------------------------------------------------

    def deploy(
        self,
        name: str,
        model_uri: str,
        *,
        canary_percent: int | None = None,
        exists: bool | None = None,
        reason: str = "",
    ) -> dict[str, Any]:
        """Serve ``model_uri``: all traffic once ready, or ``canary_percent`` of it beside the rolled-out revision.

        ``exists`` True refuses to create, False refuses to replace (MLflow's update/create). The
        version already the latest revision gets no new revision: asked for all traffic, its
        canary is promoted; asked again as a canary, nothing changes.
        """
        _check_name(name)
        if canary_percent is not None and not 0 < canary_percent < 100:
            raise DeploymentError(f"canary percent {canary_percent} for {self.services.where(name)}: between 1 and 99")
        version_uri, storage_uri = storage_location(model_uri)  # refused before anything reaches the cluster
        current = self.services.get(name)
        if current is None:
            if exists:
                raise NotFoundError(f"no {self.services.where(name)}; create it first")
            if canary_percent is not None:
                raise DeploymentError(f"{self.services.where(name)} serves nothing yet: create it without a canary")
            body = manifest(name, self.services.namespace, storage_uri, version_uri, self.options, reason)
            self.services.create(body)
            return self._rolled_out(name, version_uri)
        if exists is False:
            raise DeploymentError(f"{self.services.where(name)} already exists; update it instead")
        status = read_status(current)
        if status.model_uri == version_uri and status.storage_uri == storage_uri:
            if canary_percent is None and status.canary_percent is not None:
                return self.set_traffic(name, 100, reason)
            if canary_percent is not None and status.canary_percent not in (None, canary_percent):
                return self.set_traffic(name, canary_percent, reason)  # e.g. a canary pinned at 0, asked again
            return self._wait(name, ServiceStatus.latest_ready_and_routed, f"serving {version_uri}").deployment()
        rolled_out = status.rolled_out_uri if status.canary_percent is not None else status.model_uri
        patch = new_revision_patch(
            storage_uri, version_uri, self.options, canary_percent=canary_percent,
            rolled_out_uri=rolled_out or version_uri, reason=reason,
        )  # fmt: skip
        self.services.patch(name, patch)
        if canary_percent is None:
            return self._rolled_out(name, version_uri)
        return self._wait(name, ServiceStatus.latest_ready_and_routed, f"a canary of {version_uri}").deployment()

    def set_traffic(self, name: str, percent: int, reason: str = "") -> dict[str, Any]:
        """The latest revision's share of a canary: 100 promotes it, 0 rolls back to the rolled-out revision."""
        if not 0 <= percent <= 100:
            raise DeploymentError(f"traffic percent {percent} for {self.services.where(name)}: between 0 and 100")
        status = read_status(self.services.require(name))
        if status.canary_percent is None:
            if percent == 100:
                return self._wait(name, ServiceStatus.latest_ready_and_routed, "serving all traffic").deployment()
            raise DeploymentError(
                f"{self.services.where(name)} serves {status.model_uri} to all traffic, no canary: to roll back, "
                "deploy the previous version"
            )
        rolled_out = status.model_uri if percent == 100 else status.rolled_out_uri
        self.services.patch(name, traffic_patch(percent, rolled_out_uri=rolled_out or "", reason=reason))
        if percent == 0:
            return self._wait(name, ServiceStatus.pinned_to_rolled_out, f"back to {rolled_out}").deployment()
        return self._wait(
            name, ServiceStatus.latest_ready_and_routed, f"{percent} % to {status.model_uri}"
        ).deployment()

    def delete(self, name: str) -> bool:
        """Delete the InferenceService (KServe removes its revisions); False when there was none."""
        _check_name(name)
        return self.services.delete(name)

    # --- reads -------------------------------------------------------------------------------------

    def get(self, name: str) -> dict[str, Any]:
        return describe(self.services.require(name))

    def list(self) -> list[dict[str, Any]]:
        return [describe(found) for found in self.services.list()]

    def url(self, name: str) -> str | None:
        found = self.services.get(name)
        return read_status(found).url if found is not None else None

    def predict(self, name: str, body: bytes | str | dict[str, Any]) -> Any:
        """MLflow's ``{"predictions": ...}`` for ``body`` (scoring JSON, or a v2 request), by the v2 protocol."""
        from airflow_mlops.deploy.open_inference import InferenceFormatError, predictions

        url = self.url(name)
        if url is None:
            raise DeploymentError(f"{self.services.where(name)} has no URL yet: it has never been ready")
        status, answer = self.infer(url, name, body)
        if status != 200:
            raise DeploymentError(f"{name} at {url} answered HTTP {status}: {answer[:300].decode(errors='replace')}")
        try:
            return {"predictions": predictions(json.loads(answer))}
        except (InferenceFormatError, ValueError) as err:
            raise DeploymentError(f"{name} at {url}: {err}") from err

    def infer(self, url: str, name: str, body: bytes | str | dict[str, Any]) -> tuple[int, bytes]:
        """One ``POST <url>/v2/models/<name>/infer`` (through ``ingress_url`` with the service's Host, if set)."""
        from airflow_mlops.deploy.open_inference import v2_request

        payload = json.dumps(v2_request(body)).encode()
        base = urlparse(self.settings.ingress_url or url)
        headers = {"Content-Type": "application/json"}
        if self.settings.ingress_url:
            headers["Host"] = urlparse(url).netloc  # the ingress routes by the service's host name
        kind = http.client.HTTPSConnection if base.scheme == "https" else http.client.HTTPConnection
        connection = kind(base.hostname or "", base.port, timeout=self.settings.request_timeout)
        try:
            connection.request("POST", f"{base.path.rstrip('/')}/v2/models/{name}/infer", payload, headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    # --- helpers -----------------------------------------------------------------------------------

    @property
    def options(self) -> PredictorOptions:
        return self.settings.options

    def _rolled_out(self, name: str, version_uri: str) -> dict[str, Any]:
        """Wait for the new revision to take all traffic, then record it as the one rolled out."""
        self._wait(name, ServiceStatus.latest_ready_and_routed, f"serving {version_uri}")
        return describe(self.services.patch(name, {"metadata": {"annotations": {ROLLED_OUT_URI: version_uri}}}))

    def _wait(self, name: str, done: Callable[[ServiceStatus], bool], what: str) -> ServiceStatus:
        """Poll the object until ``done`` holds for the generation asked for; TransientError after the timeout."""
        timeout = self.settings.startup_timeout
        deadline, pause = time.monotonic() + timeout, 0.05
        last, failure = None, "no answer"
        while True:
            try:
                last = read_status(self.services.require(name))
                if done(last):
                    return last
            except TransientError as err:  # an API blip while waiting is not the end of the rollout
                failure = str(err)
            if time.monotonic() >= deadline:
                said = (
                    f"Ready is {last.ready}" + (f" ({last.ready_message})" if last.ready_message else "")
                    + ("" if last.observed else ", the controller has not acted on the change yet")
                    if last is not None
                    else failure
                )  # fmt: skip
                raise TransientError(
                    f"{self.services.where(name)} was not {what} after {timeout:g} s: {said}. KServe keeps "
                    "routing to ready revisions only"
                )
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 2.0)


def _check_name(name: str) -> None:
    problem = service_name_problem(name)
    if problem is not None:
        raise DeploymentError(f"{KSERVE_TARGET}: {problem}")


def open_endpoints(target_uri: str, config: Mapping[str, Any] | None = None) -> KServeEndpoints:
    return KServeEndpoints(target_uri, KServeSettings.of(target_uri, config))
