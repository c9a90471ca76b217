"""The candidates a retraining pipeline trains: estimator or trainer, preprocessing, resources.

Annotations are evaluated as the classes are defined (no ``from __future__ import
annotations``): pydantic would otherwise compile each one from its string and evaluate it,
at every import, and every DAG file that loads a pipeline imports this module.
"""

import re
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from airflow_mlops.errors import SpecValueError
from airflow_mlops.spec.models_base import IDENTIFIER, ParamValue, StrictModel, check_import_path
from airflow_mlops.spec.models_tuning import TuningSpec

#: Estimator packages whose models are trained on the features as they are and logged in their
#: own MLflow flavor (ml/flavors.py): gradient-boosted trees need no scaling and handle missing
#: values themselves, and a scikit-learn Pipeline around them could only be saved with skops.
TREE_FRAMEWORKS = ("xgboost", "lightgbm")

_QUANTITY = re.compile(r"^\d+(\.\d+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$")


class CustomStepSpec(StrictModel):
    """A transformer of your own (or any allowlisted one), placed after the standard steps."""

    transformer: str = Field(..., description="Import path of a scikit-learn compatible transformer class.")
    params: dict[str, ParamValue] = Field(default_factory=dict)

    @field_validator("transformer")
    @classmethod
    def _allowed(cls, value: str, info: ValidationInfo) -> str:
        return check_import_path(value, info, example="acme_ml.features.LogTransform")


class PreprocessingSpec(StrictModel):
    """Standard preprocessing placed in front of the estimator in one sklearn Pipeline."""

    impute: Literal["none", "mean", "median", "most_frequent"] = "median"
    scale: Literal["none", "standard", "minmax"] = "standard"
    one_hot: bool = Field(True, description="One-hot encode non-numeric columns.")
    steps: list[CustomStepSpec] = Field(
        default_factory=list, description="Your own transformers, applied after the standard steps, in order."
    )


class ResourcesSpec(StrictModel):
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


class CandidateSpec(StrictModel):
    """One model to train: an allowlisted estimator, or your own training function."""

    name: str = Field(..., pattern=IDENTIFIER)
    estimator: str | None = Field(
        None,
        description="Import path of the estimator class, e.g. sklearn.svm.SVC, or (once an administrator allows "
        "their prefixes) xgboost.XGBClassifier, lightgbm.LGBMRegressor; those take no preprocessing.",
    )
    trainer: str | None = Field(
        None,
        description="Your training function 'package.module:function'; it gets (features, labels, params) "
        "and returns a fitted model: scikit-learn compatible (XGBoost and LightGBM included), a torch.nn.Module "
        "or an mlflow.pyfunc.PythonModel (docs/frameworks.md).",
    )
    params: dict[str, ParamValue] = Field(default_factory=dict)
    class_weight: Literal["balanced"] | dict[str | int, float] | None = Field(
        None,
        description="Classification only: 'balanced' or a weight per class label, applied as sample weights "
        "when the estimator is fitted (any estimator whose fit() takes sample_weight, XGBoost and LightGBM "
        "included); a trainer receives it as params['class_weight'].",
    )
    preprocessing: PreprocessingSpec = Field(default_factory=PreprocessingSpec)
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    tuning: TuningSpec | None = Field(
        None, description="Search some params with Optuna before training; the best found train this candidate."
    )

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
        tree = self.estimator is not None and self.estimator.partition(".")[0] in TREE_FRAMEWORKS
        if tree and "preprocessing" in self.model_fields_set:
            issues.append(
                (
                    (*loc, "preprocessing"),
                    f"preprocessing does not apply to {str(self.estimator).partition('.')[0]} estimators",
                    "they are trained on the numeric features as they are (trees need no scaling and handle "
                    "missing values); encode categories upstream or in a trainer",
                )
            )
        if self.class_weight is not None and "class_weight" in self.params:
            issues.append(
                (
                    (*loc, "class_weight"),
                    "class_weight is set twice, here and in params",
                    "keep the candidate's class_weight: it works for every estimator; remove params.class_weight",
                )
            )
        searched = set(self.tuning.space) if self.tuning is not None else set()
        issues.extend(
            (
                (*loc, "tuning", "space", name),
                f"{name} is both fixed in params and searched in tuning.space",
                "keep it in one place: remove it from params to search it, or from the space to fix it",
            )
            for name in sorted(searched & {*self.params, *(["class_weight"] if self.class_weight else [])})
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


class CandidatesSpec(StrictModel):
    """What a candidate that fails to train does to the run."""

    on_failure: Literal["drop", "fail"] = Field(
        "drop",
        description="drop: the failed candidate is recorded in the verdict with its error and the gate picks "
        "among the others (the run fails only when none trains); fail: one failed candidate fails the run.",
    )
