"""Where a pipeline's data lives when it is not yet a DVC-tracked file: a SQL database or an object store.

Whatever the source, the first task pins an immutable snapshot of it and every later task reads
that snapshot, never the live source (docs/pipeline-reference.md, "Sources").

Annotations are evaluated as the classes are defined (no ``from __future__ import
annotations``): pydantic would otherwise compile each one from its string and evaluate it,
at every import, and every DAG file that loads a pipeline imports this module.
"""

import re
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from airflow_mlops.errors import SpecValueError
from airflow_mlops.spec.models_base import StrictModel

SourceKind = Literal["dvc", "sql", "object_storage"]
#: The table name a ``table:`` source may give: a name, optionally qualified by its schema.
_TABLE = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$"
_SUFFIX_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


class SqlSourceSpec(StrictModel):
    """A query, or a whole table, read through an Airflow SQL connection (any common.sql hook)."""

    conn_id: str = Field(
        ..., min_length=1, description="Airflow connection id of the database; its secret stays there."
    )
    query: str | None = Field(
        None,
        min_length=1,
        description="The SELECT to snapshot. Airflow templates it, so "
        "`WHERE ts >= '{{ data_interval_start }}'` extracts one data interval.",
    )
    table: str | None = Field(None, pattern=_TABLE, description="A table (or schema.table) to snapshot whole.")
    chunk_rows: int = Field(
        50_000,
        ge=100,
        le=5_000_000,
        description="Rows per chunk written to the snapshot; memory is bounded by this. Postgres (psycopg 3) streams "
        "the query out with COPY; other drivers fetch this many rows per round trip of a cursor.",
    )

    @model_validator(mode="after")
    def _query_or_table(self) -> Self:
        if (self.query is None) == (self.table is None):
            raise SpecValueError(
                "set exactly one of 'query' or 'table'",
                "give 'table: schema.name' to snapshot a whole table, or 'query: SELECT ...' for a subset",
            )
        return self

    @property
    def statement(self) -> str:
        """The SQL the snapshot runs: the query as written, or every row of the table."""
        return self.query if self.query is not None else f"SELECT * FROM {self.table}"


class ObjectStorageSourceSpec(StrictModel):
    """A Parquet or CSV file, or every such file under a prefix, read through Airflow's ObjectStoragePath."""

    uri: str = Field(
        ...,
        description="file:///..., s3://bucket/key (with the amazon provider) or any fsspec scheme Airflow "
        "has attached; a URI ending in / is a prefix whose files are read in name order.",
    )
    format: Literal["parquet", "csv"] | None = Field(
        None, description="The files' format; default: from the file's suffix (required for a prefix)."
    )
    conn_id: str | None = Field(None, description="Airflow connection of the store (e.g. aws_default for s3://).")

    @field_validator("uri")
    @classmethod
    def _has_scheme(cls, value: str) -> str:
        if not re.match(r"^[a-z][a-z0-9+.\-]*://.", value):
            raise SpecValueError(
                f"{value!r} is not a URI with a scheme",
                "write it as file:///absolute/path.parquet, s3://bucket/prefix/ or another scheme://...",
            )
        return value

    @model_validator(mode="after")
    def _format_is_known(self) -> Self:
        if self.format is None and self.suffix_format is None:
            raise SpecValueError(
                f"cannot tell the format of {self.uri!r} from its name",
                "add 'format: parquet' or 'format: csv' (a prefix always needs it)",
            )
        return self

    @property
    def suffix_format(self) -> str | None:
        if self.uri.endswith("/"):
            return None
        name = self.uri.rsplit("/", 1)[-1].lower()
        return next((fmt for suffix, fmt in _SUFFIX_FORMATS.items() if name.endswith(suffix)), None)

    @property
    def file_format(self) -> str:
        """The format the files are read as."""
        return self.format or self.suffix_format or "parquet"


class SourceSections(StrictModel):
    """The fields that say where data lives; a data section adds what it needs for its template."""

    source: SourceKind = Field("dvc", description="Where the data lives: dvc, sql or object_storage.")
    sql: SqlSourceSpec | None = Field(None, description="The query or table of a `source: sql`.")
    object_storage: ObjectStorageSourceSpec | None = Field(
        None, description="The file or prefix of a `source: object_storage`."
    )


def check_source_sections(
    source: SourceKind, sql: SqlSourceSpec | None, object_storage: ObjectStorageSourceSpec | None
) -> None:
    """The section that ``source`` names must be there, and no other source's section."""
    given = {"sql": sql is not None, "object_storage": object_storage is not None}
    if source != "dvc" and not given[source]:
        raise SpecValueError(
            f"source {source!r} needs a '{source}:' section",
            "add it under data:, e.g. 'sql: {conn_id: warehouse, table: sales.orders}'"
            if source == "sql"
            else "add it under data:, e.g. 'object_storage: {uri: s3://bucket/orders/, format: parquet}'",
        )
    extra = [name for name, present in given.items() if present and name != source]
    if extra:
        raise SpecValueError(
            f"'{extra[0]}:' is given but source is {source!r}",
            f"set 'source: {extra[0]}' or remove the '{extra[0]}:' section",
        )
