"""What the gate, the serving check, approval, registry and deployment tasks hand on.

See :mod:`airflow_mlops.contracts`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict

if TYPE_CHECKING:
    from airflow_mlops.contracts.training import ChampionScore, EvaluatedCandidate


class OutcomeRecord(TypedDict):
    """One rule's outcome, as ``gates.verdict.RuleOutcome`` writes it (non-finite numbers as None)."""

    rule: str
    metric: str
    kind: Literal["threshold", "champion", "sample_size", "slice", "slice_gap"]
    candidate_value: float | None
    champion_value: float | None
    threshold: float | None
    passed: bool
    reason: str


class VerdictRecord(TypedDict):
    """``gates.verdict.Verdict`` as JSON: what the gate decided and why."""

    decision: Literal["promote", "reject", "unchanged"]
    candidate: str
    champion_version: str | None
    first_run: bool
    n_test: int
    outcomes: list[OutcomeRecord]
    summary: str
    #: ``{candidate: error}`` of the candidates that failed to train and were not judged.
    dropped: NotRequired[dict[str, str]]
    #: How the class-averaged metrics were combined (``Evaluation.averaging``).
    averaging: NotRequired[str]


class GateResult(TypedDict):
    """``gate``: the verdict on the best candidate, with what it was measured against."""

    verdict: VerdictRecord
    candidate: EvaluatedCandidate
    champion: ChampionScore | None


class ServingOutcomeRecord(TypedDict):
    """One check of the serving check, as ``gates.serving.ServingOutcome`` writes it."""

    check: str
    kind: Literal["parity", "latency", "malformed", "startup"]
    passed: bool
    reason: str
    value: float | None
    limit: float | None


class ServingCheckResult(TypedDict):
    """``serving_check``: how the gate's winner answered in a real model server (only a pass is returned)."""

    decision: Literal["pass", "fail"]
    model_uri: str
    rows: int
    outcomes: list[ServingOutcomeRecord]
    summary: str
    #: The server's loopback port and how long it took to answer /ping, for the log and the bench.
    port: int
    startup_seconds: float


class ApprovalRecord(TypedDict):
    """``approve``: who signed off (or rejected), when and why."""

    decision: Literal["approved", "rejected"]
    by: str
    at: str
    reason: str


class EnvironmentApproval(ApprovalRecord):
    """``approve_<env>``: the answer, and the source version it was given about (the promotion moves that one)."""

    version: str


class Registration(TypedDict):
    """``register``: the model version created for the gate's winner."""

    model_name: str
    version: str
    model_uri: str
    source_run_id: str
    url: str | None


class Promotion(TypedDict):
    """``promote``: where the alias points now and where it pointed before."""

    model_name: str
    alias: str
    version: str
    previous: str | None


class PromotionAcross(TypedDict):
    """``promote_<from>_to_<to>``: the version copied into the target environment and its alias there.

    ``version`` is the target registry's new version; ``source`` says where it came from, so the
    next hop (staging -> prod) promotes exactly this version, not whatever holds @champion by then.
    """

    environment: str
    model_name: str
    alias: str
    version: str
    previous: str | None
    source: dict[str, str]
    regate: str
    approval: EnvironmentApproval | None


class Deployment(TypedDict):
    """``deploy``: the version served at the endpoint after the rollout, its smoke check and its bake."""

    model_name: str
    version: str
    target: str
    endpoint: str
    url: str | None
    strategy: str
    decision: str
    smoke: dict[str, Any]
    bake: dict[str, Any]
