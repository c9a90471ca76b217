"""The ``deployment:`` section: after ``promote``, serve the new champion on a deployment target and smoke-check it.

No section, no ``deploy`` step: the pipeline ends at ``promote`` as before.

Annotations are evaluated as the classes are defined (no ``from __future__ import
annotations``): pydantic would otherwise compile each one from its string and evaluate it,
at every import, and every DAG file that loads a pipeline imports this module.
"""

import re
from typing import Literal

from pydantic import Field

from airflow_mlops.spec.kserve_target import KSERVE_TARGET, parse_kserve_uri, service_name_problem
from airflow_mlops.spec.models_base import SemanticIssue, StrictModel

#: The embedded target (airflow_mlops/deploy): model servers behind a stable loopback URL.
LOCAL_TARGET = "mlops-local"
#: Targets whose rollout here can split traffic between two versions (a canary): the local one,
#: and KServe's InferenceService (``canaryTrafficPercent``).
TRAFFIC_SPLITTING_TARGETS = frozenset({LOCAL_TARGET, KSERVE_TARGET})
#: What an endpoint may be called (the local target's rule, which MLflow's other targets accept too).
ENDPOINT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$"


def target_scheme(target: str) -> str:
    """The plugin a target URI names, as MLflow's ``get_deploy_client`` picks it: the scheme, or the whole URI."""
    return target.split(":", 1)[0]


def endpoint_name_problem(target: str, name: str) -> str | None:
    """Why ``name`` cannot name an endpoint on ``target`` (a target may be stricter than the common rule), or None."""
    if target_scheme(target) == KSERVE_TARGET:
        return service_name_problem(name)
    if not re.match(ENDPOINT_NAME, name):
        return f"{name!r} is not a valid endpoint name (at most 100 characters)"
    return None


class SmokeSpec(StrictModel):
    """The smoke requests and the limits the bake watches: error rate, latency, live predictions' drift."""

    requests: int = Field(20, ge=1, le=10_000, description="Single-row requests sent, cycling over the test rows.")
    max_error_rate: float = Field(
        0.0, ge=0, le=1, description="Share of requests that may fail (no answer, or not HTTP 200 with predictions)."
    )
    max_p95_ms: float = Field(
        1000, gt=0, le=600_000, description="p95 latency limit of the answered requests, and of the new version's "
        "live answers at the endpoint during the bake (where the target counts them).",
    )  # fmt: skip
    max_label_disagreement: float = Field(
        0.0, ge=0, le=1, description="Classification: share of the rows evaluate scored on which the new version's "
        "live label may differ from the offline one.",
    )  # fmt: skip
    max_mean_abs_diff: float = Field(
        1e-6, ge=0, description="Regression: mean absolute difference allowed between the new version's live "
        "predictions and the offline ones on the same rows.",
    )  # fmt: skip


class RollbackSpec(StrictModel):
    """What a breach during the bake, or a rollout that fails, does."""

    on_smoke_failure: Literal["rollback", "fail"] = Field(
        "rollback",
        description="rollback: the endpoint serves the previous version again and @champion goes back to it "
        "(the same compare-and-set and audit record as `airflow-mlops rollback`), then the task fails; "
        "fail: the task fails and the new version keeps serving.",
    )
    on_rollout_failure: Literal["rollback", "fail"] = Field(
        "rollback",
        description="When the rollout itself fails and no retry is left (or the error is not retryable): rollback "
        "puts @champion back on the previous champion as above (the endpoint still serves it); fail leaves "
        "@champion on the new version.",
    )


class DeploymentSpec(StrictModel):
    """Serve the version ``promote`` made champion on a deployment target, then smoke-check it at its endpoint."""

    target: str = Field(
        LOCAL_TARGET,
        pattern=r"^[A-Za-z][A-Za-z0-9+.\-]*(:.*)?$",
        description="An MLflow deployments target URI: mlops-local (this machine, endpoints under [mlops] "
        "endpoints_root), mlops-local:/folder, mlops-kserve:/namespace (a KServe InferenceService on "
        "Kubernetes, docs/deployment.md#kserve), or another installed plugin's target (databricks, sagemaker, ...).",
    )
    endpoint: str | None = Field(
        None,
        pattern=ENDPOINT_NAME,
        description="The endpoint (deployment) name; default: the registered model name. On mlops-kserve "
        "it names the InferenceService: lowercase letters, digits and '-', starting with a letter, at most 63.",
    )
    conn_id: str | None = Field(
        None,
        description="An Airflow connection holding the target's credentials (never in YAML); its extra `env` "
        "maps environment variables to connection fields, set only while the task talks to the target.",
    )
    strategy: Literal["direct", "canary"] = Field(
        "direct",
        description="direct: the new version takes all traffic at once; canary: it serves canary_percent of "
        "requests beside the current version during the bake, then all of them (targets that split traffic only).",
    )
    canary_percent: int | None = Field(None, ge=1, le=99, description="canary only: share of requests, 1-99.")
    bake_seconds: float = Field(
        0, ge=0, le=86_400, description="How long the new version is watched after the switch (a canary beside "
        "the current version): error rate, latency and live predictions against the offline ones; a breach rolls back.",
    )  # fmt: skip
    smoke: SmokeSpec = Field(default_factory=SmokeSpec)
    rollback: RollbackSpec = Field(default_factory=RollbackSpec)
    startup_timeout_seconds: float = Field(
        120, gt=0, le=3600, description="How long the new version's server may take to answer."
    )
    request_timeout_seconds: float = Field(30, gt=0, le=3600, description="How long one smoke request may take.")

    def semantic_issues(self, loc: tuple[str | int, ...]) -> list[SemanticIssue]:
        """The rules between fields, each at the field to change (the loader gives its file and line)."""
        scheme = target_scheme(self.target)
        issues: list[SemanticIssue] = []
        if self.strategy == "canary" and scheme not in TRAFFIC_SPLITTING_TARGETS:
            issues.append(
                ((*loc, "strategy"), f"target {self.target!r} cannot split traffic, so it cannot run a canary",
                 "use strategy: direct, or a target that splits traffic: "
                 + ", ".join(sorted(TRAFFIC_SPLITTING_TARGETS)))
            )  # fmt: skip
        if self.strategy == "canary" and self.canary_percent is None:
            issues.append(
                ((*loc, "strategy"), "strategy canary needs canary_percent",
                 "add canary_percent: 10 (the share of requests the new version gets, 1-99)")
            )  # fmt: skip
        if self.strategy == "direct":
            issues.extend(
                ((*loc, key), f"{key} applies to strategy: canary", "set strategy: canary, or remove it")
                for key in ("canary_percent",)
                if key in self.model_fields_set
            )
        if scheme == KSERVE_TARGET:
            issues.extend(self._kserve_issues(loc))
        if self.conn_id is not None and scheme == LOCAL_TARGET:
            issues.append(
                ((*loc, "conn_id"), "the mlops-local target serves on this machine and takes no credentials",
                 "remove conn_id (it is for remote targets such as databricks or sagemaker)")
            )  # fmt: skip
        return issues

    def _kserve_issues(self, loc: tuple[str | int, ...]) -> list[SemanticIssue]:
        issues: list[SemanticIssue] = []
        try:
            parse_kserve_uri(self.target)
        except ValueError as err:
            issues.append(((*loc, "target"), str(err), "write mlops-kserve:/<namespace> (docs/deployment.md#kserve)"))
        problem = None if self.endpoint is None else service_name_problem(self.endpoint)
        if problem is not None:
            issues.append(((*loc, "endpoint"), problem, "KServe names its objects after it; e.g. churn-model"))
        return issues

    def endpoint_name(self, model_name: str) -> str:
        return self.endpoint or model_name
