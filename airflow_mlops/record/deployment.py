"""A version's rollout as the ``deploy`` step recorded it on the version (``mlops.deploy.*``), read back.

The run summary, ``airflow-mlops demo`` and the UI say where a version was deployed, what its smoke
check saw and what serves now from these tags alone, so the answer outlives both the endpoint and
Airflow's metadata. Reading is forgiving, as for lineage: a version never deployed reads as None,
and a smoke tag cut short or edited by hand reads as no smoke facts, never as an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from airflow_mlops.record import tag as t
from airflow_mlops.record.lineage import json_tag


class DeploymentRecord(BaseModel):
    """One version's latest rollout: where, how, the smoke verdict, and what it decided."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    version: str
    decision: str
    target: str | None = None
    endpoint: str | None = None
    url: str | None = None
    strategy: str | None = None
    summary: str | None = None
    at: str | None = None
    by: str | None = None
    smoke: dict[str, Any] | None = None
    #: The bake's verdict, what a breach (or a failed rollout) rolled back, and a failed rollout's error.
    bake: dict[str, Any] | None = None
    rollback: dict[str, Any] | None = None
    error: str | None = None
    #: The champion this version replaced (its promotion audit): what a rollback put back on the endpoint.
    replaced: str | None = None

    @classmethod
    def from_tags(cls, version: str, tags: Mapping[str, str]) -> DeploymentRecord | None:
        """The rollout recorded on ``version``; None when it was never deployed by a ``deploy`` step."""
        decision = tags.get(t.DEPLOY_DECISION)
        if not decision:
            return None
        smoke, bake, rollback = (json_tag(tags, key) for key in (t.DEPLOY_SMOKE, t.DEPLOY_BAKE, t.DEPLOY_ROLLBACK))
        return cls(
            version=str(version),
            decision=decision,
            target=tags.get(t.DEPLOY_TARGET) or None,
            endpoint=tags.get(t.DEPLOY_ENDPOINT) or None,
            url=tags.get(t.DEPLOY_URL) or None,
            strategy=tags.get(t.DEPLOY_STRATEGY) or None,
            summary=tags.get(t.DEPLOY_SUMMARY) or None,
            at=tags.get(t.DEPLOY_AT) or None,
            by=tags.get(t.DEPLOY_BY) or None,
            smoke=smoke if isinstance(smoke, dict) else None,
            bake=bake if isinstance(bake, dict) else None,
            rollback=rollback if isinstance(rollback, dict) else None,
            error=tags.get(t.DEPLOY_ERROR) or None,
            replaced=tags.get(t.PROMOTED_FROM) or None,
        )

    @property
    def rolled_back(self) -> bool:
        return self.decision == t.DeployDecision.ROLLED_BACK

    @property
    def serving_version(self) -> str | None:
        """The version the endpoint served once this rollout ended.

        The new one, unless the smoke check rolled it back: then the version it replaced, or none
        when it replaced nothing (a first version that fails its smoke check is stopped).
        """
        return self.replaced if self.rolled_back else self.version


def latest_deployment(versions: Iterable[tuple[str, Mapping[str, str]]]) -> DeploymentRecord | None:
    """The newest rollout among these ``(version, tags)``: the one that decided what the endpoint serves."""
    records = [r for version, tags in versions if (r := DeploymentRecord.from_tags(version, tags)) is not None]
    return max(records, key=lambda r: (r.at or "", int(r.version) if r.version.isdigit() else 0), default=None)
