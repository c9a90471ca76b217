"""Declared environments: each stage a model passes through, with its own registry, data and policy.

A model moves dev -> staging -> prod by ``airflow-mlops promote --from dev --to prod`` (and the
operator behind it). Each environment is reached only through its own Airflow connection, so the
YAML names connection ids and never an address with credentials in it.

Annotations are evaluated as the classes are defined (no ``from __future__ import
annotations``): pydantic would otherwise compile each one from its string and evaluate it,
at every import, and every DAG file that loads a pipeline imports this module.
"""

from typing import Annotated

from pydantic import Field

from airflow_mlops.spec.models_base import SemanticIssue, StrictModel

ENVIRONMENT_NAME = r"^[a-z][a-z0-9_\-]*$"
EnvironmentName = Annotated[str, Field(pattern=ENVIRONMENT_NAME, max_length=40)]
_REGISTERED_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
_ALIAS = r"^[A-Za-z][A-Za-z0-9_\-]*$"


class HoldoutSpec(StrictModel):
    """The environment's own holdout data, pinned by DVC: what a model is re-gated on before it lands here."""

    dvc_conn_id: str = Field("dvc_default", description="Airflow connection of the DVC repository.")
    path: str = Field(..., min_length=1, description="The data file inside the DVC repository.")
    rev: str = Field(..., min_length=1, description="The DVC (git) revision of this environment's holdout data.")
    target: str | None = Field(
        None, description="The label column; default: the one column that is not an input of the model."
    )


class PolicySpec(StrictModel):
    """What a model needs, besides the source gate and the re-gate, before it becomes champion here."""

    require_approval: bool = Field(
        True,
        description="A person's approval is required to promote into this environment (true unless "
        "switched off, so production is safe by default).",
    )


class EnvironmentSpec(StrictModel):
    """One environment: its MLflow connection, its registered model, its holdout data and its policy."""

    mlflow_conn_id: str = Field(
        ..., min_length=1, description="Airflow connection of this environment's MLflow tracking server and registry."
    )
    model_name: str = Field(..., pattern=_REGISTERED_NAME, description="The registered model in that registry.")
    alias: str = Field("champion", pattern=_ALIAS)
    previous_alias: str = Field("previous", pattern=_ALIAS)
    holdout: HoldoutSpec | None = Field(
        None, description="Holdout data a model is re-gated on before it is promoted into this environment."
    )
    policy: PolicySpec = Field(default_factory=PolicySpec)


def environment_issues(environments: dict[str, EnvironmentSpec]) -> list[SemanticIssue]:
    """Two environments naming the same registry slot would promote into each other's champion."""
    issues: list[SemanticIssue] = []
    seen: dict[tuple[str, str], str] = {}
    for name, env in environments.items():
        key = (env.mlflow_conn_id, env.model_name)
        if key in seen:
            issues.append(
                (
                    ("environments", name, "model_name"),
                    f"environments {seen[key]!r} and {name!r} both name model {env.model_name!r} through "
                    f"connection {env.mlflow_conn_id!r}",
                    "give each environment its own connection or its own model name",
                )
            )
        seen.setdefault(key, name)
        if env.alias == env.previous_alias:
            issues.append(
                (("environments", name, "previous_alias"), "alias and previous_alias must differ", "rename one")
            )
    return issues
