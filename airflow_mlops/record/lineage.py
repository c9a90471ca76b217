"""A model version's lineage as typed models, written as tags and read back by one pair of functions.

``register`` writes it onto the version it creates; governance, ``airflow-mlops lineage`` and the
UI read it back from the registry alone, so provenance still answers after Airflow's metadata is
gone. Reading is forgiving on purpose: a version registered by hand, or a tag someone edited,
reads as missing facts (None), never as an error.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from airflow_mlops.record import tag as t


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)


class DataLineage(_Record):
    """The DVC pin or snapshot the version was trained on, and for a snapshot where it came from."""

    repo: str | None = None
    path: str | None = None
    rev: str | None = None
    commit: str | None = None
    md5: str | None = None
    source: str | None = None
    conn_id: str | None = None
    query: str | None = None
    rows: str | None = None
    uri: str | None = None
    source_uri: str | None = None
    ingested_by: str | None = None

    def shown(self) -> dict[str, str | None]:
        """The DVC pin's fields, and a snapshot's lineage fields where they are known."""
        known = {field: getattr(self, field) for field in t.SNAPSHOT_FIELDS if getattr(self, field) is not None}
        return {**{field: getattr(self, field) for field in t.DATA_FIELDS}, **known}

    def snapshot_tags(self) -> dict[str, str]:
        """The snapshot's lineage fields that are known, as tags (none for plain DVC data)."""
        return {t.data_tag(field): t.clip(value) for field in t.SNAPSHOT_FIELDS if (value := getattr(self, field))}

    @classmethod
    def of(cls, fields: Mapping[str, Any]) -> DataLineage:
        """From a data ref or from tags without their prefix; every field as text, missing ones None."""
        known = (*t.DATA_FIELDS, *t.SNAPSHOT_FIELDS)
        return cls(**{field: str(fields[field]) for field in known if fields.get(field) is not None})


class ContractLineage(_Record):
    """The data contract the version was trained on: its columns, their types and the target.

    ``document`` is the contract (DataContract as JSON data) when it fitted a tag; a longer one is
    kept as its ``sha256`` and ``uri``, the pipeline run's artifact that holds the full check.
    """

    document: Any = None
    sha256: str | None = None
    uri: str | None = None

    def to_tags(self) -> dict[str, str]:
        """The contract as compact JSON when it fits a tag, its sha256, and where the full record is."""
        written: dict[str, str] = {}
        if self.document is not None:
            compact = json.dumps(self.document, sort_keys=True, separators=(",", ":"))
            written[t.CONTRACT_SHA256] = hashlib.sha256(compact.encode()).hexdigest()
            if len(compact) <= t.VALUE_MAX_CHARS:
                written[t.CONTRACT] = compact
        elif self.sha256:
            written[t.CONTRACT_SHA256] = self.sha256
        if self.uri:
            written[t.CONTRACT_URI] = t.clip(self.uri)
        return written

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> ContractLineage:
        return cls(
            document=json_tag(tags, t.CONTRACT), sha256=tags.get(t.CONTRACT_SHA256), uri=tags.get(t.CONTRACT_URI)
        )

    def columns(self) -> list[tuple[str, str]]:
        """(name, type) of each feature, then the target marked as such; empty when the document is not here."""
        document = self.document if isinstance(self.document, dict) else {}
        shown = [
            (str(c.get("name")), str(c.get("type") or "any"))
            for c in document.get("columns") or []
            if isinstance(c, dict)
        ]
        if document.get("target"):
            shown.append((str(document["target"]), f"{document.get('target_type') or 'any'}, target"))
        return shown


class ValidationLineage(_Record):
    """The validation result of that data (success, and the suite's statistics)."""

    success: bool | None = None
    statistics: Any = None


class TrainingLineage(_Record):
    """Which candidate, estimator and parameters produced the model, and in which MLflow run."""

    candidate: str | None = None
    estimator: str | None = None
    params: Any = None
    preprocessing: Any = None
    run_id: str | None = None


class GateLineage(_Record):
    """The gate's verdict that let the version be registered."""

    decision: str | None = None
    summary: str | None = None
    verdict: Any = None
    champion_version: str | None = None


class ServingLineage(_Record):
    """The serving check the version passed before it was registered; None when the pipeline skipped it."""

    decision: str | None = None
    summary: str | None = None


class PromotionLineage(_Record):
    """The audit of the last alias move onto (and off) this version."""

    promoted_at: str | None = None
    promoted_by: str | None = None
    promoted_from: str | None = None
    reason: str | None = None
    forced: bool | None = None
    action: str | None = None
    demoted_at: str | None = None
    demoted_by: str | None = None


class DeploymentLineage(_Record):
    """The deploy step's last rollout of this version (the latest wins); all None when it was never deployed.

    ``other`` holds the ``mlops.deploy.*`` tags this reader has no field for (a newer deploy step
    may record more), keyed without the prefix, so they are shown rather than dropped.
    """

    target: str | None = None
    endpoint: str | None = None
    url: str | None = None
    strategy: str | None = None
    decision: str | None = None
    summary: str | None = None
    at: str | None = None
    by: str | None = None
    smoke: Any = None
    #: The bake's verdict (airflow_mlops/deploy/bake.py), what a breach rolled back, a failed rollout's error.
    bake: Any = None
    rollback: Any = None
    error: str | None = None
    other: dict[str, str] = {}

    def shown(self) -> dict[str, Any] | None:
        """The rollout as plain data, None when the version was never deployed."""
        recorded = self.decision is not None or self.target is not None
        return self.model_dump() if recorded else None

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> DeploymentLineage:
        fields = {
            "target": t.DEPLOY_TARGET, "endpoint": t.DEPLOY_ENDPOINT, "url": t.DEPLOY_URL,
            "strategy": t.DEPLOY_STRATEGY, "decision": t.DEPLOY_DECISION, "summary": t.DEPLOY_SUMMARY,
            "at": t.DEPLOY_AT, "by": t.DEPLOY_BY,
        }  # fmt: skip
        known = {*fields.values(), t.DEPLOY_SMOKE, t.DEPLOY_BAKE, t.DEPLOY_ROLLBACK, t.DEPLOY_ERROR}
        recorded = t.unprefixed(t.DEPLOY_PREFIX, tags)
        other = {key: value for key, value in recorded.items() if t.DEPLOY_PREFIX + key not in known}
        return cls(
            **{field: tags.get(key) or None for field, key in fields.items()},
            smoke=json_tag(tags, t.DEPLOY_SMOKE),
            bake=json_tag(tags, t.DEPLOY_BAKE),
            rollback=json_tag(tags, t.DEPLOY_ROLLBACK),
            error=tags.get(t.DEPLOY_ERROR) or None,
            other=other,
        )


class VersionLineage(_Record):
    """Everything recorded on a version about where it came from."""

    dag_id: str | None = None
    run_id: str | None = None
    data: DataLineage = Field(default_factory=DataLineage)
    contract: ContractLineage = Field(default_factory=ContractLineage)
    validation: ValidationLineage = Field(default_factory=ValidationLineage)
    code: dict[str, str] = {}
    training: TrainingLineage = Field(default_factory=TrainingLineage)
    metrics: Any = None
    gate: GateLineage = Field(default_factory=GateLineage)
    serving: ServingLineage = Field(default_factory=ServingLineage)
    approval: dict[str, str] = {}
    promotion: PromotionLineage = Field(default_factory=PromotionLineage)
    #: Written by the deploy step, not by register (so not part of :meth:`to_tags`).
    deployment: DeploymentLineage = Field(default_factory=DeploymentLineage)

    def to_tags(self) -> dict[str, str]:
        """The tags ``register`` writes: identity, data, validation, gate, training, metrics, code, approval.

        The promotion audit is not part of it: governance writes that when an alias moves.
        A verdict too long for a tag is replaced by its summary, which stays readable.
        """
        verdict_json = json.dumps(self.gate.verdict, sort_keys=True)
        summary = t.clip(self.gate.summary or "")
        written = {
            t.DAG_ID: str(self.dag_id),
            t.RUN_ID: str(self.run_id),
            **{t.data_tag(field): str(getattr(self.data, field)) for field in t.DATA_FIELDS},
            **self.data.snapshot_tags(),
            t.VALIDATION_SUCCESS: str(self.validation.success).lower(),
            t.VALIDATION_STATISTICS: json.dumps(self.validation.statistics, sort_keys=True),
            t.GATE_DECISION: str(self.gate.decision),
            t.GATE_SUMMARY: summary,
            t.GATE_VERDICT: verdict_json if len(verdict_json) <= t.VALUE_MAX_CHARS else summary,
            t.GATE_CHAMPION_VERSION: str(self.gate.champion_version or ""),
            t.CANDIDATE: str(self.training.candidate),
            t.TRAINING_ESTIMATOR: str(self.training.estimator),
            t.TRAINING_PARAMS: t.clip(json.dumps(self.training.params or {}, sort_keys=True)),
            t.TRAINING_PREPROCESSING: json.dumps(self.training.preprocessing or {}, sort_keys=True),
            t.TRAINING_RUN_ID: str(self.training.run_id),
            t.METRICS: json.dumps(self.metrics, sort_keys=True),
        }
        written.update(self.contract.to_tags())
        if self.serving.decision:
            written[t.SERVING_DECISION] = self.serving.decision
            written[t.SERVING_SUMMARY] = t.clip(self.serving.summary or "")
        written.update(t.prefixed(t.CODE_PREFIX, self.code))
        written.update(t.prefixed(t.APPROVAL_PREFIX, self.approval))
        return written

    @classmethod
    def from_pipeline(
        cls,
        *,
        dag_id: str,
        run_id: str,
        data: Mapping[str, Any],
        validation: Mapping[str, Any],
        gate: Mapping[str, Any],
        code: Mapping[str, Any],
        approval: Mapping[str, Any] | None = None,
        contract: str | None = None,
        contract_uri: str | None = None,
        serving: Mapping[str, Any] | None = None,
    ) -> VersionLineage:
        """The lineage of the gate's winner, from what the pipeline's tasks returned in XCom.

        ``contract`` is the JSON prepare_data returned; ``contract_uri`` where its check is recorded;
        ``serving`` what serving_check returned (None when the pipeline has no serving check).
        """
        candidate, verdict = gate["candidate"], gate["verdict"]
        return cls(
            dag_id=dag_id,
            run_id=run_id,
            data=DataLineage.of(data),
            contract=ContractLineage(
                document=json.loads(contract) if contract else None, uri=contract_uri if contract else None
            ),
            validation=ValidationLineage(success=bool(validation["success"]), statistics=validation["statistics"]),
            code={key: str(value) for key, value in code.items()},
            training=TrainingLineage(
                candidate=str(candidate["candidate"]),
                estimator=str(candidate["estimator"]),
                params=candidate.get("params", {}),
                preprocessing=candidate.get("preprocessing", {}),
                run_id=str(candidate["mlflow_run_id"]),
            ),
            metrics=candidate["metrics"],
            gate=GateLineage(
                decision=verdict["decision"],
                summary=verdict["summary"],
                verdict=verdict,
                champion_version=str(verdict["champion_version"]) if verdict.get("champion_version") else None,
            ),
            serving=ServingLineage(decision=serving["decision"], summary=serving["summary"])
            if serving
            else ServingLineage(),
            approval={key: str(value) for key, value in (approval or {}).items()},
        )

    @classmethod
    def from_tags(cls, tags: Mapping[str, str], *, source_run_id: str | None = None) -> VersionLineage:
        """Read a version's tags back.

        ``source_run_id``, the version's own run, stands in for a training run that was not recorded.
        """
        verdict = json_tag(tags, t.GATE_VERDICT)
        forced = tags.get(t.PROMOTION_FORCED)
        return cls(
            dag_id=tags.get(t.DAG_ID),
            run_id=tags.get(t.RUN_ID),
            data=DataLineage.of(t.unprefixed(t.DATA_PREFIX, tags)),
            contract=ContractLineage.from_tags(tags),
            validation=ValidationLineage(
                success=bool_tag(tags, t.VALIDATION_SUCCESS), statistics=json_tag(tags, t.VALIDATION_STATISTICS)
            ),
            code=t.unprefixed(t.CODE_PREFIX, tags),
            training=TrainingLineage(
                candidate=tags.get(t.CANDIDATE),
                estimator=tags.get(t.TRAINING_ESTIMATOR),
                params=json_tag(tags, t.TRAINING_PARAMS),
                preprocessing=json_tag(tags, t.TRAINING_PREPROCESSING),
                run_id=tags.get(t.TRAINING_RUN_ID) or source_run_id,
            ),
            metrics=json_tag(tags, t.METRICS),
            gate=GateLineage(
                decision=tags.get(t.GATE_DECISION),
                summary=tags.get(t.GATE_SUMMARY) or (verdict.get("summary") if isinstance(verdict, dict) else None),
                verdict=verdict,
                champion_version=tags.get(t.GATE_CHAMPION_VERSION) or None,
            ),
            serving=ServingLineage(decision=tags.get(t.SERVING_DECISION), summary=tags.get(t.SERVING_SUMMARY)),
            approval=t.unprefixed(t.APPROVAL_PREFIX, tags),
            promotion=PromotionLineage(
                promoted_at=tags.get(t.PROMOTED_AT),
                promoted_by=tags.get(t.PROMOTED_BY),
                promoted_from=tags.get(t.PROMOTED_FROM) or None,
                reason=tags.get(t.PROMOTION_REASON),
                forced=None if forced is None else forced == "true",
                action=tags.get(t.PROMOTION_ACTION),
                demoted_at=tags.get(t.DEMOTED_AT),
                demoted_by=tags.get(t.DEMOTED_BY),
            ),
            deployment=DeploymentLineage.from_tags(tags),
        )


def lineage_tags(
    *,
    dag_id: str,
    run_id: str,
    data: Mapping[str, Any],
    validation: Mapping[str, Any],
    gate: Mapping[str, Any],
    lineage: Mapping[str, Any],
    approval: Mapping[str, Any] | None = None,
    contract: str | None = None,
    contract_uri: str | None = None,
    serving: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Everything an auditor needs to answer "where did this version come from?", as version tags."""
    return VersionLineage.from_pipeline(
        dag_id=dag_id,
        run_id=run_id,
        data=data,
        validation=validation,
        gate=gate,
        code=lineage,
        approval=approval,
        contract=contract,
        contract_uri=contract_uri,
        serving=serving,
    ).to_tags()


def json_tag(tags: Mapping[str, str], key: str) -> Any:
    """A JSON tag's value; None when it is absent or not JSON (cut short, or edited by hand)."""
    raw = tags.get(key)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def bool_tag(tags: Mapping[str, str], key: str) -> bool | None:
    """A ``true``/``false`` tag; None when it is absent or says anything else."""
    return {"true": True, "false": False}.get(tags.get(key, ""))
