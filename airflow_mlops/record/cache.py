"""Step cache keys: what a step's result depends on, and why an earlier result no longer fits.

A key is content, not time: the hashes of the step's inputs, the part of the pipeline spec the
step reads (and only that part, so changing one candidate keys that candidate alone), the
versions of the code that shapes its result, and the keys of the steps upstream. Two keys with
one digest mean the step would compute the same result, so an earlier one may be reused.

The whole key is stored beside the result it keys (``cache/<step>.json``), so that a miss can
say what changed ("spec.params.n_estimators: 100 -> 200") and a record edited by hand is
caught: its stored key no longer hashes to the digest it is filed under.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, JsonValue

#: Bumped when what a key holds changes meaning: every entry written before then misses.
KEY_SCHEMA = 1
#: The most changed fields a miss reason names before it says how many more there are.
REASON_FIELDS = 3
#: How much of a changed value a reason shows.
VALUE_CHARS = 40


class StepKey(BaseModel):
    """Everything a step's result depends on; ``digest`` is what an earlier result is found by."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    step: str
    inputs: dict[str, JsonValue] = {}
    spec: dict[str, JsonValue] = {}
    versions: dict[str, str] = {}
    upstream: dict[str, str] = {}
    schema_version: int = KEY_SCHEMA

    @property
    def digest(self) -> str:
        """sha256 of the key's canonical JSON: sorted keys, no whitespace, so equal keys hash alike."""
        return hashlib.sha256(canonical_json(self.model_dump(mode="json")).encode()).hexdigest()


def canonical_json(value: Any) -> str:
    """One spelling per value: a dict's key order or a float's ``1`` vs ``1.0`` never changes a digest."""
    return json.dumps(_normalised(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _normalised(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _normalised(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalised(v) for v in value]
    return value


def miss_reason(earlier: StepKey, now: StepKey) -> str:
    """What differs between an earlier step's key and this one's, named by field: why the result is not reused."""
    if earlier.schema_version != now.schema_version:
        return f"the cache key's layout changed (schema {earlier.schema_version} -> {now.schema_version})"
    old, new = _flat(earlier.model_dump(mode="json")), _flat(now.model_dump(mode="json"))
    changed = [name for name in sorted(old.keys() | new.keys()) if old.get(name, _ABSENT) != new.get(name, _ABSENT)]
    if not changed:
        return "nothing differs from the earlier key"
    parts = [_change(name, old.get(name, _ABSENT), new.get(name, _ABSENT)) for name in changed[:REASON_FIELDS]]
    more = len(changed) - REASON_FIELDS
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


class _Absent:
    def __repr__(self) -> str:
        return "(none)"


_ABSENT = _Absent()


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"spec": {"params": {"C": 1}}}`` -> ``{"spec.params.C": 1}``; lists stay whole, one field each."""
    if isinstance(value, dict) and value:
        found: dict[str, Any] = {}
        for key, inner in value.items():
            found.update(_flat(inner, f"{prefix}.{key}" if prefix else str(key)))
        return found
    return {prefix: value}


def _change(name: str, old: Any, new: Any) -> str:
    if name.startswith("upstream."):
        return f"{name[len('upstream.') :]} changed upstream"
    return f"{name}: {_show(old)} -> {_show(new)}"


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, _Absent) else json.dumps(value, sort_keys=True)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 3] + "..."


@dataclass(frozen=True)
class CacheOutcome:
    """Whether a step reused an earlier result, and from where, or why not: what the run summary shows.

    ``source_run_id`` is the MLflow run holding the reused result and ``source_dag_run`` the Airflow
    run that computed it; ``result`` is that step's return value as it was then. ``source_run`` is
    that MLflow run as the look-up found it (its params, metrics, tags and artifact URI), so a step
    that copies from it on a hit fetches nothing again; it is not part of the record.
    """

    step: str
    hit: bool
    reason: str
    key: str
    source_run_id: str | None = None
    source_dag_run: str | None = None
    result: dict[str, Any] | None = field(default=None, compare=False)
    source_run: Any = field(default=None, compare=False, repr=False)

    def record(self) -> dict[str, Any]:
        """The outcome as the record and lineage store it (without the result, which the step returns)."""
        record: dict[str, Any] = {"step": self.step, "hit": self.hit, "reason": self.reason, "key": self.key}
        if self.source_run_id:
            record |= {"source_run_id": self.source_run_id, "source_dag_run": self.source_dag_run}
        return record

    def to_json(self) -> str:
        return json.dumps(self.record(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CacheOutcome:
        data = json.loads(text)
        return cls(
            step=str(data["step"]),
            hit=bool(data["hit"]),
            reason=str(data["reason"]),
            key=str(data["key"]),
            source_run_id=data.get("source_run_id"),
            source_dag_run=data.get("source_dag_run"),
        )

    def summary(self) -> str:
        """One line: ``HIT from <dag run>`` or ``MISS: <reason>``."""
        if self.hit:
            return f"HIT  reused from {self.source_dag_run} (MLflow run {self.source_run_id})"
        return f"MISS {self.reason}"
