"""A person's answer, on Airflow's HITL approval, before a promotion into an environment whose policy asks for one.

The answer is not acted on here: approved or rejected, it goes to the ``PromoteAcrossOperator``
downstream, which hands it to ``promote_across`` as the approval record (the same tags the
command's ``--approved-by/--rejected-by --reason`` leave). So a rejection is recorded in both
registries by the one function that records every promotion, and the re-gate and the policy
check still run after an approval: answering is never a way around them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLOperator
from airflow.sdk.exceptions import TaskAwaitingInput

from airflow_mlops.operators.across import AcrossEnvironments, Environments
from airflow_mlops.operators.approval import answer_record, form_params
from airflow_mlops.operators.base import TranslatesErrors, Upstream

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_mlops.contracts import EnvironmentApproval, PromotionAcross


def across_body(preview: dict[str, Any]) -> str:
    """What the approver needs to decide, as Markdown: the version, the gate it passed, what it would replace."""
    src, tgt = preview["source"], preview["target"]
    champion = f"v{tgt['champion']}" if tgt["champion"] else "nothing yet"
    return "\n".join(
        [
            f"Promote **{src['model_name']} v{src['version']}** from environment **{src['environment']}** "
            f"(connection `{src['conn_id']}`, {src['uri']}) into **{tgt['environment']}** as "
            f"**{tgt['model_name']}** (connection `{tgt['conn_id']}`, {tgt['uri']}).",
            "",
            f"- its gate in {src['environment']}: **{src['gate_decision'] or 'none on record'}** "
            f"{src['gate_summary']}".rstrip(),
            f"- @{tgt['alias']} in {tgt['environment']} now: **{champion}**",
            f"- re-gate after your answer: on {tgt['holdout'] or 'no holdout declared (the promotion will refuse)'}"
            f", against that champion",
            "",
            "Approve to let the re-gate decide and, if it passes, move the alias; reject to keep "
            f"{tgt['environment']} as it is. Either answer is recorded in both registries.",
        ]
    )


class EnvironmentApprovalOperator(AcrossEnvironments, TranslatesErrors, ApprovalOperator):
    """Ask a person whether ``from_env``'s version may go into ``to_env``; return their answer, act on neither.

    Both registries are reached before anyone is asked, so a dead or wrong target fails here,
    naming the environment, its connection and the URI. A rejection does not skip the promotion
    task: that task records it in both registries and skips itself.
    """

    template_fields = (*ApprovalOperator.template_fields, "after")

    def __init__(
        self,
        *,
        environments: Environments,
        from_env: str,
        to_env: str,
        version: str = "champion",
        after: Upstream[PromotionAcross | None] = None,
        approvers: list[str] | None = None,
        timeout_hours: float | None = None,
        **kwargs: Any,
    ) -> None:
        params = form_params(kwargs)  # before **kwargs is passed on: it takes "params" out
        super().__init__(
            subject=f"Promote from {from_env} to {to_env}?",
            body="What is promoted appears here once both registries have answered.",
            params=params,
            assigned_users=[{"id": user, "name": user} for user in approvers or []] or None,
            response_timeout=timedelta(hours=timeout_hours) if timeout_hours else None,
            defaults=[self.REJECT] if timeout_hours else None,
            **kwargs,
        )
        self._init_across(environments, from_env, to_env, version, after)
        self.timeout_hours = timeout_hours or 0.0

    def execute(self, context: Context) -> Any:
        from airflow_mlops.governance.across_view import preview_across

        preview = preview_across(self.declared(), self.from_env, self.to_env, self.source_ref())
        src = preview["source"]
        self.subject = f"Promote {src['model_name']} v{src['version']} from {self.from_env} to {self.to_env}?"
        self.body = across_body(preview)
        try:
            return super().execute(context)
        except TaskAwaitingInput as parked:
            # The answer is about this version: it rides with the parked task (Airflow keeps next_kwargs
            # when it adds the answer), so the promotion moves exactly it, whatever @champion is by then.
            parked.kwargs = {**(parked.kwargs or {}), "asked_version": str(src["version"])}
            raise

    def execute_complete(self, context: Context, event: dict[str, Any], asked_version: str = "") -> Any:
        if "error" in event:
            # Nobody decided (an answer that failed validation): the task fails, nothing is promoted.
            return HITLOperator.execute_complete(self, context=context, event=event)
        HITLOperator.execute_complete(self, context=context, event=event)  # validates the answer
        record: EnvironmentApproval = {**answer_record(event, self.timeout_hours), "version": asked_version}
        self.log.info(
            "Promotion %s -> %s %s by %s: %s", self.from_env, self.to_env, record["decision"], record["by"],
            record["reason"] or "(no reason)",
        )  # fmt: skip
        return record
