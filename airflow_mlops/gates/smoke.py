"""The smoke check after a rollout: pure judgement of what the endpoint answered.

The ``deploy`` task sends single-row requests built from the pinned test rows to the endpoint
it just switched, and hands what it saw here: whether each request got predictions, how long
it took, and the error when it did not. Like the gate's ``decide()``, this takes plain values
and returns a verdict with a reason per limit, so it is tested on lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from airflow_mlops.gates.serving import p95


@dataclass(frozen=True)
class SmokeLimits:
    """``deployment.smoke`` of the YAML."""

    max_error_rate: float = 0.0
    max_p95_ms: float = 1000.0


@dataclass(frozen=True)
class Probe:
    """One smoke request: answered with predictions or not, its time, and why it failed."""

    ok: bool
    elapsed_ms: float
    error: str | None = None


@dataclass(frozen=True)
class SmokeVerdict:
    requests: int
    failed: int
    error_rate: float
    p95_ms: float | None
    limits: SmokeLimits
    breaches: tuple[str, ...]
    first_error: str | None = None

    @property
    def passed(self) -> bool:
        return not self.breaches

    @property
    def decision(self) -> Literal["pass", "fail"]:
        return "pass" if self.passed else "fail"

    def summary(self) -> str:
        p95_text = "no answer timed" if self.p95_ms is None else f"p95 {self.p95_ms:.1f} ms"
        seen = f"{self.requests - self.failed}/{self.requests} requests answered, {p95_text}"
        if self.passed:
            return f"smoke check passed: {seen}"
        return f"smoke check failed: {'; '.join(self.breaches)} ({seen})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "summary": self.summary(),
            "requests": self.requests,
            "failed": self.failed,
            "error_rate": round(self.error_rate, 6),
            "p95_ms": None if self.p95_ms is None else round(self.p95_ms, 3),
            "limits": asdict(self.limits),
            "breaches": list(self.breaches),
            "first_error": self.first_error,
        }


def judge_smoke(probes: Sequence[Probe], limits: SmokeLimits) -> SmokeVerdict:
    """Error rate against ``max_error_rate`` and the p95 of the answered requests against ``max_p95_ms``."""
    if not probes:
        raise ValueError("a smoke check needs at least one request")
    failed = [p for p in probes if not p.ok]
    rate = len(failed) / len(probes)
    answered = [p.elapsed_ms for p in probes if p.ok]
    observed = p95(answered) if answered else None
    breaches = []
    if rate > limits.max_error_rate:
        breaches.append(f"error rate {rate:.1%} above max_error_rate {limits.max_error_rate:.1%}")
    if observed is None:
        breaches.append("no request was answered, so no latency was measured")
    elif observed > limits.max_p95_ms:
        breaches.append(f"p95 latency {observed:.1f} ms above max_p95_ms {limits.max_p95_ms:g} ms")
    first_error = next((p.error for p in failed if p.error), None)
    return SmokeVerdict(len(probes), len(failed), rate, observed, limits, tuple(breaches), first_error)
