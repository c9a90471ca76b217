"""The pipeline spec (v1) as pydantic models, one per template, and the table of templates.

The sections the templates are made of live beside this module (models_common, models_data,
models_training, models_promotion). Cross-field rules live in ``model_validator``s next to
the fields they tie together, or in ``cross_field_rule`` methods when the error must point at a field
(the loader runs those on every section that passed the schema, see PipelineBase.semantic_issues).

Annotations are evaluated as the classes are defined (no ``from __future__ import
annotations``): pydantic would otherwise compile each one from its string and evaluate it,
at every import, and every DAG file that loads a pipeline imports this module.
"""

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from airflow_mlops.gates.metrics import METRICS_BY_PROBLEM, Average, Problem
from airflow_mlops.spec.models_base import SemanticIssue, StrictModel, cross_field_rule
from airflow_mlops.spec.models_cache import CacheSpec
from airflow_mlops.spec.models_card import CardSpec
from airflow_mlops.spec.models_common import ModelRefSpec, PipelineBase
from airflow_mlops.spec.models_data import DatasetRefSpec, DataSpec, ValidationSpec
from airflow_mlops.spec.models_deployment import DeploymentSpec, endpoint_name_problem
from airflow_mlops.spec.models_promotion import ApprovalSpec, GateSpec, RegistrySpec, ThresholdRuleSpec
from airflow_mlops.spec.models_serving import ServingCheckSpec
from airflow_mlops.spec.models_training import CandidateSpec, CandidatesSpec
from airflow_mlops.spec.models_tuning import CrossValidationSpec


class RetrainingPipelineSpec(PipelineBase):
    """A standard retraining pipeline: data -> validation -> training -> gate -> registry."""

    template: Literal["retraining"] = "retraining"
    problem: Problem = "classification"
    average: Average | None = Field(
        None,
        description="How precision, recall, f1 and roc_auc are averaged over the classes of a multiclass "
        "problem: macro (every class counts the same; the default), weighted (by class size) or micro "
        "(over all rows). Two classes score the positive class (the larger label). Classification only.",
    )
    data: DataSpec
    validation: ValidationSpec
    models: list[CandidateSpec] = Field(..., min_length=1)
    candidates: CandidatesSpec = Field(default_factory=CandidatesSpec)
    cross_validation: CrossValidationSpec | None = None
    select_by: str
    gate: GateSpec
    serving_check: ServingCheckSpec = Field(default_factory=ServingCheckSpec)
    approval: ApprovalSpec = Field(default_factory=ApprovalSpec)
    registry: RegistrySpec
    card: CardSpec = Field(
        default_factory=CardSpec, description="Intended use and owners, shown on each version's model card."
    )
    cache: CacheSpec = Field(
        default_factory=CacheSpec,
        description="Reuse an earlier run's validation, split, trained models and scores when nothing they "
        "depend on changed (docs/caching.md).",
    )
    deployment: DeploymentSpec | None = Field(
        None,
        description="Serve each new champion on a deployment target after promote, smoke-check it there and "
        "roll back on a failure (docs/deployment.md); none: no deploy step.",
    )

    @property
    def stratify_split(self) -> bool:
        """``data.split.stratify`` as written, or by default true for classification and false for regression."""
        written = self.data.split.stratify
        return self.problem == "classification" if written is None else written

    @property
    def averaging(self) -> Average:
        """``average`` as written, or macro."""
        return self.average or "macro"

    def step_names(self) -> tuple[str, ...]:
        """The task ids in run order; ``serving_check``, ``approve`` and ``deploy`` only when the YAML asks for them."""
        steps: tuple[str, ...] = ("resolve_data", "validate_data", "prepare_data", "train", "evaluate", "gate")
        if self.serving_check.enabled:
            steps += ("serving_check",)
        if self.approval.mode == "manual":
            steps += ("approve",)
        steps += ("register", "promote")
        if self.deployment is not None:
            steps += ("deploy",)
        steps += ("close_runs",)
        if self.sla.max_champion_age_days is not None:
            steps += ("check_champion_age",)
        return steps

    def champion_age_model(self) -> tuple[str, str] | None:
        return self.registry.model_name, self.registry.alias

    def _metric_hint(self) -> str:
        return f"known {self.problem} metrics: {', '.join(sorted(METRICS_BY_PROBLEM[self.problem]))}"

    @cross_field_rule("problem", "select_by")
    def _select_by_is_a_metric_of_the_problem(self) -> list[SemanticIssue]:
        if self.select_by in METRICS_BY_PROBLEM[self.problem]:
            return []
        return [(("select_by",), f"unknown {self.problem} metric {self.select_by!r}", self._metric_hint())]

    @cross_field_rule("problem", "gate")
    def _gate_rules_name_metrics_of_the_problem(self) -> list[SemanticIssue]:
        known = METRICS_BY_PROBLEM[self.problem]
        return [
            (
                ("gate", "metrics", index, "metric"),
                f"unknown {self.problem} metric {rule.metric!r}",
                self._metric_hint(),
            )
            for index, rule in enumerate(self.gate.metrics)
            if rule.metric not in known
        ]

    @cross_field_rule("problem", "select_by", "models")
    def _tuning_metrics_are_metrics_of_the_problem(self) -> list[SemanticIssue]:
        known = METRICS_BY_PROBLEM[self.problem]
        return [
            (("models", index, "tuning", "metric"), f"unknown {self.problem} metric {model.tuning.metric!r}",
             self._metric_hint())
            for index, model in enumerate(self.models)
            if model.tuning is not None and model.tuning.metric is not None and model.tuning.metric not in known
        ]  # fmt: skip

    @cross_field_rule("problem", "data", "cross_validation")
    def _folds_can_be_cut_as_asked(self) -> list[SemanticIssue]:
        cv = self.cross_validation
        if cv is None:
            return []
        issues: list[SemanticIssue] = []
        if cv.stratified and self.problem == "regression":
            issues.append(
                (("cross_validation", "stratified"), "a regression target cannot be stratified",
                 "remove stratified (it defaults to false for regression)")
            )  # fmt: skip
        group, data = cv.group_by, self.data
        if group is not None and (
            group == data.target or group in data.id_columns or group not in (data.features or [group])
        ):
            issues.append(
                (("cross_validation", "group_by"), f"group_by {group!r} is not a feature column",
                 "folds are cut from the training split, which holds the features only: name a feature "
                 "(not the target or an id column)")
            )  # fmt: skip
        return issues

    @cross_field_rule("gate", "cross_validation")
    def _cv_rules_have_folds(self) -> list[SemanticIssue]:
        if self.cross_validation is not None:
            return []
        return [
            (("gate", "metrics", index, "cv"), f"cv: {rule.cv} needs cross-validated figures",
             "add cross_validation: {folds: 5} to the file, or remove cv from the rule")
            for index, rule in enumerate(self.gate.metrics)
            if isinstance(rule, ThresholdRuleSpec) and rule.cv is not None
        ]  # fmt: skip

    @cross_field_rule("problem", "data")
    def _regression_is_not_stratified(self) -> list[SemanticIssue]:
        if self.problem != "regression" or not self.data.split.stratify:
            return []
        return [
            (
                ("data", "split", "stratify"),
                "a regression target cannot be stratified",
                "remove stratify (it defaults to false for regression) or set problem: classification",
            )
        ]

    @cross_field_rule("models")
    def _candidates_are_unique_and_whole(self) -> list[SemanticIssue]:
        issues: list[SemanticIssue] = []
        seen: set[str] = set()
        for index, model in enumerate(self.models):
            issues.extend(model.semantic_issues(("models", index)))
            if model.name in seen:
                issues.append(
                    (("models", index, "name"), f"duplicate candidate name {model.name!r}", "names must be unique")
                )
            seen.add(model.name)
        return issues

    @cross_field_rule("deployment", "registry")
    def _deployment_is_coherent(self) -> list[SemanticIssue]:
        if self.deployment is None:
            return []
        issues = self.deployment.semantic_issues(("deployment",))
        problem = endpoint_name_problem(self.deployment.target, self.registry.model_name)
        if self.deployment.endpoint is None and problem is not None:
            issues.append(
                (("deployment",), f"the endpoint name defaults to the model name: {problem}",
                 "set deployment.endpoint to a name the target accepts")
            )  # fmt: skip
        return issues

    @cross_field_rule("problem", "average")
    def _average_is_for_classification(self) -> list[SemanticIssue]:
        if self.problem != "regression" or self.average is None:
            return []
        return [(("average",), "average applies to classification only", "remove it for regression")]

    @cross_field_rule("problem", "models")
    def _class_weight_is_for_classification(self) -> list[SemanticIssue]:
        if self.problem != "regression":
            return []
        return [
            (
                ("models", index, "class_weight"),
                "class_weight applies to classification only",
                "remove it, or set problem: classification",
            )
            for index, model in enumerate(self.models)
            if model.class_weight is not None
        ]


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
        return ("resolve_data", "score", "close_runs")


class DriftSpec(StrictModel):
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
    drift: DriftSpec = Field(default_factory=DriftSpec)

    def step_names(self) -> tuple[str, ...]:
        return ("resolve_data", "check_drift", "publish_drift", "close_runs")


# The templates whose first step pins a ``data:`` section (resolve_data).
DataPipelineSpec = RetrainingPipelineSpec | BatchScoringPipelineSpec | DriftMonitorPipelineSpec
# Every template's spec, for type checking; spec/templates.py lists them with their builders (a test
# checks that the two agree). At run time it is built on first use: a retraining DAG file does not import
# the ingestion and promotion models.
if TYPE_CHECKING:
    from airflow_mlops.spec.models_across import PromotionPipelineSpec
    from airflow_mlops.spec.models_ingestion import IngestionPipelineSpec

    PipelineSpec = DataPipelineSpec | IngestionPipelineSpec | PromotionPipelineSpec
else:

    def __getattr__(name: str) -> Any:
        if name != "PipelineSpec":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from airflow_mlops.spec.models_across import PromotionPipelineSpec
        from airflow_mlops.spec.models_ingestion import IngestionPipelineSpec

        return DataPipelineSpec | IngestionPipelineSpec | PromotionPipelineSpec
