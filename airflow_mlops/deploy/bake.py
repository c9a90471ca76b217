"""The bake: after a rollout, watch the new version where it serves, and decide whether it stays.

For ``bake_seconds`` (one round when it is 0) the ``deploy`` task, in rounds of about
``poll_seconds``:
- sends its share of the smoke requests (single rows of the pinned test split) to the endpoint;
- sends its share of the parity requests: the rows ``evaluate`` scored, each pinned to the new
  version where the target can pin (the local proxy's ``X-Mlops-Pin``), and compares what the
  version answers with the prediction ``evaluate`` recorded for that row;
- reads the new version's live answers at the endpoint since the rollout (the local proxy's
  ``/-/mlops/stats``: every request, the bake's and everyone else's), where the target has them;
  a target without them is judged on the bake's own requests only;
and after every round judges all the evidence so far against the limits; once ``bake_seconds``
are up it reads the live stats one last time and judges again. The first round that breaches
ends the bake (the caller rolls back); a bake that never breaches passes.

Everything here but :func:`run_bake`'s waiting is pure: it takes plain values and returns a
verdict with one reason per breached limit, so the decisions are tested on lists.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, Protocol

from airflow_mlops.gates.smoke import Probe, SmokeLimits, SmokeVerdict, judge_smoke

#: How often the bake reads the live stats and judges, when ``bake_seconds`` is longer.
POLL_SECONDS = 2.0


@dataclass(frozen=True)
class BakeLimits:
    """``deployment.smoke`` of the YAML: the error rate, the latency and how far live predictions may drift."""

    max_error_rate: float = 0.0
    max_p95_ms: float = 1000.0
    max_label_disagreement: float = 0.0
    max_mean_abs_diff: float = 1e-6

    def smoke(self) -> SmokeLimits:
        return SmokeLimits(self.max_error_rate, self.max_p95_ms)


@dataclass(frozen=True)
class LiveStats:
    """The new version's answers at the endpoint since the rollout, as the target counted them."""

    requests: int
    errors: int
    p95_ms: float | None

    @classmethod
    def of(cls, stats: dict[str, Any], model_uri: str) -> LiveStats:
        """One version's entry of the local proxy's ``/-/mlops/stats`` (no entry: no answer yet)."""
        entry = (stats.get("versions") or {}).get(model_uri) or {}
        requests = int(entry.get("requests") or 0)
        return cls(requests, int(entry.get("errors") or 0), float(entry["p95_ms"]) if requests else None)


@dataclass(frozen=True)
class Parity:
    """Live predictions of the new version against the offline ones ``evaluate`` recorded for the same rows."""

    kind: Literal["labels", "values"]
    compared: int
    disagreeing: int
    mean_abs_diff: float | None
    first_difference: str | None = None

    @property
    def disagreement(self) -> float:
        return self.disagreeing / self.compared if self.compared else 0.0


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_label(value: Any) -> bool:
    return not _is_number(value) or isinstance(value, int) or float(value).is_integer()


def compare_predictions(
    offline: Sequence[Any], live: Sequence[Any], problem: Literal["classification", "regression"] | None = None
) -> Parity:
    """Row by row: labels (classification) must be equal; values (regression) are compared by absolute difference.

    Without ``problem``, predictions that are all labels (text, booleans, whole numbers) are labels.
    """
    if len(offline) != len(live):
        raise ValueError(f"{len(live)} live predictions for {len(offline)} offline ones")
    if problem is None:
        problem = "classification" if all(_is_label(v) for v in offline) else "regression"
    if problem == "classification":
        differ = [i for i, (a, b) in enumerate(zip(offline, live, strict=True)) if a != b]
        first = f"row {differ[0]}: offline {offline[differ[0]]!r}, live {live[differ[0]]!r}" if differ else None
        return Parity("labels", len(offline), len(differ), None, first)
    diffs = [
        abs(float(a) - float(b)) if _is_number(a) and _is_number(b) else math.inf
        for a, b in zip(offline, live, strict=True)
    ]
    mean = sum(diffs) / len(diffs) if diffs else None
    worst = max(range(len(diffs)), key=diffs.__getitem__, default=None)
    first = (
        None if worst is None or not diffs[worst] else f"row {worst}: offline {offline[worst]!r}, live {live[worst]!r}"
    )
    return Parity("values", len(offline), sum(1 for d in diffs if d), mean, first)


@dataclass(frozen=True)
class BakeVerdict:
    """What the bake saw of the new version, and the limits it breached (none: it stays)."""

    model_uri: str
    smoke: SmokeVerdict
    live: LiveStats | None
    parity: Parity | None
    limits: BakeLimits
    breaches: tuple[str, ...]
    #: The requests pinned to the new version for the parity check: sent, and failed (no predictions).
    pinned: tuple[int, int] = (0, 0)
    seconds: float = 0.0
    rounds: int = 1
    notes: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return not self.breaches

    def summary(self) -> str:
        seen = [f"{self.smoke.requests - self.smoke.failed}/{self.smoke.requests} smoke requests answered"]
        if self.pinned[1]:
            seen.append(f"{self.pinned[1]}/{self.pinned[0]} pinned requests failed")
        if self.live is not None:
            p95 = "" if self.live.p95_ms is None else f", p95 {self.live.p95_ms:.1f} ms"
            seen.append(f"live {self.live.errors} errors in {self.live.requests} requests{p95}")
        if self.parity is not None:
            drift = (
                f"{self.parity.disagreeing}/{self.parity.compared} labels differ"
                if self.parity.kind == "labels"
                else f"mean |live - offline| {self.parity.mean_abs_diff:.3g} on {self.parity.compared} rows"
            )
            seen.append(drift)
        watched = f"{', '.join(seen)}; {self.rounds} round(s) over {self.seconds:.1f} s"
        if self.notes:
            watched += f"; {'; '.join(self.notes)}"
        if self.passed:
            return f"bake passed: {watched}"
        return f"bake breached: {'; '.join(self.breaches)} ({watched})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": "pass" if self.passed else "fail",
            "summary": self.summary(),
            "model_uri": self.model_uri,
            "breaches": list(self.breaches),
            "limits": asdict(self.limits),
            "live": None if self.live is None else asdict(self.live),
            "parity": None if self.parity is None else {**asdict(self.parity), "share": self.parity.disagreement},
            "pinned": {"sent": self.pinned[0], "failed": self.pinned[1]},
            "seconds": round(self.seconds, 3),
            "rounds": self.rounds,
            "notes": list(self.notes),
        }


def judge_bake(
    model_uri: str,
    smoke: SmokeVerdict,
    live: LiveStats | None,
    parity: Parity | None,
    limits: BakeLimits,
    pinned: tuple[int, int] = (0, 0),
    **seen: Any,
) -> BakeVerdict:
    """The smoke verdict's breaches, then the pinned requests', the live error rate and p95, the prediction drift."""
    breaches = list(smoke.breaches)
    sent, failed = pinned
    if sent and failed / sent > limits.max_error_rate:
        breaches.append(
            f"{failed} of {sent} requests pinned to the new version got no predictions, above max_error_rate "
            f"{limits.max_error_rate:.1%}"
        )
    if live is not None and live.requests:
        rate = live.errors / live.requests
        if rate > limits.max_error_rate:
            breaches.append(
                f"live error rate {rate:.1%} ({live.errors}/{live.requests}) above max_error_rate "
                f"{limits.max_error_rate:.1%}"
            )
        if live.p95_ms is not None and live.p95_ms > limits.max_p95_ms:
            breaches.append(f"live p95 latency {live.p95_ms:.1f} ms above max_p95_ms {limits.max_p95_ms:g} ms")
    if parity is not None and parity.compared:
        where = f" (first at {parity.first_difference})" if parity.first_difference else ""
        if parity.kind == "labels" and parity.disagreement > limits.max_label_disagreement:
            breaches.append(
                f"live labels differ from the offline ones on {parity.disagreement:.1%} of {parity.compared} rows, "
                f"above max_label_disagreement {limits.max_label_disagreement:.1%}{where}"
            )
        if parity.kind == "values" and (parity.mean_abs_diff or 0.0) > limits.max_mean_abs_diff:
            breaches.append(
                f"mean |live - offline| {parity.mean_abs_diff:.3g} on {parity.compared} rows above "
                f"max_mean_abs_diff {limits.max_mean_abs_diff:g}{where}"
            )
    return BakeVerdict(model_uri, smoke, live, parity, limits, tuple(breaches), pinned, **seen)


class BakeTarget(Protocol):
    """What the bake needs of a rollout target (airflow_mlops/deploy/rollout.py)."""

    def probe(self, name: str, body: bytes) -> Probe: ...

    def predict_pinned(self, name: str, body: bytes, model_uri: str) -> tuple[Probe, list[Any] | None]: ...

    def live_stats(self, name: str, model_uri: str, since: float) -> LiveStats | None: ...


def _share(items: Sequence[Any], rounds: int, index: int) -> Sequence[Any]:
    """Round ``index``'s even share of ``items`` (none after the last); the first round always sends one."""
    return items[math.ceil(len(items) * index / rounds) : math.ceil(len(items) * (index + 1) / rounds)]


def run_bake(
    target: BakeTarget,
    name: str,
    model_uri: str,
    *,
    smoke_bodies: Sequence[bytes],
    parity_rows: Sequence[tuple[bytes, Any]],
    limits: BakeLimits,
    bake_seconds: float,
    problem: Literal["classification", "regression"] | None = None,
    poll_seconds: float = POLL_SECONDS,
    notes: Sequence[str] = (),
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> BakeVerdict:
    """Watch ``model_uri`` on endpoint ``name`` for ``bake_seconds``; stop at the first round that breaches."""
    if not smoke_bodies:
        raise ValueError("a bake needs at least one smoke request")
    rounds = max(1, math.ceil(bake_seconds / poll_seconds)) if bake_seconds > 0 else 1
    # A bake with time ends with one more look at the live stats once that time is up.
    checks = rounds + 1 if bake_seconds > 0 else 1
    since, started = wall(), clock()
    probes: list[Probe] = []
    pinned = [0, 0]
    offline: list[Any] = []
    live_answers: list[Any] = []
    verdict: BakeVerdict | None = None
    for index in range(checks):
        probes.extend(target.probe(name, body) for body in _share(smoke_bodies, rounds, index))
        for body, expected in _share(parity_rows, rounds, index):
            probe, answered = target.predict_pinned(name, body, model_uri)
            pinned[0] += 1
            pinned[1] += 0 if probe.ok else 1
            if answered is not None and len(answered) == 1:
                offline.append(expected)
                live_answers.append(answered[0])
        parity = compare_predictions(offline, live_answers, problem) if offline else None
        live = target.live_stats(name, model_uri, since)
        verdict = judge_bake(
            model_uri, judge_smoke(probes, limits.smoke()), live, parity, limits, (pinned[0], pinned[1]),
            seconds=clock() - started, rounds=index + 1, notes=tuple(notes),
        )  # fmt: skip
        if not verdict.passed or index == checks - 1:
            break
        wait = started + bake_seconds * (index + 1) / rounds - clock()
        if wait > 0:
            sleep(wait)
    assert verdict is not None
    if parity_rows and not offline and pinned[0] > pinned[1]:
        note = f"live predictions not compared: no pinned answer came from {model_uri} (a proxy that cannot pin?)"
        verdict = replace(verdict, notes=(*verdict.notes, note))
    return verdict
