"""The ``promotion`` template's spec: a model moved through declared environments, dev -> staging -> prod.

The environments themselves are declared once, in the dags folder's defaults.yaml (spec/
models_environments.py); a promotion pipeline only names the path through them. There is no
``force`` here: skipping the gates is a person's recorded decision at the command line.

Annotations are evaluated as the classes are defined (no ``from __future__ import
annotations``): pydantic would otherwise compile each one from its string and evaluate it,
at every import, and every DAG file that loads a pipeline imports this module.
"""

from itertools import pairwise
from typing import Annotated, Literal

from pydantic import Field

from airflow_mlops.spec.models_base import SemanticIssue, StrictModel, cross_field_rule
from airflow_mlops.spec.models_common import AssetTriggerSpec, PipelineBase
from airflow_mlops.spec.models_environments import EnvironmentName

_REF = r"^([0-9]+|[A-Za-z][A-Za-z0-9_\-]*)$"


class PromotionPathSpec(StrictModel):
    """Where the model goes: each environment in ``through`` after the first is promoted into from the one before."""

    through: list[EnvironmentName] = Field(
        ...,
        min_length=2,
        description="Declared environments in order, e.g. [dev, staging, prod]: one promotion per step.",
    )
    version: Annotated[str, Field(pattern=_REF)] = Field(
        "champion",
        description="The version to promote from the first environment: a number or an alias. Later steps "
        "promote exactly the version the step before copied in.",
    )
    approvers: list[str] | None = Field(
        None,
        description="Airflow user ids who may answer the approvals of environments whose policy requires one; "
        "default: any user with access.",
    )
    timeout_hours: float | None = Field(
        None, gt=0, le=24 * 30, description="An approval nobody answers in time is a rejection; default: wait."
    )


class PromotionPipelineSpec(PipelineBase):
    """Promote a model from one declared environment to the next, re-gated and approved as each target requires."""

    template: Literal["promotion"]
    promotion: PromotionPathSpec

    def step_names(self) -> tuple[str, ...]:
        # Per hop the tasks are approve_<env> and promote_<env>; a timeout applies to every hop's task.
        return ("approve", "promote")

    def hops(self) -> list[tuple[str, str]]:
        """(from, to) for each step of the path."""
        through = self.promotion.through
        return list(pairwise(through))

    @property
    def source_model(self) -> str | None:
        """The registered model in the first environment: what ``champion_changed`` means by default."""
        first = self.environments.get(self.promotion.through[0])
        return first.model_name if first is not None else None

    @cross_field_rule("schedule")
    def _triggers_are_about_models(self) -> list[SemanticIssue]:
        schedule = self.schedule
        triggers = (
            [schedule] if isinstance(schedule, AssetTriggerSpec) else schedule if isinstance(schedule, list) else []
        )
        return [
            (
                ("schedule", *((index,) if isinstance(schedule, list) else ()), "on"),
                "a promotion pipeline reads no data, so it cannot run on new_data_version",
                "use {on: champion_changed} (default model: the first environment's), a cron, or none (manual)",
            )
            for index, trigger in enumerate(triggers)
            if trigger.on == "new_data_version"
        ]

    @cross_field_rule("promotion", "environments")
    def _path_is_declared(self) -> list[SemanticIssue]:
        issues: list[SemanticIssue] = []
        declared = ", ".join(sorted(self.environments)) or "none"
        seen: set[str] = set()
        for index, name in enumerate(self.promotion.through):
            where = ("promotion", "through", index)
            if name in seen:
                issues.append((where, f"environment {name!r} appears twice", "a model goes through each once"))
            seen.add(name)
            env = self.environments.get(name)
            if env is None:
                issues.append(
                    (
                        where,
                        f"no environment named {name!r} is declared (declared: {declared})",
                        "declare it under 'environments:' in your dags folder's defaults.yaml",
                    )
                )
            elif index > 0 and env.holdout is None:
                issues.append(
                    (
                        where,
                        f"environment {name!r} declares no holdout, so every promotion into it would be refused",
                        f"add environments.{name}.holdout: {{path: ..., rev: ...}} (its own data, pinned by DVC)",
                    )
                )
        return issues
