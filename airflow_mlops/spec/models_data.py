"""The data a pipeline reads and the checks it must pass: dataset, split, expectations.

Annotations are evaluated as the classes are defined (no ``from __future__ import
annotations``): pydantic would otherwise compile each one from its string and evaluate it,
at every import, and every DAG file that loads a pipeline imports this module.
"""

from typing import Any, Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from airflow_mlops.spec.errors import SpecValueError
from airflow_mlops.spec.models_base import StrictModel


class SplitSpec(StrictModel):
    """How the pinned dataset is cut into train and test; the seed makes the cut repeatable."""

    test_size: float = Field(0.2, gt=0, lt=1)
    seed: int = 42
    stratify: bool = True


class DatasetRefSpec(StrictModel):
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


class Expectation(StrictModel):
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


class ValidationSpec(StrictModel):
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


class SuiteFileSpec(StrictModel):
    """A Great Expectations suite written in YAML."""

    name: str | None = None
    expectations: list[Expectation]
