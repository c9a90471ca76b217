"""The settings every template shares: identity, schedule, retries, notifications and timeouts.

Annotations are evaluated as the classes are defined (no ``from __future__ import
annotations``): pydantic would otherwise compile each one from its string and evaluate it,
at every import, and every DAG file that loads a pipeline imports this module.
"""

from collections.abc import Collection
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Discriminator, Field, Tag, ValidationInfo, field_validator

from airflow_mlops.spec.cron import check_cron
from airflow_mlops.spec.models_base import (
    DEFAULT_ALLOWED_IMPORT_PREFIXES,
    SemanticIssue,
    StrictModel,
    check_import_path,
    cross_field_rule,
    rules_of,
)
from airflow_mlops.spec.models_environments import EnvironmentName, EnvironmentSpec, environment_issues


class RetriesSpec(StrictModel):
    """Retries with exponential backoff, on by default: MLflow servers and object stores blip."""

    retries: int = Field(2, ge=0, le=20)
    delay_seconds: float = Field(30, ge=0, le=86_400)
    backoff_multiplier: float = Field(
        2.0, ge=0, le=10, description="Each retry waits this many times longer; 0 keeps the delay fixed."
    )
    max_delay_seconds: float = Field(600, ge=0, le=7 * 86_400)


TriggerEvent = Literal["new_data_version", "drift_detected", "champion_changed"]


class AssetTriggerSpec(StrictModel):
    """Run when something happens instead of on a clock: ``{on: drift_detected}``.

    ``model`` names the registered model for drift_detected and champion_changed, and
    ``path`` the data file for new_data_version; both default to this pipeline's own.
    """

    on: TriggerEvent
    model: str | None = None
    path: str | None = None


def _schedule_kind(value: Any) -> str:
    if isinstance(value, list):
        return "triggers"
    if isinstance(value, dict | AssetTriggerSpec):
        return "trigger"
    return "cron"


CronOrPreset = Annotated[str, AfterValidator(check_cron)]
# A callable discriminator picks the branch from the value's shape, so a bad cron string is
# reported as a bad cron string, not also as "not a mapping" and "not a list".
ScheduleSpec = (
    Annotated[
        Annotated[CronOrPreset, Tag("cron")]
        | Annotated[AssetTriggerSpec, Tag("trigger")]
        | Annotated[list[AssetTriggerSpec], Tag("triggers")],
        Discriminator(_schedule_kind),
    ]
    | None
)


class NotifierSpec(StrictModel):
    """An Airflow notifier class and its arguments, e.g. the SMTP provider's SmtpNotifier."""

    notifier: str = Field(..., description="Import path of an Airflow notifier (a BaseNotifier subclass).")
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("notifier")
    @classmethod
    def _allowed(cls, value: str, info: ValidationInfo) -> str:
        context = dict(info.context or {})
        allowed = context.get("allowed_import_prefixes", DEFAULT_ALLOWED_IMPORT_PREFIXES)
        # Notifiers shipped by Airflow providers are always allowed.
        context["allowed_import_prefixes"] = ("airflow.providers.", *allowed)
        return check_import_path(
            value,
            _WithContext(context),  # type: ignore[arg-type]
            example="airflow.providers.smtp.notifications.smtp.SmtpNotifier",
        )


class _WithContext:
    """The one attribute of ValidationInfo that check_import_path reads."""

    def __init__(self, context: dict[str, Any]) -> None:
        self.context = context


class NotificationsSpec(StrictModel):
    """Who hears about a finished run: notifiers called once per DAG run."""

    on_failure: list[NotifierSpec] = Field(default_factory=list)
    on_success: list[NotifierSpec] = Field(default_factory=list)


class RunDeadlineSpec(StrictModel):
    """How long a DAG run may take, measured from when it was queued or from its logical date."""

    minutes: float = Field(..., gt=0, le=30 * 24 * 60, description="Minutes after `after` by which the run must end.")
    after: Literal["queued", "logical_date"] = Field(
        "queued",
        description="queued: from when the run was queued (any run); logical_date: from the run's logical date "
        "(a scheduled run's slot, so a run that starts late is late too; a manual run without one gets no deadline).",
    )


class SlaSpec(StrictModel):
    """A retraining SLA: alert when the champion is too old, or when a run ends later than a deadline."""

    max_champion_age_days: float | None = Field(
        None,
        gt=0,
        le=3650,
        description="Alert when the champion has held its alias longer than this (checked by the "
        "check_champion_age step after every run); retraining pipelines only.",
    )
    run_deadline: RunDeadlineSpec | None = Field(
        None, description="Alert when a run has not ended this long after it was queued (an Airflow deadline alert)."
    )
    notify: list[NotifierSpec] = Field(
        default_factory=list,
        description="Notifiers told of a missed deadline or a champion too old; the metrics are sent either way.",
    )


class PipelineBase(StrictModel):
    """Settings every template shares: identity, schedule, retries and timeouts."""

    pipeline: str = Field(..., pattern=r"^[A-Za-z0-9_.\-]+$", max_length=250, description="The DAG id.")
    description: str = ""
    owner: str = "airflow"
    # Airflow refuses a longer tag when it builds the DAG (TAG_MAX_LEN), naming no file or line.
    tags: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list)
    schedule: ScheduleSpec = Field(
        None, description="Cron, preset, or asset trigger(s) such as {on: drift_detected}; none = manual."
    )
    start_date: date = date(2024, 1, 1)
    mlflow_conn_id: str = "mlflow_default"
    experiment: str | None = Field(None, description="MLflow experiment; defaults to the pipeline name.")
    retries: RetriesSpec = Field(default_factory=RetriesSpec)
    notifications: NotificationsSpec = Field(default_factory=NotificationsSpec)
    sla: SlaSpec = Field(
        default_factory=SlaSpec, description="A retraining SLA: alerts on an old champion or a late run."
    )
    timeouts: dict[str, Annotated[float, Field(gt=0, le=7 * 24 * 60)]] = Field(
        default_factory=dict,
        description="Minutes a step may run before Airflow fails it: {default: 60, train: 240}.",
    )
    environments: dict[EnvironmentName, EnvironmentSpec] = Field(
        default_factory=dict,
        description="The environments a model moves through (dev, staging, prod), declared once in a "
        "defaults.yaml; see docs/environments.md.",
    )

    @property
    def experiment_name(self) -> str:
        return self.experiment or self.pipeline

    def step_names(self) -> tuple[str, ...]:
        """The task ids of this template, for validating per-step settings."""
        return ()

    def champion_age_model(self) -> tuple[str, str] | None:
        """The registered model and alias ``sla.max_champion_age_days`` bounds; None when the template keeps none."""
        return None

    @cross_field_rule("sla")
    def _champion_age_needs_a_champion(self) -> list[SemanticIssue]:
        if self.sla.max_champion_age_days is None or self.champion_age_model() is not None:
            return []
        return [
            (
                ("sla", "max_champion_age_days"),
                "only a retraining pipeline checks its champion's age",
                "declare it in the retraining pipeline that promotes the champion; run_deadline works here",
            )
        ]

    @cross_field_rule("timeouts", "approval", "deployment", "sla")  # the steps depend on these sections
    def _timeouts_name_steps(self) -> list[SemanticIssue]:
        steps = self.step_names()
        return [
            (("timeouts", key), f"unknown step {key!r}", f"steps of this template: default, {', '.join(steps)}")
            for key in self.timeouts
            if key != "default" and key not in steps
        ]

    @cross_field_rule("environments")
    def _environments_are_distinct(self) -> list[SemanticIssue]:
        return environment_issues(self.environments)

    def semantic_issues(self, failed: Collection[str] = ()) -> list[SemanticIssue]:
        """The findings of every cross-field rule that reads none of the ``failed`` top-level sections.

        Rules are not model validators because pydantic reports those at the model's root, which
        would lose the line number, and skips them once any field fails; here the loader runs
        them on the sections that passed the schema too (``failed`` names the others).
        """
        skipped = set(failed)
        return [issue for rule in rules_of(type(self)) if not rule.reads & skipped for issue in rule(self)]  # type: ignore[attr-defined]


class ModelRefSpec(StrictModel):
    """A registered model and the alias that names the version to use."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    alias: str = Field("champion", pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$")
