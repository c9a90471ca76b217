"""Append one data interval's extract to a DVC-tracked Parquet file, idempotently, keyed on a column.

An ingestion pipeline with ``output.incremental: {mode: append, key: <column>}`` extracts one
data interval per DAG run (its query names ``{{ data_interval_start }}`` and
``{{ data_interval_end }}``). The versioned file is the union of every interval ingested so far:

- every extracted row must have its key inside the run's interval ``[start, end)``; a row outside
  it (or with no key) is refused before anything is committed, because a later run of its own
  interval would add it a second time;
- the file's rows whose key falls in the interval are dropped and the extract takes their place,
  so a rerun of an interval (a retry, a backfill, a late correction) replaces that interval's
  rows and never duplicates them;
- the result is sorted by the key, then by every other column, so the same intervals give the
  same bytes whatever order they were ingested in: a rerun with unchanged rows is unchanged
  content (no commit, no ``new_data_version`` event).

Why one appended file, not a partition file per interval: every reader (retraining, scoring,
drift) pins one file by its md5 and reads it through DVC, and a single file keeps that contract.
The cost is that each interval rewrites the file (time and DVC storage grow with the file, not
the interval); docs/pipeline-reference.md says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_mlops.errors import DataContractError

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow


@dataclass(frozen=True)
class Increment:
    """The interval a DAG run appends, and the column that places a row in it."""

    key: str
    start: datetime
    end: datetime

    def describe(self) -> str:
        return f"interval [{_iso(self.start)}, {_iso(self.end)}) on key '{self.key}'"

    def as_lineage(self) -> dict[str, str]:
        """What the commit's sidecar records about the interval."""
        return {"increment_key": self.key, "interval_start": _iso(self.start), "interval_end": _iso(self.end)}


def _iso(moment: datetime) -> str:
    return _utc(moment).isoformat()


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _key_as_utc(table: pyarrow.Table, increment: Increment, what: str) -> Any:
    """The key column as naive UTC timestamps (a date is its midnight); anything else is refused."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if increment.key not in table.column_names:
        raise DataContractError(
            f"{what} has no key column '{increment.key}' (columns: {', '.join(table.column_names)}); "
            "incremental.key must name a column of the extract"
        )
    column = table.column(increment.key)
    kind = column.type
    if pa.types.is_timestamp(kind):
        if kind.tz is not None:  # Arrow stores UTC instants: dropping the zone keeps them as UTC wall time
            column = pc.cast(column, pa.timestamp(kind.unit))
        return pc.cast(column, pa.timestamp("us"))
    if pa.types.is_date(kind):
        return pc.cast(pc.cast(column, pa.date32()), pa.timestamp("us"))
    raise DataContractError(
        f"{what}: key column '{increment.key}' is {kind}, not a timestamp or date; an incremental key places "
        "each row in a data interval, so it must be a time"
    )


def _in_interval(key: Any, increment: Increment) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    start = pa.scalar(_utc(increment.start).replace(tzinfo=None), pa.timestamp("us"))
    end = pa.scalar(_utc(increment.end).replace(tzinfo=None), pa.timestamp("us"))
    return pc.and_kleene(pc.greater_equal(key, start), pc.less(key, end))


def check_extract(extract: pyarrow.Table, increment: Increment, what: str = "the extract") -> None:
    """Every row's key lies in the interval; otherwise say how many do not, and the keys' range."""
    import pyarrow.compute as pc

    key = _key_as_utc(extract, increment, what)
    inside = pc.fill_null(_in_interval(key, increment), False)
    outside = extract.num_rows - pc.sum(inside).as_py() if extract.num_rows else 0
    if outside:
        bounds = pc.min_max(key)
        raise DataContractError(
            f"{what}: {outside} of {extract.num_rows} rows have a '{increment.key}' outside the run's "
            f"{increment.describe()} (or none); keys seen from {bounds['min']} to {bounds['max']}. Filter the query "
            f"with WHERE {increment.key} >= '{{{{ data_interval_start }}}}' AND {increment.key} < "
            "'{{ data_interval_end }}', or a rerun of the neighbouring interval would add these rows twice"
        )


def merge(existing: pyarrow.Table | None, extract: pyarrow.Table, increment: Increment) -> pyarrow.Table:
    """The file after this interval: the existing rows outside the interval, plus the extract, sorted."""
    import pyarrow as pa
    import pyarrow.compute as pc

    check_extract(extract, increment)
    if existing is None:
        combined = extract
    else:
        if existing.column_names != extract.column_names:
            raise DataContractError(
                f"the extract's columns {extract.column_names} differ from the versioned file's "
                f"{existing.column_names}; an appended interval must have the file's columns, in its order"
            )
        try:
            extract = extract.cast(existing.schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise DataContractError(
                f"the extract's types do not fit the versioned file's ({exc}); file: {existing.schema.types}, "
                f"extract: {extract.schema.types}"
            ) from exc
        keep = pc.invert(
            pc.fill_null(_in_interval(_key_as_utc(existing, increment, "the versioned file"), increment), False)
        )
        combined = pa.concat_tables([existing.filter(keep), extract])
    order = [(increment.key, "ascending")] + [
        (name, "ascending") for name in combined.column_names if name != increment.key
    ]
    return combined.take(pc.sort_indices(combined, sort_keys=order)).combine_chunks()


def append_interval(existing: Path | None, extract: Path, out: Path, increment: Increment) -> int:
    """Write ``out`` as ``existing`` (None: no file yet) with the interval's rows replaced by ``extract``'s.

    Returns the rows written. ``out`` may be ``existing``: the result is written beside it and
    renamed over it, so a failure leaves the old file whole.
    """
    import pyarrow.parquet as pq

    from airflow_mlops.hooks.snapshot import text_columns

    merged = merge(pq.read_table(existing) if existing is not None else None, pq.read_table(extract), increment)
    merged = merged.replace_schema_metadata(None)  # no writer-specific metadata: same rows, same bytes
    partial = out.with_name(f".{out.name}.partial")
    try:
        pq.write_table(merged, partial, use_dictionary=text_columns(merged.schema))
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return int(merged.num_rows)
