"""The gate's verdict as a record: one outcome per rule, the decision, and its JSON form.

What the gate decided is stored on the MLflow run, on the model version and in XCom, and read
back by governance and the UI; this module owns that shape, :mod:`.decision` how it is reached.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from airflow_mlops.contracts import OutcomeRecord, VerdictRecord

#: ``unchanged``: the best candidate is the champion's own model (reused by step caching), so there is
#: nothing to register or promote; the rules were still judged and recorded.
Decision = Literal["promote", "reject", "unchanged"]


@dataclass(frozen=True)
class RuleOutcome:
    """One line of a verdict: what was checked, with which numbers, and why it passed or failed."""

    rule: str
    metric: str
    kind: Literal["threshold", "champion", "sample_size", "slice", "slice_gap"]
    candidate_value: float | None
    champion_value: float | None
    threshold: float | None
    passed: bool
    reason: str

    def to_dict(self) -> OutcomeRecord:
        return {
            "rule": self.rule,
            "metric": self.metric,
            "kind": self.kind,
            "candidate_value": _finite(self.candidate_value),
            "champion_value": _finite(self.champion_value),
            "threshold": _finite(self.threshold),
            "passed": self.passed,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Verdict:
    """The gate's decision with one outcome per rule; JSON-ready through ``to_dict``."""

    decision: Decision
    candidate: str
    champion_version: str | None
    first_run: bool
    n_test: int
    outcomes: tuple[RuleOutcome, ...] = field(default_factory=tuple)
    #: ``(candidate, error)`` of each candidate that failed to train and was not judged.
    dropped: tuple[tuple[str, str], ...] = ()
    #: How the class-averaged metrics were combined ("weighted average over 3 classes"), if any.
    averaging: str | None = None

    @property
    def passed(self) -> bool:
        return self.decision == "promote"

    @property
    def failed_outcomes(self) -> tuple[RuleOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.passed)

    def summary(self) -> str:
        passed = sum(o.passed for o in self.outcomes)
        if self.decision == "unchanged":
            return (
                f"UNCHANGED {self.candidate}: it is the model the champion (version {self.champion_version}) "
                "already serves; nothing to register or promote"
            )
        head = f"{self.decision.upper()} {self.candidate}: {passed}/{len(self.outcomes)} rules passed"
        if self.averaging:
            head += f" (precision, recall, f1, roc_auc: {self.averaging})"
        failed = self.failed_outcomes
        if failed:
            head += "; " + "; ".join(o.reason for o in failed)
        if self.dropped:
            head += "; dropped: " + "; ".join(f"{name} ({error})" for name, error in self.dropped)
        return head

    def to_dict(self) -> VerdictRecord:
        """Strict JSON: NaN and infinities become None, because stores and XCom reject them."""
        record: VerdictRecord = {
            "decision": self.decision,
            "candidate": self.candidate,
            "champion_version": self.champion_version,
            "first_run": self.first_run,
            "n_test": self.n_test,
            "outcomes": [o.to_dict() for o in self.outcomes],
            "summary": self.summary(),
        }
        if self.dropped:
            record["dropped"] = dict(self.dropped)
        if self.averaging:
            record["averaging"] = self.averaging
        return record

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        return cls(
            decision=data["decision"],
            candidate=data["candidate"],
            champion_version=data.get("champion_version"),
            first_run=bool(data["first_run"]),
            n_test=int(data["n_test"]),
            outcomes=tuple(RuleOutcome(**o) for o in data.get("outcomes", ())),
            dropped=tuple((str(k), str(v)) for k, v in (data.get("dropped") or {}).items()),
            averaging=data.get("averaging"),
        )


def unchanged(verdict: Verdict) -> Verdict:
    """The verdict when the best candidate is the champion's own model: a new version of it would change nothing.

    This is how an unchanged re-run ends (every step reused, the same candidate wins): no new
    version, no alias moved, and a verdict that says so rather than a rejection.
    """
    return replace(verdict, decision="unchanged")


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None
