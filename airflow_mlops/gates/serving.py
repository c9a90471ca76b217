"""The serving check's verdict: what a real model server answered, judged against offline scoring and limits.

Pure logic, like the gate: the operator hands in what it observed (the served predictions, each
timed request, each malformed request's status) and the limits from YAML, and gets a verdict
back. Nothing here knows about HTTP, MLflow or Airflow, so every rule is tested on plain lists.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

#: The malformed requests the check can send; each must be refused with a 4xx.
MalformedProbe = Literal["missing_column", "wrong_type", "empty_batch"]
MALFORMED_PROBES: tuple[MalformedProbe, ...] = ("missing_column", "wrong_type", "empty_batch")
#: What a malformed request proves when it is refused.
PROBE_MEANING: dict[str, str] = {
    "missing_column": "a request without one of the model's input columns",
    "wrong_type": "a request with text in a numeric column",
    "empty_batch": "a request with no rows",
}

Kind = Literal["parity", "latency", "malformed", "startup"]


@dataclass(frozen=True)
class ServingLimits:
    """The YAML's ``serving_check:`` limits, as plain numbers."""

    absolute_tolerance: float = 1e-6
    relative_tolerance: float = 1e-6
    min_label_match: float = 1.0
    max_p95_ms: float = 500.0


@dataclass(frozen=True)
class Answer:
    """One HTTP answer of the server: its status (None when nothing answered) and prediction count."""

    status: int | None
    predictions: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class ServingOutcome:
    """One check's result, with the reason a person reads in the verdict, the report and the UI."""

    check: str
    kind: Kind
    passed: bool
    reason: str
    value: float | None = None
    limit: float | None = None


@dataclass(frozen=True)
class ServingVerdict:
    """Every check of one served model; it passes only when each of them does."""

    model_uri: str
    rows: int
    outcomes: list[ServingOutcome] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.outcomes) and all(o.passed for o in self.outcomes)

    @property
    def decision(self) -> Literal["pass", "fail"]:
        return "pass" if self.passed else "fail"

    def summary(self) -> str:
        failed = [o.reason for o in self.outcomes if not o.passed]
        if not failed:
            return f"PASS: served {self.model_uri} matched its offline predictions on {self.rows} rows; " + "; ".join(
                o.reason for o in self.outcomes if o.kind != "parity"
            )
        return f"FAIL: served {self.model_uri}: " + "; ".join(failed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "model_uri": self.model_uri,
            "rows": self.rows,
            "outcomes": [asdict(o) for o in self.outcomes],
            "summary": self.summary(),
        }


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _close(offline: Any, served: Any, limits: ServingLimits) -> bool:
    if _is_number(offline) and _is_number(served):
        if math.isnan(offline) or math.isnan(served):
            return math.isnan(offline) and math.isnan(served)
        return math.isclose(
            float(offline), float(served), rel_tol=limits.relative_tolerance, abs_tol=limits.absolute_tolerance
        )
    return bool(offline == served)


def parity(
    offline: Sequence[Any],
    served: Sequence[Any] | None,
    problem: str,
    limits: ServingLimits,
    failure: str | None = None,
) -> ServingOutcome:
    """Served predictions against the ones ``evaluate`` made on the same rows.

    Regression: every value within the absolute or relative tolerance (``math.isclose``).
    Classification: labels compared exactly, and the share that match must reach
    ``min_label_match`` (1.0 by default: every label). ``failure`` says why nothing was served.
    """
    if served is None:
        why = f": {failure}" if failure else ""
        return ServingOutcome("parity", "parity", False, f"parity: no predictions served for the test rows{why}")
    if len(served) != len(offline):
        return ServingOutcome(
            "parity",
            "parity",
            False,
            f"parity: {len(served)} predictions served for {len(offline)} test rows",
        )
    if not offline:
        return ServingOutcome("parity", "parity", False, "parity: no offline predictions to compare with")
    differ = [i for i, (a, b) in enumerate(zip(offline, served, strict=True)) if not _close(a, b, limits)]
    first = (
        f"; first at row {differ[0]}: offline {offline[differ[0]]!r}, served {served[differ[0]]!r}" if differ else ""
    )
    if problem == "classification":
        rate = 1 - len(differ) / len(offline)
        passed = rate >= limits.min_label_match
        reason = (
            f"parity: {rate:.2%} of {len(offline)} served labels equal the offline ones "
            f"(at least {limits.min_label_match:.2%} required){first}"
        )
        return ServingOutcome("parity", "parity", passed, reason, rate, limits.min_label_match)
    worst = max(
        (abs(float(a) - float(b)) for a, b in zip(offline, served, strict=True) if _is_number(a) and _is_number(b)),
        default=0.0,
    )
    reason = (
        f"parity: {len(differ)} of {len(offline)} served values outside abs {limits.absolute_tolerance:g} / "
        f"rel {limits.relative_tolerance:g} of the offline ones (largest difference {worst:.6g}){first}"
    )
    return ServingOutcome("parity", "parity", not differ, reason, worst, limits.absolute_tolerance)


def p95(values: Sequence[float]) -> float:
    """The 95th percentile by nearest rank: a value that was actually observed."""
    if not values:
        raise ValueError("p95 of no values")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def latency(latencies_ms: Sequence[float], limits: ServingLimits) -> ServingOutcome:
    """The p95 of single-row requests against ``max_p95_ms``."""
    if not latencies_ms:
        return ServingOutcome("latency", "latency", False, "latency: no request was timed")
    observed = p95(latencies_ms)
    passed = observed <= limits.max_p95_ms
    reason = (
        f"latency: p95 {observed:.1f} ms over {len(latencies_ms)} single-row requests "
        f"({'within' if passed else 'over'} the {limits.max_p95_ms:g} ms limit)"
    )
    return ServingOutcome("latency", "latency", passed, reason, observed, limits.max_p95_ms)


def malformed(probe: str, answer: Answer) -> ServingOutcome:
    """A malformed request must be refused with a 4xx: never a crash (5xx), nor scored as if valid.

    An empty batch may also be answered 200 with no predictions, which is a correct answer.
    """
    what = PROBE_MEANING.get(probe, probe)
    status = answer.status
    if status is None:
        reason = f"{probe}: {what} got no answer ({answer.error or 'connection closed'})"
        return ServingOutcome(probe, "malformed", False, reason)
    if 400 <= status < 500:
        return ServingOutcome(probe, "malformed", True, f"{probe}: {what} refused with {status}", status)
    if status == 200 and probe == "empty_batch" and answer.predictions == 0:
        return ServingOutcome(probe, "malformed", True, f"{probe}: {what} answered with no predictions", status)
    if status == 200:
        reason = f"{probe}: {what} was scored as if valid (200, {answer.predictions} predictions); expected a 4xx"
    else:
        reason = f"{probe}: {what} got {status}; expected a 4xx, a server error means the model crashed on it"
    return ServingOutcome(probe, "malformed", False, reason, status)


def not_served(model_uri: str, rows: int, reason: str) -> ServingVerdict:
    """The verdict when the model server exited before it answered: nothing else could be checked."""
    return ServingVerdict(model_uri, rows, [ServingOutcome("startup", "startup", False, f"startup: {reason}")])


def judge(
    *,
    model_uri: str,
    problem: str,
    offline: Sequence[Any],
    served: Sequence[Any] | None,
    latencies_ms: Sequence[float],
    malformed_answers: Mapping[str, Answer],
    limits: ServingLimits,
    batch_failure: str | None = None,
) -> ServingVerdict:
    """Every outcome of one serving check, parity first."""
    outcomes = [parity(offline, served, problem, limits, batch_failure), latency(latencies_ms, limits)]
    outcomes += [malformed(probe, answer) for probe, answer in malformed_answers.items()]
    return ServingVerdict(model_uri=model_uri, rows=len(offline), outcomes=outcomes)
