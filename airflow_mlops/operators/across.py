"""Promote a model from one declared environment to the next inside a DAG: a thin task over ``promote_across``.

The task does what ``airflow-mlops promote --from ENV --to ENV`` does, through the same function,
so a DAG leaves the same record as a person at the command line: both registries reached first,
the source gate checked, the re-gate on the target's own holdout data against its own champion,
the approval the target's policy asks for (an ``EnvironmentApprovalOperator`` upstream), then
compare-and-set under the target's lock and the audit in both registries. There is no ``force``
here: skipping the gates is a person's recorded decision on the command line, not a DAG's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowSkipException

from airflow_mlops.operators.base import MlopsBaseOperator, Upstream, run_identity, task_lock_owner, upstream

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_mlops.contracts import EnvironmentApproval, PromotionAcross
    from airflow_mlops.spec.models_environments import EnvironmentSpec

#: What ``environments=`` takes: the YAML file that declares them, or the declarations themselves.
Environments = str | Path | Mapping[str, Mapping[str, Any]]


class AcrossEnvironments:
    """What the promotion and its approval share: the two environments and which version moves."""

    mlflow_conn_id = ""  # an error names the environments' own connections, in its message

    def _init_across(
        self,
        environments: Environments,
        from_env: str,
        to_env: str,
        version: str,
        after: Upstream[PromotionAcross | None],
    ) -> None:
        # Declarations are checked as the DAG is built; a file is read again when the task runs.
        self.environments: str | dict[str, dict[str, Any]] = (
            str(environments)
            if isinstance(environments, str | Path)
            else {name: dict(spec) for name, spec in environments.items()}
        )
        if not isinstance(self.environments, str):
            self.declared()
        if from_env == to_env:
            raise ValueError(f"from_env and to_env both name environment {from_env!r}")
        self.from_env = from_env
        self.to_env = to_env
        self.version = version
        self.after: PromotionAcross | None = upstream(after)

    def declared(self) -> dict[str, EnvironmentSpec]:
        from airflow_mlops.spec.environments_file import environments_from

        return environments_from(self.environments)

    def source_ref(self, approval: EnvironmentApproval | None = None) -> str:
        """The version to promote: the one a person was asked about, else the one the previous hop copied in,
        else ``version``."""
        if approval and approval.get("version"):
            return str(approval["version"])
        after = self.after
        if not after:
            return self.version
        if after["environment"] != self.from_env:
            raise ValueError(
                f"after= is a promotion into {after['environment']!r}, but this one promotes from {self.from_env!r}"
            )
        return str(after["version"])


class PromoteAcrossOperator(AcrossEnvironments, MlopsBaseOperator):
    """Copy a version from ``from_env`` into ``to_env``, re-gated there, and make it champion there.

    A person's rejection (``approval`` says ``rejected``) is recorded in both registries and skips
    the task: a decision, not a failure. Any other refusal (no passing source gate, a re-gate that
    rejects, a missing approval, the target's champion moved meanwhile) fails the task at once,
    without retries: trying again would be refused the same way.
    """

    template_fields: Sequence[str] = ("approval", "after")

    def __init__(
        self,
        *,
        environments: Environments,
        from_env: str,
        to_env: str,
        version: str = "champion",
        after: Upstream[PromotionAcross | None] = None,
        approval: Upstream[EnvironmentApproval | None] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._init_across(environments, from_env, to_env, version, after)
        self.approval: EnvironmentApproval | None = upstream(approval)

    def execute(self, context: Context) -> PromotionAcross:
        from airflow_mlops.errors import GateRejectedError, PromotionRefusedError
        from airflow_mlops.governance.across import promote_across

        dag_id, run_id = run_identity(context)
        # The record as the command leaves it ({decision, by, at, reason}); the version it was about picks the ref.
        approval = {k: str(v) for k, v in (self.approval or {}).items() if k != "version"} or None
        try:
            result = promote_across(
                self.declared(), self.from_env, self.to_env, ref=self.source_ref(self.approval),
                actor=f"airflow:{dag_id}/{run_id}",
                approval=approval, lock_owner=task_lock_owner(context),
            )  # fmt: skip
        except PromotionRefusedError as err:
            if approval and approval.get("decision") == "rejected":
                raise AirflowSkipException(f"recorded in both registries, nothing moved: {err}") from err
            raise GateRejectedError(str(err)) from err
        check = result.get("check")
        promoted: PromotionAcross = {
            "environment": self.to_env,
            "model_name": str(result["model_name"]),
            "alias": str(result["alias"]),
            "version": str(result["version"]),
            "previous": result.get("previous"),
            "source": {key: str(value) for key, value in result["source"].items()},
            "regate": str(check["verdict"]["summary"]) if isinstance(check, dict) else "",
            "approval": self.approval,
        }
        self.log.info(
            "%s %s v%s -> %s %s v%s (@%s); %s", self.from_env, promoted["source"]["model_name"],
            promoted["source"]["version"], self.to_env, promoted["model_name"], promoted["version"],
            promoted["alias"], result["why"],
        )  # fmt: skip
        return promoted
