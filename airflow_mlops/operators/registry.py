"""Register the gate's winner with its provenance, then move the champion alias safely."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk.exceptions import AirflowSkipException

from airflow_mlops.governance.promotion import promote_version
from airflow_mlops.lineage_events import build as events
from airflow_mlops.links import ModelVersionLink
from airflow_mlops.operators.base import (
    MlflowBaseOperator,
    Upstream,
    event_extra,
    run_identity,
    task_lock_owner,
    upstream,
)
from airflow_mlops.record import paths, tag
from airflow_mlops.record.lineage import VersionLineage

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_mlops.contracts import (
        ApprovalRecord,
        DataRef,
        GateResult,
        PreparedDataset,
        Promotion,
        Registration,
        ServingCheckResult,
        ValidationDigest,
    )


class RegisterModelOperator(MlflowBaseOperator):
    """Create a model version for the gate's winner, carrying lineage tags and a model card.

    Only winners are registered, so the registry holds what may be served. Registration is
    keyed by (dag_id, run_id): a retry finds the version it already created. The model card
    (``card`` is the YAML's ``card:`` section) is built from the same lineage and stored on the
    version's run as JSON, Markdown and HTML; a retry writes it again, identical.
    """

    operator_extra_links = (ModelVersionLink(),)
    template_fields: Sequence[str] = ("gate", "data", "validation", "approval", "dataset", "serving_check")

    def __init__(
        self,
        *,
        gate: Upstream[GateResult],
        data: Upstream[DataRef],
        validation: Upstream[ValidationDigest],
        model_name: str,
        approval: Upstream[ApprovalRecord | None] = None,
        lineage: dict[str, str] | None = None,
        dataset: Upstream[PreparedDataset | None] = None,
        card: dict[str, Any] | None = None,
        serving_check: Upstream[ServingCheckResult | None] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.card = card or {}
        self.dataset: PreparedDataset | None = upstream(dataset)
        self.serving_check: ServingCheckResult | None = upstream(serving_check)
        self.gate: GateResult = upstream(gate)
        self.data: DataRef = upstream(data)
        self.validation: ValidationDigest = upstream(validation)
        self.approval: ApprovalRecord | None = upstream(approval)
        self.model_name = model_name
        self.lineage = lineage or {}

    def execute(self, context: Context) -> Registration:
        verdict = self.gate["verdict"]
        if verdict["decision"] != "promote":
            raise AirflowSkipException(f"nothing to register: {verdict['summary']}")
        dag_id, run_id = run_identity(context)
        candidate = self.gate["candidate"]
        recorded = VersionLineage.from_pipeline(
            dag_id=dag_id,
            run_id=run_id,
            data=self.data,
            validation=self.validation,
            gate=self.gate,
            code=self.lineage,
            # Who signed off, when a person had to (approval: manual); rejections never get here.
            approval=self.approval,
            # The data contract prepare_data checked, with the pipeline run's record of the check.
            contract=self.dataset.get("contract") if self.dataset else None,
            contract_uri=f"runs:/{self.validation['mlflow_run_id']}/{paths.DATA_CONTRACT}",
            # How the version answered in a real model server before it was registered.
            serving=self.serving_check,
        )
        hook = self.mlflow_hook
        with hook.session():
            existing = hook.find_model_version(self.model_name, {tag.DAG_ID: dag_id, tag.RUN_ID: run_id})
            if existing is not None:
                self.log.info("Version %s was already registered by this run; reusing it", existing.version)
                version = str(existing.version)
            else:
                description = tag.clip(f"{dag_id} {run_id}: {verdict['summary']}")
                version = hook.register_version(
                    self.model_name, candidate["model_uri"], recorded.to_tags(), description
                )
                self.log.info("Registered %s version %s from %s", self.model_name, version, candidate["model_uri"])
            self._log_card(version, recorded, candidate["mlflow_run_id"])
        registration: Registration = {
            "model_name": self.model_name,
            "version": version,
            "model_uri": f"models:/{self.model_name}/{version}",
            "source_run_id": candidate["mlflow_run_id"],
            "url": hook.model_version_url(self.model_name, version),
        }
        self.lineage_report = events.registration(registration, self.gate)
        return registration

    def _log_card(self, version: str, recorded: VersionLineage, run_id: str) -> None:
        """The version's model card, on its run (the one ``models:/name/version`` was logged in)."""
        from airflow_mlops.card.model import build_card
        from airflow_mlops.card.render import to_html, to_markdown

        card = build_card(self.model_name, version, recorded, self.card)
        client = self.mlflow_hook.get_client()
        self.mlflow_hook.log_json(run_id, card.model_dump(mode="json"), paths.MODEL_CARD_DATA)
        client.log_text(run_id, to_markdown(card), paths.MODEL_CARD_MARKDOWN)
        client.log_text(run_id, to_html(card), paths.MODEL_CARD_HTML)
        self.log.info("Model card of %s v%s: runs:/%s/%s", self.model_name, version, run_id, paths.MODEL_CARD_MARKDOWN)


class PromoteModelOperator(MlflowBaseOperator):
    """Move ``@champion`` to the new version and keep the old one as ``@previous``.

    The move is compare-and-set, under the model's promotion lock, against the champion the
    gate measured: if anything moved the alias since, promoting would skip the comparison the
    gate made, so it refuses (``on_conflict="refuse"``) or re-applies the gate against the new
    champion (``"reevaluate"``).
    """

    template_fields: Sequence[str] = ("registered", "gate")

    def __init__(
        self,
        *,
        registered: Upstream[Registration],
        gate: Upstream[GateResult],
        model_name: str,
        alias: str = "champion",
        previous_alias: str = "previous",
        on_conflict: Literal["refuse", "reevaluate"] = "refuse",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.on_conflict = on_conflict
        self.registered: Registration = upstream(registered)
        self.gate: GateResult = upstream(gate)
        self.model_name = model_name
        self.alias = alias
        self.previous_alias = previous_alias

    def execute(self, context: Context) -> Promotion:
        dag_id, run_id = run_identity(context)
        new_version = str(self.registered["version"])
        champion = self.gate.get("champion")
        expected = champion["version"] if champion else None
        hook = self.mlflow_hook
        with hook.session():
            # The CLI's `promote` goes through the same function, so both leave the same audit trail.
            moved = promote_version(
                hook.get_client(),
                self.model_name,
                new_version,
                expected_champion=expected,
                alias=self.alias,
                previous_alias=self.previous_alias,
                actor=f"airflow:{dag_id}/{run_id}",
                reason=self.gate["verdict"]["summary"],
                on_conflict=self.on_conflict,
                lock_owner=task_lock_owner(context),
            )
        if not moved["changed"]:
            self.log.info("@%s already points at version %s", self.alias, new_version)
            return self._result(new_version, expected, context)
        self.log.info(
            "@%s of %s: %s -> %s (@%s = %s)",
            self.alias,
            self.model_name,
            moved["previous"],
            new_version,
            self.previous_alias,
            moved["previous"],
        )
        return self._result(new_version, moved["previous"], context)

    def _result(self, version: str, previous: str | None, context: Context) -> Promotion:
        result: Promotion = {
            "model_name": self.model_name,
            "alias": self.alias,
            "version": version,
            "previous": previous,
        }
        for asset in self.outlets:
            context["outlet_events"][asset].extra = event_extra(result)
        self.lineage_report = events.promotion(result, self.gate)
        return result
