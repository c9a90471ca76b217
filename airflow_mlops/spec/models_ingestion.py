"""The ``ingestion`` template's spec: a source, the columns it must have, and the DVC file it becomes.

Annotations are evaluated as the classes are defined (no ``from __future__ import
annotations``): pydantic would otherwise compile each one from its string and evaluate it,
at every import, and every DAG file that loads a pipeline imports this module.
"""

from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from airflow_mlops.data_contract.vocabulary import LOGICAL_TYPES, LogicalType
from airflow_mlops.errors import SpecValueError
from airflow_mlops.spec.models_base import SemanticIssue, StrictModel, cross_field_rule
from airflow_mlops.spec.models_common import AssetTriggerSpec, PipelineBase
from airflow_mlops.spec.models_source import SourceSections, check_source_sections

#: A git branch name that needs no quoting and cannot be an option (git check-ref-format, simplified).
_BRANCH = r"^[A-Za-z0-9_][A-Za-z0-9._/\-]*[A-Za-z0-9_\-]$|^[A-Za-z0-9_]$"


#: Schedules whose runs have no data interval to append.
_NO_INTERVALS = frozenset({"@once", "@continuous"})


class IngestSourceSpec(SourceSections):
    """The source to extract and the columns (with their types) it must return."""

    source: Literal["sql", "object_storage"] = Field(..., description="Where the data lives: sql or object_storage.")
    columns: dict[str, LogicalType] = Field(
        ...,
        min_length=1,
        description="Columns the extract must return, with their types "
        f"({', '.join(LOGICAL_TYPES)}); a missing or retyped column stops the run before anything is written. "
        "Other columns are kept.",
    )

    @model_validator(mode="after")
    def _source_is_whole(self) -> Self:
        check_source_sections(self.source, self.sql, self.object_storage)
        return self


class IncrementalSpec(StrictModel):
    """Append each data interval's extract to the file instead of replacing it (hooks/increment.py)."""

    mode: Literal["append"] = Field(
        "append", description="append: the file keeps every interval ingested; a rerun replaces its own interval."
    )
    key: str = Field(
        ...,
        min_length=1,
        description="A datetime column of `data.columns` that places each row in a data interval: the query "
        "must return only rows with `data_interval_start <= key < data_interval_end`.",
    )


class DvcOutputSpec(StrictModel):
    """Where the snapshot is versioned: a Parquet file in a git + DVC repository, on a branch."""

    repo: str | None = Field(
        None, description="Git URL or path of the DVC repository. Defaults to the `repo` extra of dvc_conn_id."
    )
    dvc_conn_id: str = "dvc_default"
    path: str = Field(..., min_length=1, description="Path of the Parquet file inside the repository.")
    branch: str = Field("main", pattern=_BRANCH, description="The branch the commit is pushed to.")
    incremental: IncrementalSpec | None = Field(
        None,
        description="Append each run's data interval to the file, keyed on a column; none = each run replaces "
        "the file. Needs a cron or preset schedule (its intervals are the runs' data intervals).",
    )

    @field_validator("branch")
    @classmethod
    def _branch_is_a_ref(cls, value: str) -> str:
        if ".." in value or "//" in value:
            raise SpecValueError(f"{value!r} is not a valid git branch name", "a branch name has no '..' and no '//'")
        return value

    @field_validator("path")
    @classmethod
    def _path_is_parquet(cls, value: str) -> str:
        if not value.endswith(".parquet") or value.startswith(("/", "../")) or "/../" in value:
            raise SpecValueError(
                "must be a relative path inside the repository ending in .parquet",
                "e.g. 'path: data/orders.parquet'; a retraining pipeline then reads it with source: dvc",
            )
        return value


class IngestionPipelineSpec(PipelineBase):
    """Extract a source, check its columns, and version the snapshot with DVC on a branch."""

    template: Literal["ingestion"]
    data: IngestSourceSpec
    output: DvcOutputSpec

    def step_names(self) -> tuple[str, ...]:
        return ("extract", "version_data")

    @cross_field_rule("output", "data", "schedule")
    def _increments_have_intervals(self) -> list[SemanticIssue]:
        incremental = self.output.incremental
        if incremental is None:
            return []
        issues: list[SemanticIssue] = []
        declared = self.data.columns.get(incremental.key)
        if declared != "datetime":
            issues.append(
                (
                    ("output", "incremental", "key"),
                    f"key {incremental.key!r} is "
                    + ("not among data.columns" if declared is None else f"declared {declared}, not datetime"),
                    f"declare it under data.columns as '{incremental.key}: datetime' (a timestamp or date column)",
                )
            )
        if not isinstance(self.schedule, str) or self.schedule in _NO_INTERVALS:
            issues.append(
                (
                    ("schedule",),
                    "an incremental ingestion needs a cron or preset schedule: each run appends its data interval",
                    "e.g. 'schedule: \"@daily\"' or 'schedule: \"0 3 * * *\"'",
                )
            )
        return issues

    @cross_field_rule("schedule")
    def _triggers_name_a_model(self) -> list[SemanticIssue]:
        # The other templates default a trigger's model to their own; an ingestion pipeline has none.
        schedule = self.schedule
        triggers = (
            [schedule] if isinstance(schedule, AssetTriggerSpec) else schedule if isinstance(schedule, list) else []
        )
        return [
            (
                ("schedule", *((index,) if isinstance(schedule, list) else ()), "on"),
                f"trigger {trigger.on!r} needs the model it is about",
                "add 'model: <registered model name>' to the trigger",
            )
            for index, trigger in enumerate(triggers)
            if trigger.on != "new_data_version" and trigger.model is None
        ]
