"""The InferenceService a ``mlops-kserve`` endpoint is, written and read as plain dicts.

What is sent (``serving.kserve.io/v1beta1``): a predictor whose model has KServe's ``mlflow``
model format, the Open Inference Protocol (``protocolVersion: v2``, the protocol of the MLServer
runtime KServe serves MLflow models with) and the version's files as ``storageUri``; a canary is
the predictor's ``canaryTrafficPercent``. What is read back: readiness from ``status.conditions``
(of the generation that was asked for, never a stale one), the URL, and the predictor's revisions
and traffic. Which model URI a revision serves is kept in annotations, since ``storageUri`` is a
bucket path that says nothing about the registered version.

Pure: no Kubernetes client, so the rules are read and tested without a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

GROUP = "serving.kserve.io"
VERSION = "v1beta1"
PLURAL = "inferenceservices"
KIND = "InferenceService"
#: The model URI (``models:/name/N``) the spec's ``storageUri`` holds: the latest revision's.
MODEL_URI = "airflow-mlops/model-uri"
#: The model URI of the revision last rolled out to all traffic: what serves beside a canary.
ROLLED_OUT_URI = "airflow-mlops/rolled-out-model-uri"
#: Why the last change was made (who and what, as the rollout says it).
REASON = "airflow-mlops/reason"


@dataclass(frozen=True)
class PredictorOptions:
    """The predictor settings a deployment may choose; None leaves KServe's default."""

    service_account: str | None = None
    runtime: str | None = None
    resources: dict[str, Any] | None = None


def manifest(
    name: str, namespace: str, storage_uri: str, model_uri: str, options: PredictorOptions, reason: str
) -> dict[str, Any]:
    """A new InferenceService serving ``storage_uri`` to all traffic (a first version has nothing to share with)."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {MODEL_URI: model_uri, ROLLED_OUT_URI: model_uri, REASON: reason},
        },
        "spec": {"predictor": _predictor(storage_uri, options, canary_percent=None)},
    }


def _predictor(storage_uri: str, options: PredictorOptions, *, canary_percent: int | None) -> dict[str, Any]:
    model: dict[str, Any] = {"modelFormat": {"name": "mlflow"}, "protocolVersion": "v2", "storageUri": storage_uri}
    if options.runtime:
        model["runtime"] = options.runtime
    if options.resources:
        model["resources"] = options.resources
    predictor: dict[str, Any] = {"model": model}
    if options.service_account:
        predictor["serviceAccountName"] = options.service_account
    if canary_percent is not None:
        predictor["canaryTrafficPercent"] = canary_percent
    return predictor


def new_revision_patch(
    storage_uri: str,
    model_uri: str,
    options: PredictorOptions,
    *,
    canary_percent: int | None,
    rolled_out_uri: str,
    reason: str,
) -> dict[str, Any]:
    """A merge patch (RFC 7386) that serves ``storage_uri`` as a new revision: a canary, or all traffic.

    Without a canary, ``canaryTrafficPercent`` is removed (null in a merge patch), so the new
    revision takes all traffic once ready, as KServe documents it.
    """
    predictor = _predictor(storage_uri, options, canary_percent=canary_percent)
    predictor.setdefault("canaryTrafficPercent", None)
    return {
        "metadata": {"annotations": {MODEL_URI: model_uri, ROLLED_OUT_URI: rolled_out_uri, REASON: reason}},
        "spec": {"predictor": predictor},
    }


def traffic_patch(percent: int, *, rolled_out_uri: str, reason: str) -> dict[str, Any]:
    """The latest revision's share only, no new revision: 100 promotes it, 0 pins the rolled-out one (rollback)."""
    return {
        "metadata": {"annotations": {ROLLED_OUT_URI: rolled_out_uri, REASON: reason}},
        "spec": {"predictor": {"canaryTrafficPercent": None if percent == 100 else percent}},
    }


@dataclass(frozen=True)
class ServiceStatus:
    """What an InferenceService object says about itself, for the generation it was read at."""

    name: str
    namespace: str
    generation: int
    observed_generation: int
    ready: str  # the Ready condition's status: "True", "False" or "Unknown"
    ready_message: str
    url: str | None
    model_uri: str | None
    rolled_out_uri: str | None
    storage_uri: str | None
    canary_percent: int | None
    latest_created: str | None
    latest_ready: str | None
    traffic: list[dict[str, Any]] = field(default_factory=list)

    @property
    def observed(self) -> bool:
        """The controller has acted on the latest spec (before that, the status describes an older one)."""
        return self.observed_generation >= self.generation

    def latest_ready_and_routed(self) -> bool:
        """The revision of the latest spec answers and gets the traffic the spec gives it."""
        return (
            self.observed
            and self.ready == "True"
            and self.latest_created is not None
            and self.latest_created == self.latest_ready
        )

    def pinned_to_rolled_out(self) -> bool:
        """No traffic goes to the latest revision: all of it goes to the one rolled out before."""
        latest = [t for t in self.traffic if t.get("latestRevision")]
        return self.observed and sum(int(t.get("percent") or 0) for t in latest) == 0

    def deployment(self) -> dict[str, Any]:
        """MLflow's deployment dict (``name`` first, as MLflow's interface asks)."""
        return {
            "name": self.name,
            "namespace": self.namespace,
            "model_uri": self.model_uri,
            "storage_uri": self.storage_uri,
            "url": self.url,
            "ready": self.ready == "True" and self.observed,
            "canary_percent": self.canary_percent,
            "serving": self.serving(),
            "latest_revision": self.latest_created,
            "traffic": self.traffic,
        }

    def serving(self) -> list[dict[str, Any]]:
        """The model URIs taking traffic and their share, as the spec and the annotations say."""
        if self.canary_percent is None or self.rolled_out_uri in (None, self.model_uri):
            return [{"model_uri": self.model_uri, "percent": 100}]
        shares = [(self.rolled_out_uri, 100 - self.canary_percent), (self.model_uri, self.canary_percent)]
        return [{"model_uri": uri, "percent": percent} for uri, percent in shares if percent]


def read_status(obj: dict[str, Any]) -> ServiceStatus:
    metadata, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    annotations = metadata.get("annotations") or {}
    predictor = spec.get("predictor") or {}
    component = (status.get("components") or {}).get("predictor") or {}
    ready: dict[str, Any] = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    canary = predictor.get("canaryTrafficPercent")
    return ServiceStatus(
        name=str(metadata.get("name")),
        namespace=str(metadata.get("namespace")),
        generation=int(metadata.get("generation") or 0),
        observed_generation=int(status.get("observedGeneration") or 0),
        ready=str(ready.get("status") or "Unknown"),
        ready_message=": ".join(str(ready[k]) for k in ("reason", "message") if ready.get(k)),
        url=status.get("url"),
        model_uri=annotations.get(MODEL_URI),
        rolled_out_uri=annotations.get(ROLLED_OUT_URI),
        storage_uri=(predictor.get("model") or {}).get("storageUri"),
        canary_percent=None if canary is None else int(canary),
        latest_created=component.get("latestCreatedRevision"),
        latest_ready=component.get("latestReadyRevision"),
        traffic=list(component.get("traffic") or []),
    )


def describe(obj: dict[str, Any]) -> dict[str, Any]:
    """MLflow's deployment dict for an InferenceService object."""
    return read_status(obj).deployment()
