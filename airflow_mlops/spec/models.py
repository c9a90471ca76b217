"""The pipeline spec (v1) as pydantic models, one per template.

Every model forbids unknown keys: a typo such as ``test_sise`` must be an error that names
the field, not a silently ignored setting. Cross-field rules live in ``model_validator``s
next to the fields they tie together.

Annotations are evaluated as the classes are defined (no ``from __future__ import
annotations``): pydantic would otherwise compile each one from its string and evaluate it,
at every import, and every DAG file that loads a pipeline imports this module.
"""

import functools
import re
from datetime import date, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from airflow_mlops.gates.metrics import METRICS_BY_PROBLEM, Problem
from airflow_mlops.spec.errors import SpecValueError

IDENTIFIER = r"^[A-Za-z][A-Za-z0-9_]*$"
DEFAULT_ALLOWED_IMPORT_PREFIXES = ("sklearn.",)
_PRESETS = {"@once", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly", "@continuous"}
# The fields of a cron expression in croniter's order (what Airflow's cron timetables use): five,
# then optionally seconds and a year. What each one takes is croniter's ``RANGES``.
_CRON_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31 or L (the last day)"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-6 or SUN-SAT (7 is Sunday too)"),
    ("second", "0-59"),
    ("year", "1970-2099"),
)
_CRON_HINT = "five fields: minute hour day-of-month month day-of-week; '0 3 * * *' is 03:00 every day"

ParamValue = str | int | float | bool | None | list[str | int | float | bool | None]


class _Strict(BaseModel):
    # inf and nan are valid YAML floats but never a valid setting (a timedelta cannot hold them).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SplitSpec(_Strict):
    """How the pinned dataset is cut into train and test; the seed makes the cut repeatable."""

    test_size: float = Field(0.2, gt=0, lt=1)
    seed: int = 42
    stratify: bool = True


class DatasetRefSpec(_Strict):
    """A tabular file versioned with DVC, and the revision to pin it at."""

    source: Literal["dvc"] = "dvc"
    repo: str | None = Field(
        None,
        description="Git URL or path of the DVC repository. Defaults to the `repo` extra of dvc_conn_id.",
    )
    dvc_conn_id: str = "dvc_default"
    path: str = Field(..., min_length=1, description="Path of the tracked file inside the repository.")
    rev: str = Field("HEAD", min_length=1, description="Git revision: branch, tag or commit.")

    @field_validator("path")
    @classmethod
    def _path_is_tabular(cls, value: str) -> str:
        if not value.endswith((".csv", ".parquet")):
            raise SpecValueError(
                "must end in .csv or .parquet, the formats the pipeline reads",
                "track a CSV or Parquet export of the data with DVC and give its path",
            )
        return value


class DataSpec(DatasetRefSpec):
    """The training data: a versioned file plus which column is the label and how to split."""

    target: str = Field(..., min_length=1, description="Name of the label column.")
    features: list[str] | None = Field(None, description="Feature columns; default: every column but target.")
    split: SplitSpec = SplitSpec()

    @field_validator("features")
    @classmethod
    def _target_not_a_feature(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        # A field validator (target is declared first, so it is in info.data) rather than a
        # model validator, so the error points at the features line.
        target = info.data.get("target")
        if value is not None and target in value:
            raise SpecValueError(
                f"target {target!r} must not also be listed in features",
                f"remove {target!r} from features: the label is never an input of the model",
            )
        return value


class Expectation(_Strict):
    """One Great Expectations rule, written as ``{expect_column_values_to_not_be_null: {column: x}}``."""

    type: str = Field(..., pattern=r"^expect_[a-z0-9_]+$")
    kwargs: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_single_key_mapping(cls, value: Any) -> Any:
        if isinstance(value, dict) and "type" not in value:
            if len(value) != 1:
                raise SpecValueError(
                    "each expectation is a mapping with exactly one key, e.g. "
                    "'- expect_column_values_to_not_be_null: {column: age}'",
                    "give each expectation its own '- ' item, with its arguments indented under its name",
                )
            ((name, kwargs),) = value.items()
            return {"type": name, "kwargs": kwargs if kwargs is not None else {}}
        return value


class ValidationSpec(_Strict):
    """Data checks that must pass before any training starts."""

    suite: str | None = Field(
        None,
        description=("Path of a suite YAML file, relative to the pipeline file; it must lie inside the dags folder."),
    )
    expectations: list[Expectation] | None = Field(None, description="Inline expectations instead of a file.")
    on_failure: Literal["fail", "warn"] = "fail"

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.suite is None) == (self.expectations is None):
            hint = (
                "remove one of them: a suite file is shared by pipelines, inline expectations belong to this one"
                if self.suite is not None
                else "add 'suite: suites/<name>.yaml' or an 'expectations:' list"
            )
            raise SpecValueError("set exactly one of 'suite' (a file) or 'expectations' (inline)", hint)
        return self


_DOTTED = r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+"
_QUANTITY = re.compile(r"^\d+(\.\d+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$")


def check_import_path(value: str, info: ValidationInfo, *, example: str, function: bool = False) -> str:
    """An import path from YAML must have the right shape and an allowed prefix.

    The prefix list is an administrator's decision (``[mlops] allowed_import_prefixes``), so a
    pipeline author cannot make a worker import arbitrary code.
    """
    pattern = _DOTTED + (r":[A-Za-z_]\w*" if function else "")
    if not re.fullmatch(pattern, value):
        shape = "package.module:function, with a colon before the function" if function else "package.module.Name"
        raise SpecValueError(f"must be an import path such as {example}", f"write it as {shape}")
    allowed = (info.context or {}).get("allowed_import_prefixes", DEFAULT_ALLOWED_IMPORT_PREFIXES)
    if not value.startswith(tuple(allowed)):
        raise SpecValueError(
            f"{value!r} is outside the allowed import prefixes {list(allowed)}; "
            "an administrator can extend [mlops] allowed_import_prefixes",
            "use a path under one of these prefixes, or have its prefix added to "
            "AIRFLOW__MLOPS__ALLOWED_IMPORT_PREFIXES on every Airflow component",
        )
    return value


class CustomStepSpec(_Strict):
    """A transformer of your own (or any allowlisted one), placed after the standard steps."""

    transformer: str = Field(..., description="Import path of a scikit-learn compatible transformer class.")
    params: dict[str, ParamValue] = Field(default_factory=dict)

    @field_validator("transformer")
    @classmethod
    def _allowed(cls, value: str, info: ValidationInfo) -> str:
        return check_import_path(value, info, example="acme_ml.features.LogTransform")


class PreprocessingSpec(_Strict):
    """Standard preprocessing placed in front of the estimator in one sklearn Pipeline."""

    impute: Literal["none", "mean", "median", "most_frequent"] = "median"
    scale: Literal["none", "standard", "minmax"] = "standard"
    one_hot: bool = Field(True, description="One-hot encode non-numeric columns.")
    steps: list[CustomStepSpec] = Field(
        default_factory=list, description="Your own transformers, applied after the standard steps, in order."
    )


class ResourcesSpec(_Strict):
    """Where a candidate trains and what it may use.

    ``queue``/``pool`` route the task (Celery queues, Airflow pools). ``gpu``, ``cpu`` and
    ``memory`` become a Kubernetes ``pod_override`` for the KubernetesExecutor; other
    executors ignore it. ``executor_config`` is passed to the executor as written.
    """

    queue: str | None = None
    pool: str | None = None
    pool_slots: int = Field(1, ge=1)
    gpu: int = Field(0, ge=0, description="NVIDIA GPUs requested (nvidia.com/gpu limit).")
    cpu: str | None = Field(None, description="Kubernetes CPU quantity, e.g. '4' or '500m'.")
    memory: str | None = Field(None, description="Kubernetes memory quantity, e.g. '16Gi'.")
    executor_config: dict[str, Any] = Field(default_factory=dict)

    @field_validator("cpu", "memory")
    @classmethod
    def _quantity(cls, value: str | None) -> str | None:
        if value is not None and not _QUANTITY.match(value):
            raise SpecValueError(
                f"{value!r} is not a Kubernetes quantity such as '4', '500m' or '16Gi'",
                "cpu: cores ('2') or millicores ('500m'); memory: a number and a unit such as Mi or Gi ('512Mi')",
            )
        return value

    @property
    def wants_pod(self) -> bool:
        return bool(self.gpu or self.cpu or self.memory)


class CandidateSpec(_Strict):
    """One model to train: an allowlisted estimator, or your own training function."""

    name: str = Field(..., pattern=IDENTIFIER)
    estimator: str | None = Field(None, description="Import path of the estimator class, e.g. sklearn.svm.SVC.")
    trainer: str | None = Field(
        None,
        description="Your training function 'package.module:function'; it gets (features, labels, params) "
        "and returns a fitted scikit-learn compatible model.",
    )
    params: dict[str, ParamValue] = Field(default_factory=dict)
    preprocessing: PreprocessingSpec = PreprocessingSpec()
    resources: ResourcesSpec = ResourcesSpec()

    @field_validator("estimator")
    @classmethod
    def _estimator_allowed(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        return check_import_path(value, info, example="sklearn.linear_model.LogisticRegression")

    @field_validator("trainer")
    @classmethod
    def _trainer_allowed(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        return check_import_path(value, info, example="acme_ml.training:train_model", function=True)

    def semantic_issues(self, loc: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], str, str]]:
        issues: list[tuple[tuple[str | int, ...], str, str]] = []
        if (self.estimator is None) == (self.trainer is None):
            issues.append(
                (loc, "set exactly one of 'estimator' or 'trainer'", "estimator: a class; trainer: a function")
            )
        if self.trainer is not None and "preprocessing" in self.model_fields_set:
            issues.append(
                (
                    (*loc, "preprocessing"),
                    "preprocessing does not apply to a trainer",
                    "your training function receives the raw features; preprocess inside it",
                )
            )
        if self.resources.wants_pod and "pod_override" in self.resources.executor_config:
            issues.append(
                (
                    (*loc, "resources", "executor_config"),
                    "pod_override is built from gpu/cpu/memory; do not set both",
                    "remove gpu/cpu/memory or the pod_override",
                )
            )
        return issues


def _check_slice_column(value: str) -> str:
    """A column name that keeps slice keys (``f1[region=north]``) unambiguous."""
    if not value:
        raise SpecValueError("the slice column name is empty", "name a column of the test set, e.g. slice_by: region")
    if "=" in value:
        # f1[a=b=c] would be column 'a', value 'b=c' as well as column 'a=b', value 'c'.
        raise SpecValueError(
            f"slice column {value!r} contains '=', which slice keys such as f1[{value}=...] cannot tell apart",
            "rename the column in the data (or in a prepare step) to a name without '='",
        )
    return value


SliceColumn = Annotated[str, AfterValidator(_check_slice_column)]


class ThresholdRuleSpec(_Strict):
    """``{metric: f1, min: 0.9}``: an absolute bound on the challenger."""

    metric: str
    min: float | None = None
    max: float | None = None
    slice_by: SliceColumn | None = Field(
        None, description="Apply the rule on every value of this column of the test set, e.g. a region or segment."
    )
    min_slice_rows: int = Field(10, ge=1, description="Slices with fewer test rows are reported, not judged.")

    @model_validator(mode="after")
    def _has_bound(self) -> Self:
        if self.min is None and self.max is None:
            raise SpecValueError(
                "an absolute rule needs 'min' or 'max' (or use compare_to: champion)",
                f"e.g. {{metric: {self.metric}, min: 0.9}}, or {{metric: {self.metric}, compare_to: champion, "
                "max_drop: 0.01}",
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise SpecValueError(
                f"min ({self.min}) is greater than max ({self.max})",
                "no score can pass this rule; swap the two bounds",
            )
        return self


class ChampionRuleSpec(_Strict):
    """``{metric: f1, compare_to: champion, max_drop: 0.005}``: challenger vs current champion."""

    metric: str
    compare_to: Literal["champion"]
    max_drop: float | None = Field(None, ge=0)
    min_gain: float | None = Field(None, ge=0)
    relative: bool = False
    slice_by: SliceColumn | None = Field(
        None, description="Apply the rule on every value of this column of the test set, e.g. a region or segment."
    )
    min_slice_rows: int = Field(10, ge=1, description="Slices with fewer test rows are reported, not judged.")

    @model_validator(mode="after")
    def _one_tolerance(self) -> Self:
        if self.max_drop is not None and self.min_gain is not None:
            raise SpecValueError(
                "set either max_drop or min_gain, not both",
                "max_drop: how much worse than the champion a challenger may be; "
                "min_gain: how much better it must be; keep the one you mean",
            )
        return self


def _rule_kind(value: Any) -> str:
    # Pick the rule type from its keys so errors speak about the right kind of rule
    # instead of listing why the value matched neither.
    if isinstance(value, dict):
        return "champion" if "compare_to" in value else "threshold"
    return "champion" if isinstance(value, ChampionRuleSpec) else "threshold"


GateRuleSpec = Annotated[
    Annotated[ChampionRuleSpec, Tag("champion")] | Annotated[ThresholdRuleSpec, Tag("threshold")],
    Discriminator(_rule_kind),
]


class GateSpec(_Strict):
    """What the best candidate must satisfy before it may become the champion."""

    metrics: list[GateRuleSpec] = Field(..., min_length=1)
    first_run: Literal["promote", "fail"] = "promote"
    on_reject: Literal["skip", "fail"] = Field(
        "skip", description="skip: the run succeeds and promotion is skipped; fail: the run fails."
    )
    min_test_rows: int = Field(0, ge=0)


class RegistrySpec(_Strict):
    """Which registered model the champion belongs to, and the aliases that name it."""

    model_name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    alias: str = Field("champion", pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$")
    previous_alias: str = Field("previous", pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$")
    on_conflict: Literal["refuse", "reevaluate"] = Field(
        "refuse",
        description="When the champion moved after the gate compared against it: refuse to promote, "
        "or re-apply the gate against the new champion on the same test rows.",
    )

    @model_validator(mode="after")
    def _distinct_aliases(self) -> Self:
        if self.alias == self.previous_alias:
            raise SpecValueError(
                "alias and previous_alias must differ",
                "previous_alias names the champion being replaced, kept for rollback; rename one of them "
                "(the defaults are 'champion' and 'previous')",
            )
        return self


class ApprovalSpec(_Strict):
    """A person signs off between a passing gate and the promotion (Airflow's HITL approval).

    ``approval: manual`` is shorthand for ``{mode: manual}``. Without a timeout the run
    waits for an answer; with one, silence counts as a rejection, never as an approval.
    """

    mode: Literal["none", "manual"] = "none"
    approvers: list[str] = Field(
        default_factory=list, description="Airflow user ids allowed to answer; empty: any user with access."
    )
    timeout_hours: float | None = Field(
        None, gt=0, le=24 * 365, description="Reject when nobody answers within this time."
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"mode": value} if isinstance(value, str) else value


class RetriesSpec(_Strict):
    """Retries with exponential backoff, on by default: MLflow servers and object stores blip."""

    retries: int = Field(2, ge=0, le=20)
    delay_seconds: float = Field(30, ge=0, le=86_400)
    backoff_multiplier: float = Field(
        2.0, ge=0, le=10, description="Each retry waits this many times longer; 0 keeps the delay fixed."
    )
    max_delay_seconds: float = Field(600, ge=0, le=7 * 86_400)


TriggerEvent = Literal["new_data_version", "drift_detected", "champion_changed"]


class AssetTriggerSpec(_Strict):
    """Run when something happens instead of on a clock: ``{on: drift_detected}``.

    ``model`` names the registered model for drift_detected and champion_changed, and
    ``path`` the data file for new_data_version; both default to this pipeline's own.
    """

    on: TriggerEvent
    model: str | None = None
    path: str | None = None


def _check_cron(value: str) -> str:
    """A preset, or a cron expression that Airflow's cron timetables accept.

    Airflow checks the expression only after the DAG file has run (``CronMixin.validate`` in
    CronTriggerTimetable and CronDataIntervalTimetable) and then drops the DAG with an
    ``AirflowTimetableInvalid`` that names no file or line. The same check here reports the
    schedule at its line, when the file is validated.
    """
    if value in _PRESETS:
        return value
    fields = value.split()
    if value.startswith("@") or not 5 <= len(fields) <= len(_CRON_FIELDS):
        import difflib  # only a file with a bad schedule pays for it

        close = difflib.get_close_matches(value, sorted(_PRESETS), n=1) if value.startswith("@") else []
        raise SpecValueError(
            f"{value!r} is neither a cron expression ('0 3 * * *') nor a preset ({', '.join(sorted(_PRESETS))})",
            f"did you mean {close[0]!r}?" if close else f"a cron expression has {_CRON_HINT}",
        )
    problem = _cron_problem(value)
    if problem is not None:
        raise SpecValueError(*problem)
    return value


# Pure in the expression, and a dags folder tends to reuse a few schedules: one DagBag or
# folder loader checks each distinct expression once.
@functools.lru_cache(maxsize=256)
def _cron_problem(value: str) -> tuple[str, str] | None:
    """Why croniter (what Airflow uses) refuses ``value``, naming the field at fault; None if it accepts it."""
    # croniter is imported by Airflow's timetables anyway, but not at parse time of a DAG file
    # without a cron schedule: only a cron schedule pays for it.
    from croniter import CroniterBadCronError, CroniterBadDateError, croniter

    fields = value.split()
    try:
        croniter(value)  # exactly what Airflow's CronMixin.validate() does
    except (CroniterBadCronError, CroniterBadDateError) as err:
        # Try each field alone (the others '*') to say which one is wrong.
        for index, field in enumerate(fields):
            probe = ["*"] * len(fields)
            probe[index] = field
            try:
                croniter(" ".join(probe))
            except (CroniterBadCronError, CroniterBadDateError) as field_err:
                name, accepts = _CRON_FIELDS[index]
                reason = str(field_err)
                why = "is out of range" if "out of range" in reason or "out of bands" in reason else "is not valid"
                return (
                    f"{value!r} is not a valid cron expression: the {name} field {field!r} {why}",
                    f"the {name} field takes {accepts}, '*', lists (1,15), ranges (1-5) and steps (*/10)",
                )
        return f"{value!r} is not a valid cron expression: {err}", f"a cron expression has {_CRON_HINT}"
    if _every_month_or_day(fields):
        return None
    try:
        # Accepted, but a day that never exists (February 30) would leave Airflow nothing to
        # schedule. Searched over croniter's whole year range, so a far-off year field still counts.
        croniter(value, start_time=datetime(1970, 1, 1), max_years_between_matches=2099 - 1970 + 1).get_next(datetime)
    except CroniterBadDateError:
        return (
            f"{value!r} never matches a date",
            "the day-of-month must exist in the month (and year) given: no 30 or 31 with month 2",
        )
    return None


def _every_month_or_day(fields: list[str]) -> bool:
    """Whether an accepted expression surely matches some date, without searching for one.

    Only a day-of-month that a restricted month lacks (February 30, April 31), or a year field,
    can leave an accepted expression with no date. Every day of the month, or every month
    (January has all 31 days), rules that out; that is most schedules, and the search costs
    more than croniter's own check.
    """
    day_of_month, month = fields[2], fields[3]
    return (len(fields) < 7 or fields[6] == "*") and (day_of_month in ("*", "?") or month == "*")


def _schedule_kind(value: Any) -> str:
    if isinstance(value, list):
        return "triggers"
    if isinstance(value, dict | AssetTriggerSpec):
        return "trigger"
    return "cron"


CronOrPreset = Annotated[str, AfterValidator(_check_cron)]
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


class NotifierSpec(_Strict):
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


class NotificationsSpec(_Strict):
    """Who hears about a finished run: notifiers called once per DAG run."""

    on_failure: list[NotifierSpec] = Field(default_factory=list)
    on_success: list[NotifierSpec] = Field(default_factory=list)


class PipelineBase(_Strict):
    """Settings every template shares: identity, schedule, retries and timeouts."""

    pipeline: str = Field(..., pattern=r"^[A-Za-z0-9_.\-]+$", description="The DAG id.")
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
    retries: RetriesSpec = RetriesSpec()
    notifications: NotificationsSpec = NotificationsSpec()
    timeouts: dict[str, Annotated[float, Field(gt=0, le=7 * 24 * 60)]] = Field(
        default_factory=dict,
        description="Minutes a step may run before Airflow fails it: {default: 60, train: 240}.",
    )

    @property
    def experiment_name(self) -> str:
        return self.experiment or self.pipeline

    def step_names(self) -> tuple[str, ...]:
        """The task ids of this template, for validating per-step settings."""
        return ()

    def base_issues(self) -> list[tuple[tuple[str | int, ...], str, str]]:
        steps = self.step_names()
        return [
            (("timeouts", key), f"unknown step {key!r}", f"steps of this template: default, {', '.join(steps)}")
            for key in self.timeouts
            if key != "default" and key not in steps
        ]

    def semantic_issues(self) -> list[tuple[tuple[str | int, ...], str, str]]:
        return self.base_issues()


class ModelRefSpec(_Strict):
    """A registered model and the alias that names the version to use."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    alias: str = Field("champion", pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$")


class RetrainingPipelineSpec(PipelineBase):
    """A standard retraining pipeline: data -> validation -> training -> gate -> registry."""

    template: Literal["retraining"] = "retraining"
    problem: Problem = "classification"
    data: DataSpec
    validation: ValidationSpec
    models: list[CandidateSpec] = Field(..., min_length=1)
    select_by: str
    gate: GateSpec
    approval: ApprovalSpec = ApprovalSpec()
    registry: RegistrySpec

    def step_names(self) -> tuple[str, ...]:
        steps = ("resolve_data", "validate_data", "prepare_data", "train", "evaluate", "gate", "register", "promote")
        return (*steps, "approve") if self.approval.mode == "manual" else steps

    def semantic_issues(self) -> list[tuple[tuple[str | int, ...], str, str]]:
        """Rules that span fields, reported with the path of the field at fault.

        They are not model validators because pydantic reports those at the model's root,
        which would lose the line number the user needs.
        """
        issues = self.base_issues()
        known = METRICS_BY_PROBLEM[self.problem]
        hint = f"known {self.problem} metrics: {', '.join(sorted(known))}"
        if self.select_by not in known:
            issues.append((("select_by",), f"unknown {self.problem} metric {self.select_by!r}", hint))
        for index, rule in enumerate(self.gate.metrics):
            if rule.metric not in known:
                issues.append(
                    (
                        ("gate", "metrics", index, "metric"),
                        f"unknown {self.problem} metric {rule.metric!r}",
                        hint,
                    )
                )
        seen: set[str] = set()
        for index, model in enumerate(self.models):
            issues.extend(model.semantic_issues(("models", index)))
            if model.name in seen:
                issues.append(
                    (
                        ("models", index, "name"),
                        f"duplicate candidate name {model.name!r}",
                        "names must be unique",
                    )
                )
            seen.add(model.name)
        return issues


class BatchScoringPipelineSpec(PipelineBase):
    """Score a dataset with the model an alias points at, and publish the predictions."""

    template: Literal["batch_scoring"]
    model: ModelRefSpec
    data: DatasetRefSpec
    passthrough: list[str] = Field(
        default_factory=list, description="Columns copied next to the predictions, e.g. an id."
    )
    prediction_column: str = "prediction"

    def step_names(self) -> tuple[str, ...]:
        return ("resolve_data", "score")


class DriftSpec(_Strict):
    """When a feature counts as drifted, and how many drifted features make the data drift."""

    psi_threshold: float = Field(0.2, gt=0, description="Population stability index above which a feature drifts.")
    ks_pvalue: float = Field(0.01, gt=0, lt=1, description="Two-sample KS p-value below which a feature drifts.")
    min_drifted_features: int = Field(1, ge=1)
    bins: int = Field(10, ge=2, le=100)


class DriftMonitorPipelineSpec(PipelineBase):
    """Compare new data with the data the champion was trained on, feature by feature."""

    template: Literal["drift_monitor"]
    model: ModelRefSpec
    data: DatasetRefSpec
    features: list[str] | None = Field(None, description="Features to compare; default: the model's inputs.")
    drift: DriftSpec = DriftSpec()

    def step_names(self) -> tuple[str, ...]:
        return ("resolve_data", "check_drift", "publish_drift")


PipelineSpec = RetrainingPipelineSpec | BatchScoringPipelineSpec | DriftMonitorPipelineSpec

TEMPLATES: dict[str, type[PipelineBase]] = {
    "retraining": RetrainingPipelineSpec,
    "batch_scoring": BatchScoringPipelineSpec,
    "drift_monitor": DriftMonitorPipelineSpec,
}
