"""A person's sign-off between a passing gate and the promotion, on Airflow's HITL approval.

Only built into DAGs whose spec says ``approval: manual``: the standard provider's HITL
module is imported with this one, and pipelines without approval never pay for it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk.definitions.param import ParamsDict
from airflow.sdk.exceptions import AirflowSkipException

from airflow_mlops.operators.base import (
    MlflowOperatorMixin,
    TranslatesErrors,
    Upstream,
    form_param,
    run_identity,
    upstream,
)
from airflow_mlops.record import tag

if TYPE_CHECKING:
    from airflow.sdk import Context, Param

    from airflow_mlops.contracts import ApprovalRecord, GateResult


def approval_body(gate: GateResult, model_name: str) -> str:
    """The verdict as a Markdown table: what the approver needs to decide, in one place."""
    verdict = gate["verdict"]
    candidate = gate["candidate"]
    champion = gate.get("champion")
    lines = [
        f"The gate passed **{verdict['candidate']}** (`{candidate.get('estimator', '')}`) for **{model_name}**.",
        "",
        f"Current champion: **v{champion['version']}**" if champion else "There is no champion yet.",
        "",
        "| rule | candidate | champion | threshold | result |",
        "|---|---|---|---|---|",
    ]

    def number(value: Any) -> str:
        return f"{value:.4f}" if isinstance(value, int | float) else "-"

    for outcome in verdict["outcomes"]:
        lines.append(
            f"| {outcome['rule']} | {number(outcome['candidate_value'])} | {number(outcome['champion_value'])} "
            f"| {number(outcome['threshold'])} | {'pass' if outcome['passed'] else 'FAIL'} |"
        )
    for name, error in sorted((verdict.get("dropped") or {}).items()):
        lines += ["", f"Candidate **{name}** failed to train and was not judged: {error}"]
    lines += ["", "Approve to register and promote it; reject to keep the current champion."]
    return "\n".join(lines)


class ModelApprovalOperator(TranslatesErrors, MlflowOperatorMixin, ApprovalOperator):
    """Ask for approval only when the gate passed, and record who decided and why.

    The decision is written to the DAG run's MLflow record before Airflow acts on it, so a
    rejection is auditable even though it promotes nothing; ``register`` copies an approval
    onto the model version.
    """

    template_fields = (*ApprovalOperator.template_fields, "gate")

    def __init__(
        self,
        *,
        gate: Upstream[GateResult],
        model_name: str,
        experiment: str,
        alias: str = "champion",
        approvers: list[str] | None = None,
        timeout_hours: float | None = None,
        mlflow_conn_id: str = "mlflow_default",
        **kwargs: Any,
    ) -> None:
        params = form_params(kwargs)  # before **kwargs is passed on: it takes "params" out
        super().__init__(
            subject=f"Promote a new {model_name} to @{alias}?",
            body="The gate's verdict appears here once the gate has decided.",
            params=params,
            assigned_users=[{"id": user, "name": user} for user in approvers or []] or None,
            response_timeout=timedelta(hours=timeout_hours) if timeout_hours else None,
            defaults=[self.REJECT] if timeout_hours else None,
            **kwargs,
        )
        self.gate: GateResult = upstream(gate)
        self.model_name = model_name
        self.experiment = experiment
        self.alias = alias
        self.timeout_hours = timeout_hours or 0.0
        self.mlflow_conn_id = mlflow_conn_id

    def execute(self, context: Context) -> Any:
        if self.gate["verdict"]["decision"] != "promote":
            raise AirflowSkipException(f"nothing to approve: {self.gate['verdict']['summary']}")
        self.body = approval_body(self.gate, self.model_name)
        return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        if "error" in event:
            # Nobody decided (e.g. an answer that failed validation): Airflow fails the task
            # and promotes nothing; recording a rejection "by timeout" would misstate it.
            return super().execute_complete(context=context, event=event)
        record = answer_record(event, self.timeout_hours)
        self._record(context, record)
        self.log.info("Promotion %s by %s: %s", record["decision"], record["by"], record["reason"] or "(no reason)")
        super().execute_complete(context=context, event=event)  # skips register/promote on reject
        return record

    def _record(self, context: Context, record: ApprovalRecord) -> None:
        dag_id, run_id = run_identity(context)
        hook = self.mlflow_hook
        with hook.session():
            experiment_id = hook.get_or_create_experiment(self.experiment)
            parent = hook.get_or_create_pipeline_run(experiment_id, dag_id, run_id)
            hook.log_batch(parent, tags=tag.prefixed(tag.APPROVAL_PREFIX, record))


def answer_record(event: dict[str, Any], timeout_hours: float) -> ApprovalRecord:
    """Who answered an HITL approval request, what and why; silence past the timeout is a rejection by ``timeout``."""
    chosen = event.get("chosen_options") or []
    user = event.get("responded_by_user") or {}
    by = user.get("id") or user.get("name")
    reason = str((event.get("params_input") or {}).get("reason", ""))
    if not by:  # nobody answered: Airflow applied the default, [Reject], when the timeout passed
        reason = reason or f"nobody answered within {timeout_hours:g} h; silence counts as a rejection"
    return {
        "decision": "approved" if chosen == [ApprovalOperator.APPROVE] else "rejected",
        "by": by or "timeout",
        "at": _iso(event.get("responded_at")),
        "reason": reason,
    }


def form_params(kwargs: dict[str, Any]) -> ParamsDict:
    """An approval form's fields: ``reason``, added to the params Airflow hands in (taken out of ``kwargs``).

    A DAG with params of its own (the retraining template's ``no_cache``) has Airflow pass them
    to every task merged into ``params``; passing ``params`` again would be a duplicate argument.
    The form still shows only the task's own fields: HITLOperator keeps the task-sourced ones.
    """
    params = ParamsDict(kwargs.pop("params", None) or {})
    params.update(ParamsDict(reason_param()))
    return params


def reason_param() -> dict[str, Param]:
    """The one field an approver fills in besides the choice: why, kept with the model."""
    return {
        "reason": form_param(
            "", type="string", title="Reason", description="Why you approve or reject; kept with the model."
        )
    }


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    return str(value) if value else datetime.now(UTC).isoformat(timespec="seconds")
