"""The data a pipeline reads and the checks it must pass: dataset, split, contract, expectations.

Annotations are evaluated as the classes are defined (no ``from __future__ import
annotations``): pydantic would otherwise compile each one from its string and evaluate it,
at every import, and every DAG file that loads a pipeline imports this module.
"""

from typing import Any, Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from airflow_mlops.data_contract.vocabulary import (
    DEFAULT_ID_MAX_UNIQUE_RATIO,
    DEFAULT_ID_MIN_UNIQUE,
    DEFAULT_LEAKAGE_ACCURACY,
    DEFAULT_LEAKAGE_CORRELATION,
    DEFAULT_LEAKAGE_SAMPLE_ROWS,
    DEFAULT_NUMERIC_TEXT_RATIO,
    LOGICAL_TYPES,
    ColumnPolicy,
    LogicalType,
)
from airflow_mlops.errors import SpecValueError
from airflow_mlops.spec.models_base import StrictModel
from airflow_mlops.spec.models_source import SourceSections, check_source_sections


class SplitSpec(StrictModel):
    """How the pinned dataset is cut into train and test; the seed makes the cut repeatable."""

    test_size: float = Field(0.2, gt=0, lt=1)
    seed: int = 42
    stratify: bool | None = Field(
        None,
        description="Keep each class's share in both sides of the split. Default: true for classification, "
        "false for regression (a continuous target cannot be stratified; true with regression is refused).",
    )


class DataChecksSpec(StrictModel):
    """The built-in checks of the data before training; a failed check stops the run and names the column."""

    target: bool = Field(
        True,
        description="Check the label: at least two classes with enough rows each for the split, no missing "
        "label, no continuous values for classification; finite numbers for regression.",
    )
    leakage: bool = Field(
        True,
        description="Stop on a feature that equals the target or alone predicts it almost perfectly.",
    )
    id_like: bool = Field(
        True,
        description="Stop on an undeclared text column with identifier-like cardinality (it would be one-hot "
        "encoded into one column per row).",
    )
    min_rows_per_class: int | None = Field(
        None,
        ge=1,
        description="Fewest rows each class needs. Default: what the split needs, max(2, ceil(1 / test_size)); "
        "a smaller value cannot lower that floor.",
    )
    leakage_accuracy: float = Field(
        DEFAULT_LEAKAGE_ACCURACY,
        gt=0.5,
        le=1,
        description="Balanced accuracy on held-out rows at which one feature alone counts as leaking a class target.",
    )
    leakage_correlation: float = Field(
        DEFAULT_LEAKAGE_CORRELATION,
        gt=0,
        le=1,
        description="Absolute correlation with a regression target at which one feature counts as leaking it.",
    )
    leakage_sample_rows: int = Field(
        DEFAULT_LEAKAGE_SAMPLE_ROWS, ge=100, description="The leakage check reads a random sample of this many rows."
    )
    id_max_unique_ratio: float = Field(
        DEFAULT_ID_MAX_UNIQUE_RATIO,
        gt=0,
        le=1,
        description="A text column is id-like when its distinct values exceed this share of its rows (and "
        "id_min_unique); a name such as *_id needs only the share.",
    )
    id_min_unique: int = Field(
        DEFAULT_ID_MIN_UNIQUE,
        ge=1,
        description="Fewest distinct values of an id-like text column; with fewer it is a category.",
    )
    numeric_text_ratio: float = Field(
        DEFAULT_NUMERIC_TEXT_RATIO,
        gt=0,
        le=1,
        description="A text column whose values are numbers at least this often is a number column with bad values.",
    )


class DatasetRefSpec(SourceSections):
    """The data to pin before anything reads it: a DVC-tracked file, a SQL query or table, or object storage.

    ``source: dvc`` pins a file in a git + DVC repository to a commit and md5; ``sql`` and
    ``object_storage`` are extracted once into an immutable, content-addressed snapshot under
    ``[mlops] artifact_root`` that every later task reads instead of the live source.
    """

    repo: str | None = Field(
        None,
        description="Git URL or path of the DVC repository. Defaults to the `repo` extra of dvc_conn_id.",
    )
    dvc_conn_id: str = "dvc_default"
    path: str | None = Field(
        None, min_length=1, description="Path of the tracked file inside the repository (source: dvc)."
    )
    rev: str = Field("HEAD", min_length=1, description="Git revision: branch, tag or commit.")

    @field_validator("path")
    @classmethod
    def _path_is_tabular(cls, value: str | None) -> str | None:
        if value is not None and not value.endswith((".csv", ".parquet")):
            raise SpecValueError(
                "must end in .csv or .parquet, the formats the pipeline reads",
                "track a CSV or Parquet export of the data with DVC and give its path",
            )
        return value

    @model_validator(mode="after")
    def _source_is_whole(self) -> Self:
        check_source_sections(self.source, self.sql, self.object_storage)
        if self.source == "dvc" and self.path is None:
            raise SpecValueError(
                "source 'dvc' needs 'path', the tracked file inside the repository",
                "add 'path: data/<file>.csv', or set 'source: sql' / 'source: object_storage' with its section",
            )
        if self.source != "dvc" and self.path is not None:
            raise SpecValueError(
                f"'path' names a file in a DVC repository, but source is {self.source!r}",
                "remove 'path' (the snapshot's location is chosen by the pipeline) or set 'source: dvc'",
            )
        return self

    @property
    def asset_path(self) -> str:
        """What names this data's ``new_data_version`` asset: the DVC path, or the source it is snapshotted from."""
        if self.sql is not None:
            return f"sql/{self.sql.conn_id}/{self.sql.table or 'query'}"
        if self.object_storage is not None:
            return self.object_storage.uri
        return str(self.path)


class DataSpec(DatasetRefSpec):
    """The training data: a versioned file plus which column is the label and how to split."""

    target: str = Field(..., min_length=1, description="Name of the label column.")
    features: list[str] | None = Field(
        None,
        description="Feature columns, the complete list; default: every column but target and id_columns.",
    )
    split: SplitSpec = Field(default_factory=SplitSpec)
    columns: dict[str, LogicalType] | None = Field(
        None,
        description="Types the data must have, by column (any subset of the columns): "
        f"{', '.join(LOGICAL_TYPES)}. 'category' also declares a text column fit to one-hot encode.",
    )
    on_new_columns: ColumnPolicy = Field(
        "fail",
        description="fail: a feature the champion was not trained on stops the run; ignore: it is left out of "
        "training. A column listed in features is always trained on.",
    )
    on_missing_columns: ColumnPolicy = Field(
        "fail",
        description="fail: a column the champion was trained on and the data lacks stops the run; ignore: "
        "training goes on without it.",
    )
    on_type_change: ColumnPolicy = Field(
        "fail",
        description="fail: a column whose type family (number, text, datetime) differs from the champion's or "
        "from columns stops the run; ignore: it is trained on with its new type.",
    )
    id_columns: list[str] = Field(
        default_factory=list, description="Identifier columns: never trained on, never reported as id-like."
    )
    categorical: list[str] = Field(
        default_factory=list,
        description="Text columns to one-hot encode even though they have many distinct values.",
    )
    checks: DataChecksSpec = Field(default_factory=DataChecksSpec)

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

    @field_validator("id_columns")
    @classmethod
    def _ids_are_not_trained(cls, value: list[str], info: ValidationInfo) -> list[str]:
        target, features = info.data.get("target"), info.data.get("features") or []
        clash = [name for name in value if name == target or name in features]
        if clash:
            raise SpecValueError(
                f"{clash[0]!r} cannot be an id column and also the target or a feature",
                "id columns are left out of training; remove it from id_columns or from target/features",
            )
        return value

    @field_validator("categorical")
    @classmethod
    def _categorical_is_not_an_id(cls, value: list[str], info: ValidationInfo) -> list[str]:
        ids = info.data.get("id_columns") or []
        clash = [name for name in value if name in ids or name == info.data.get("target")]
        if clash:
            raise SpecValueError(
                f"{clash[0]!r} cannot be categorical and also an id column or the target",
                "categorical declares a feature to one-hot encode; remove it from one of the lists",
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
    name: str | None = Field(
        None,
        max_length=200,
        description="Name of the expectation suite in the validation report; default: the suite file's "
        "name:, else <pipeline>.validation.",
    )

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

    name: str | None = Field(
        None,
        max_length=200,
        description="The suite's name in the validation report, its MLflow artifact and the UI; default: "
        "`<pipeline>.validation`. A pipeline's `validation.name` overrides it.",
    )
    expectations: list[Expectation] = Field(
        ...,
        description="One item per rule: a mapping with one key, a Great Expectations 1.x expectation name "
        "(`expect_...`, snake_case), and its arguments as a mapping, e.g. "
        "`- expect_column_values_to_not_be_null: {column: age, mostly: 0.99}`.",
    )
