"""One rollout's moves on a target, whichever it is: deploy a version, probe it, keep a canary, roll back.

The ``deploy`` task talks to a target through :func:`open_target`:
- ``mlops-local`` (:class:`LocalTarget`) goes straight to :class:`~airflow_mlops.deploy.local.LocalEndpoints`,
  which can split traffic (a canary) and knows what it served before (its rollback);
- ``mlops-kserve`` (:class:`KServeTarget`) goes straight to :class:`~airflow_mlops.deploy.kserve.KServeEndpoints`:
  KServe splits a canary's traffic (``canaryTrafficPercent``) and keeps the revision rolled out before;
- any other MLflow deployments target (:class:`PluginTarget`) goes through ``get_deploy_client``:
  create or update to the version's URI, ``predict`` to probe, an update back to the previous
  version's URI (or a delete, when there was none) to roll back. No canary: MLflow's interface
  has no portable way to split traffic.
Every move is safe to repeat, so a retried task does not start a second server.

For the bake (airflow_mlops/deploy/bake.py) each target also answers ``predict_pinned`` (a
request the new version answers: pinned on the local proxy, plain elsewhere, where ``can_pin``
is False) and ``live_stats`` (the local proxy's per-version counts; None where the target has
none, so the bake judges its own requests only).
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

from airflow_mlops.deploy.bake import LiveStats
from airflow_mlops.errors import ConfigurationError
from airflow_mlops.gates.smoke import Probe
from airflow_mlops.spec.kserve_target import KSERVE_TARGET
from airflow_mlops.spec.models_deployment import target_scheme


class RolloutTarget(Protocol):
    def deploy(self, name: str, model_uri: str, *, canary_percent: int | None, reason: str) -> dict[str, Any]: ...

    def keep_new(self, name: str, reason: str) -> None: ...

    def rollback(self, name: str, previous_uri: str | None, reason: str) -> str: ...

    def probe(self, name: str, body: bytes) -> Probe: ...

    def predict_pinned(self, name: str, body: bytes, model_uri: str) -> tuple[Probe, list[Any] | None]: ...

    def live_stats(self, name: str, model_uri: str, since: float) -> LiveStats | None: ...

    def url(self, name: str) -> str | None: ...

    can_pin: bool


def open_target(target_uri: str, *, startup_timeout: float, request_timeout: float) -> RolloutTarget:
    """The target a ``deployment.target`` URI names: ``mlops-local[:/folder]``, ``mlops-kserve[:/ns]``, a plugin's."""
    from airflow_mlops.deploy.local import root_of

    root = root_of(target_uri)
    if root is not None:
        from airflow_mlops.deploy.endpoint import Timeouts

        return LocalTarget(root, Timeouts(startup=startup_timeout, request=request_timeout))
    if target_scheme(target_uri) == KSERVE_TARGET:
        return KServeTarget(target_uri, startup_timeout=startup_timeout, request_timeout=request_timeout)
    return PluginTarget(target_uri, request_timeout)


def _timed(call: Any) -> Probe:
    started = time.perf_counter()
    try:
        ok, error = call()
    except Exception as err:  # a probe reports; the verdict decides
        ok, error = False, f"{type(err).__name__}: {err}"[:300]
    return Probe(ok, (time.perf_counter() - started) * 1000, error)


def _unpinned(target: Any, name: str, body: bytes) -> tuple[Probe, list[Any] | None]:
    """A target that cannot pin: a plain request, its predictions kept (the caller knows whom it reached)."""
    answered: list[list[Any] | None] = [None]

    def call() -> tuple[bool, str | None]:
        answered[0] = target.predictions(name, body)
        return answered[0] is not None, None if answered[0] is not None else "no predictions in the answer"

    return _timed(call), answered[0]


class LocalTarget:
    """The local target: endpoints under ``root``, each a stable URL in front of managed model servers."""

    def __init__(self, root: str, timeouts: Any) -> None:
        from airflow_mlops.deploy.local import LocalEndpoints

        self.endpoints = LocalEndpoints(root, timeouts)
        self.timeouts = timeouts

    def _serving(self, name: str) -> list[str]:
        state = self.endpoints.store.load(name)
        return [s.model_uri for s in state.serving] if state is not None else []

    def deploy(self, name: str, model_uri: str, *, canary_percent: int | None, reason: str) -> dict[str, Any]:
        serving = self._serving(name)
        if canary_percent is not None and model_uri in serving:
            return self.endpoints.get(name)  # a retry: the canary (or the settled version) is already there
        if canary_percent is not None and not serving:
            canary_percent = None  # nothing to serve beside: the first version takes all traffic
        if canary_percent is None and len(serving) == 2 and serving[-1] == model_uri:
            return self.endpoints.settle(name, "new", reason)  # a canary of this version left by an earlier try
        # The version already serving alone is "unchanged": no second server is started.
        return self.endpoints.deploy(name, model_uri, canary_percent=canary_percent, reason=reason)

    def keep_new(self, name: str, reason: str) -> None:
        if len(self._serving(name)) == 2:
            self.endpoints.settle(name, "new", reason)

    def rollback(self, name: str, previous_uri: str | None, reason: str) -> str:
        state = self.endpoints.store.load(name)
        if state is None:
            return "no endpoint to roll back"
        if len(state.serving) == 2 or state.previous:
            described = self.endpoints.rollback(name, reason)
            return f"serves {described['model_uri']} again"
        self.endpoints.delete(name)  # its first version failed: serving nothing beats serving that
        return "stopped (it served no earlier version)"

    def probe(self, name: str, body: bytes) -> Probe:
        from airflow_mlops.deploy.endpoint import http_call
        from airflow_mlops.ml.serving_requests import predictions_of

        state = self.endpoints.store.load(name)
        if state is None:
            return Probe(False, 0.0, f"no endpoint {name!r}")

        def call() -> tuple[bool, str | None]:
            status, answer = http_call(state.port, "POST", "/invocations", body, timeout=self.timeouts.request)
            if status == 200 and predictions_of(answer) is not None:
                return True, None
            return False, f"HTTP {status}: {answer[:200].decode(errors='replace')}"

        return _timed(call)

    can_pin = True

    def predict_pinned(self, name: str, body: bytes, model_uri: str) -> tuple[Probe, list[Any] | None]:
        """One request the proxy sends to ``model_uri`` only (``X-Mlops-Pin``), and its predictions."""
        from airflow_mlops.deploy.endpoint import http_call
        from airflow_mlops.deploy.proxy import MODEL_URI_HEADER, PIN_HEADER
        from airflow_mlops.ml.serving_requests import predictions_of

        state = self.endpoints.store.load(name)
        if state is None:
            return Probe(False, 0.0, f"no endpoint {name!r}"), None
        answered: list[list[Any] | None] = [None]

        def call() -> tuple[bool, str | None]:
            received: dict[str, str] = {}
            status, answer = http_call(
                state.port, "POST", "/invocations", body, timeout=self.timeouts.request,
                headers={PIN_HEADER: model_uri}, received=received,
            )  # fmt: skip
            found = predictions_of(answer) if status == 200 else None
            if found is None:
                return False, f"HTTP {status}: {answer[:200].decode(errors='replace')}"
            # A proxy started by an older release ignores the pin: its answer is not compared.
            served_by = next((v for k, v in received.items() if k.lower() == MODEL_URI_HEADER.lower()), None)
            answered[0] = found if served_by == model_uri else None
            return True, None

        return _timed(call), answered[0]

    def live_stats(self, name: str, model_uri: str, since: float) -> LiveStats | None:
        """The proxy's answers of ``model_uri`` since ``since``; None when the proxy does not answer."""
        from airflow_mlops.deploy.endpoint import http_call
        from airflow_mlops.deploy.proxy import STATS_PATH

        state = self.endpoints.store.load(name)
        if state is None:
            return None
        try:
            status, answer = http_call(state.port, "GET", f"{STATS_PATH}?since={since}", timeout=self.timeouts.request)
        except OSError:
            return None
        return LiveStats.of(json.loads(answer), model_uri) if status == 200 else None

    def url(self, name: str) -> str | None:
        state = self.endpoints.store.load(name)
        return state.url if state is not None else None


class KServeTarget:
    """One KServe InferenceService per endpoint; its credentials are in the environment (set by the caller)."""

    def __init__(self, target_uri: str, *, startup_timeout: float, request_timeout: float) -> None:
        from airflow_mlops.deploy.kserve import KServeEndpoints, KServeSettings

        timeouts = {"startup_timeout": startup_timeout, "request_timeout": request_timeout}
        self.endpoints = KServeEndpoints(target_uri, KServeSettings.of(target_uri, defaults=timeouts))
        self.urls: dict[str, str] = {}  # an InferenceService keeps its URL: read once, not once per probe

    def _status(self, name: str) -> Any:
        from airflow_mlops.deploy.kserve_manifest import read_status

        found = self.endpoints.services.get(name)
        return read_status(found) if found is not None else None

    def deploy(self, name: str, model_uri: str, *, canary_percent: int | None, reason: str) -> dict[str, Any]:
        if self._status(name) is None:
            canary_percent = None  # nothing to serve beside: the first version takes all traffic
        # The version already the latest revision gets no new one: a retry finds its canary, or promotes it.
        return self.endpoints.deploy(name, model_uri, canary_percent=canary_percent, reason=reason)

    def keep_new(self, name: str, reason: str) -> None:
        status = self._status(name)
        if status is not None and status.canary_percent is not None:
            self.endpoints.set_traffic(name, 100, reason)

    def rollback(self, name: str, previous_uri: str | None, reason: str) -> str:
        status = self._status(name)
        if status is None:
            return "no InferenceService to roll back"
        if status.canary_percent is not None:  # KServe's documented rollback of a canary
            self.endpoints.set_traffic(name, 0, reason)
            return f"serves {status.rolled_out_uri} again (canaryTrafficPercent 0)"
        if previous_uri is not None:
            self.endpoints.deploy(name, previous_uri, reason=reason)
            return f"serves {previous_uri} again"
        self.endpoints.delete(name)
        return "deleted (it served no earlier version)"

    def probe(self, name: str, body: bytes) -> Probe:
        from airflow_mlops.deploy.open_inference import predictions

        url = self.urls.get(name) or self.endpoints.url(name)
        if url is not None:
            self.urls[name] = url

        def call() -> tuple[bool, str | None]:
            if url is None:
                return False, f"InferenceService {name!r} has no URL"
            status, answer = self.endpoints.infer(url, name, body)
            if status != 200:
                return False, f"HTTP {status}: {answer[:200].decode(errors='replace')}"
            predictions(json.loads(answer))  # raises when the answer holds none
            return True, None

        return _timed(call)

    can_pin = False

    def predictions(self, name: str, body: bytes) -> list[Any] | None:
        from airflow_mlops.deploy.open_inference import predictions

        url = self.urls.get(name) or self.endpoints.url(name)
        if url is None:
            return None
        status, answer = self.endpoints.infer(url, name, body)
        return list(predictions(json.loads(answer))) if status == 200 else None

    def predict_pinned(self, name: str, body: bytes, model_uri: str) -> tuple[Probe, list[Any] | None]:
        return _unpinned(self, name, body)

    def live_stats(self, name: str, model_uri: str, since: float) -> LiveStats | None:
        return None  # KServe's metrics live in Prometheus, which this target does not read

    def url(self, name: str) -> str | None:
        return self.endpoints.url(name)


class PluginTarget:
    """Another MLflow deployments target, through ``get_deploy_client`` (its credentials set by the caller)."""

    def __init__(self, target_uri: str, request_timeout: float) -> None:
        from mlflow.deployments import get_deploy_client

        client = get_deploy_client(target_uri)
        if client is None:
            raise ConfigurationError(f"no MLflow deployments plugin answers for target {target_uri!r}")
        self.client = client
        self.target_uri = target_uri

    def _existing(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(self.client.get_deployment(name))
        except Exception:  # plugins raise their own "not found"
            return None

    def deploy(self, name: str, model_uri: str, *, canary_percent: int | None, reason: str) -> dict[str, Any]:
        if canary_percent is not None:
            raise ConfigurationError(f"target {self.target_uri!r} cannot split traffic here; use strategy: direct")
        if self._existing(name) is None:
            return dict(self.client.create_deployment(name, model_uri))
        return dict(self.client.update_deployment(name, model_uri=model_uri))

    def keep_new(self, name: str, reason: str) -> None:
        return None

    def rollback(self, name: str, previous_uri: str | None, reason: str) -> str:
        if previous_uri is None:
            self.client.delete_deployment(name)
            return "deleted (it served no earlier version)"
        self.client.update_deployment(name, model_uri=previous_uri)
        return f"serves {previous_uri} again"

    def probe(self, name: str, body: bytes) -> Probe:
        def call() -> tuple[bool, str | None]:
            answer = self.client.predict(name, json.loads(body))
            if answer is not None and "predictions" in answer:
                return True, None
            return False, "no predictions in the answer"

        return _timed(call)

    can_pin = False

    def predictions(self, name: str, body: bytes) -> list[Any] | None:
        answer = self.client.predict(name, json.loads(body))
        found = answer.get("predictions") if answer is not None and hasattr(answer, "get") else None
        return list(found) if found is not None else None

    def predict_pinned(self, name: str, body: bytes, model_uri: str) -> tuple[Probe, list[Any] | None]:
        return _unpinned(self, name, body)

    def live_stats(self, name: str, model_uri: str, since: float) -> LiveStats | None:
        return None  # MLflow's deployments interface has no request metrics

    def url(self, name: str) -> str | None:
        existing = self._existing(name) or {}
        url = existing.get("url") or existing.get("endpoint_url")
        return str(url) if url else None
