"""The ``promotion`` template: a model moved through declared environments, one hop after the other.

```
promotion: {through: [dev, staging, prod]}, with prod's policy requiring an approval:

promote_staging (dev -> staging: re-gate on staging's holdout, @champion there)
    >> approve_prod (Airflow HITL: a person approves or rejects; only where the target's policy asks)
    >> promote_prod (staging -> prod: exactly the version promote_staging copied in; re-gate, approval record,
                     compare-and-set under prod's lock, audit in both registries)
```
Every promote task runs ``promote_across``, the function behind ``airflow-mlops promote --from
--to``: no task here skips the re-gate or the policy. A rejection is recorded in both registries
and skips the rest of the path. Only thin operators are built here; nothing heavy is imported,
because this runs on every DAG parse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG

from airflow_mlops.assets import champion_asset
from airflow_mlops.factory.common import dag_kwargs, step_args
from airflow_mlops.operators.across import PromoteAcrossOperator

if TYPE_CHECKING:
    from airflow_mlops.spec.models_across import PromotionPipelineSpec


def build_promotion_dag(spec: PromotionPipelineSpec, source: str = "") -> DAG:
    path = spec.promotion
    environments = {name: env.model_dump() for name, env in spec.environments.items()}
    doc = f"Promotion of a model through {' -> '.join(path.through)}; generated from {source}."
    with DAG(**dag_kwargs(spec, doc)) as dag:
        previous: Any = None
        for source_env, target_env in spec.hops():
            across: dict[str, Any] = {"environments": environments, "from_env": source_env, "to_env": target_env}
            after = previous.output if previous is not None else None
            version = path.version if previous is None else "champion"
            approval: Any = None
            if spec.environments[target_env].policy.require_approval:
                from airflow_mlops.operators.approval_across import EnvironmentApprovalOperator

                approve = EnvironmentApprovalOperator(
                    task_id=f"approve_{target_env}",
                    **step_args(spec, "approve"),
                    **across,
                    version=version,
                    after=after,
                    approvers=path.approvers,
                    timeout_hours=path.timeout_hours,
                )
                approval = approve.output
                if previous is not None:
                    previous >> approve
            promote = PromoteAcrossOperator(
                task_id=f"promote_{target_env}",
                **step_args(spec, "promote"),
                **across,
                version=version,
                after=after,
                approval=approval,
                outlets=[champion_asset(spec.environments[target_env].model_name)],
            )
            if previous is not None:
                previous >> promote
            previous = promote
    return dag
