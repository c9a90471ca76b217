"""Incremental ingestion's logic, in process: appending an interval, replacing it on a rerun, the spec rules, the DAG.

The DVC side (a commit per interval, a retried interval making none) runs against real git + DVC
in tests/integration/test_incremental_ingestion.py; everything here is pure Arrow and pydantic.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from airflow.sdk import CronDataIntervalTimetable

from airflow_mlops.errors import DataContractError, PipelineConfigError
from airflow_mlops.factory.templates import build_dag
from airflow_mlops.hooks.increment import Increment, append_interval, check_extract, merge
from airflow_mlops.spec.loader import load_pipeline_spec

EXAMPLE = Path(__file__).resolve().parents[3] / "dags" / "pipelines" / "orders_ingest_daily.yaml"
DAY1 = Increment("ordered_at", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
DAY2 = Increment("ordered_at", datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 3, tzinfo=UTC))


def _orders(day: date, ids: range, amount: float = 1.0) -> pa.Table:
    start = datetime(day.year, day.month, day.day)
    return pa.table(
        {
            "order_id": pa.array(list(ids), pa.int64()),
            "ordered_at": pa.array([start + timedelta(minutes=i) for i in range(len(ids))], pa.timestamp("us")),
            "customer": pa.array([f"c{i % 3}" for i in ids]),
            "amount": pa.array([amount * i for i in ids], pa.float64()),
        }
    )


def test_intervals_append_and_a_rerun_replaces_its_own_rows() -> None:
    first = merge(None, _orders(date(2026, 1, 1), range(0, 5)), DAY1)
    both = merge(first, _orders(date(2026, 1, 2), range(5, 8)), DAY2)
    assert both.num_rows == 8 and both.column("order_id").to_pylist() == list(range(8))

    rerun = merge(both, _orders(date(2026, 1, 1), range(0, 5)), DAY1)  # a retry of day 1: same rows
    assert rerun.equals(both)
    corrected = merge(both, _orders(date(2026, 1, 1), range(0, 3), amount=2.0), DAY1)  # day 1 changed at source
    assert corrected.column("order_id").to_pylist() == [0, 1, 2, 5, 6, 7]
    assert corrected.column("amount").to_pylist()[:3] == [0.0, 2.0, 4.0]


def test_the_result_does_not_depend_on_the_order_intervals_or_rows_arrive_in() -> None:
    day1, day2 = _orders(date(2026, 1, 1), range(0, 5)), _orders(date(2026, 1, 2), range(5, 8))
    forward = merge(merge(None, day1, DAY1), day2, DAY2)
    backward = merge(merge(None, day2.take([2, 0, 1]), DAY2), day1.take([4, 3, 2, 1, 0]), DAY1)
    assert forward.equals(backward)


def test_rows_outside_the_interval_are_refused_with_the_fix() -> None:
    with pytest.raises(DataContractError, match=r"3 of 3 rows have a 'ordered_at' outside the run's interval \["):
        check_extract(_orders(date(2026, 1, 1), range(0, 3)), DAY2)
    nulls = _orders(date(2026, 1, 2), range(0, 2)).set_column(
        1, "ordered_at", pa.array([None, None], pa.timestamp("us"))
    )
    with pytest.raises(DataContractError, match="2 of 2 rows"):
        check_extract(nulls, DAY2)
    mixed = pa.concat_tables([_orders(date(2026, 1, 2), range(0, 3)), _orders(date(2026, 1, 3), range(3, 5))])
    with pytest.raises(DataContractError, match="2 of 5 rows") as err:
        check_extract(mixed, DAY2)
    assert "WHERE ordered_at >= '{{ data_interval_start }}'" in str(err.value)


def test_keys_may_be_zoned_timestamps_or_dates_but_not_numbers() -> None:
    zone = pa.table(
        {"ordered_at": pa.array([datetime(2026, 1, 1, 23, tzinfo=UTC)], pa.timestamp("us", tz="Europe/Paris"))}
    )
    check_extract(zone, DAY1)  # 00:00 in Paris is 23:00 UTC on the 1st: inside day 1
    check_extract(pa.table({"ordered_at": pa.array([date(2026, 1, 2)])}), DAY2)
    with pytest.raises(DataContractError, match="outside"):
        check_extract(zone, DAY2)
    with pytest.raises(DataContractError, match="is int64, not a timestamp or date"):
        check_extract(pa.table({"ordered_at": pa.array([1])}), DAY1)
    with pytest.raises(DataContractError, match="has no key column 'ordered_at'"):
        check_extract(pa.table({"other": pa.array([1])}), DAY1)


def test_an_interval_with_other_columns_than_the_file_is_refused() -> None:
    first = merge(None, _orders(date(2026, 1, 1), range(0, 2)), DAY1)
    with pytest.raises(DataContractError, match="differ from the versioned file's"):
        merge(first, _orders(date(2026, 1, 2), range(2, 4)).drop_columns(["customer"]), DAY2)
    retyped = _orders(date(2026, 1, 2), range(2, 4)).set_column(2, "customer", pa.array([1.5, 2.5]))
    with pytest.raises(DataContractError, match="do not fit the versioned file's"):
        merge(first, retyped.set_column(3, "amount", pa.array(["a", "b"])), DAY2)


def test_append_interval_writes_the_same_bytes_for_the_same_rows(tmp_path: Path) -> None:
    pq.write_table(_orders(date(2026, 1, 1), range(0, 4)), extract := tmp_path / "day1.parquet")
    pq.write_table(_orders(date(2026, 1, 2), range(4, 6)), second := tmp_path / "day2.parquet")
    out = tmp_path / "orders.parquet"
    assert append_interval(None, extract, out, DAY1) == 4
    assert append_interval(out, second, out, DAY2) == 6
    once = out.read_bytes()
    assert append_interval(out, extract, out, DAY1) == 6  # the rerun of day 1
    assert out.read_bytes() == once
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no partial file left
    encoded = pq.ParquetFile(out).metadata.row_group(0)
    dictionary = {encoded.column(i).path_in_schema: "RLE_DICTIONARY" in encoded.column(i).encodings for i in range(4)}
    assert dictionary == {"order_id": False, "ordered_at": False, "customer": True, "amount": False}


def _spec_file(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    text = EXAMPLE.read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / EXAMPLE.name
    path.write_text(text)
    return path


def test_the_example_builds_a_dag_with_real_data_intervals(tmp_path: Path) -> None:
    spec = load_pipeline_spec(shutil.copy(EXAMPLE, tmp_path), defaults_root=tmp_path)
    dag = build_dag(spec, source=EXAMPLE.name)
    assert isinstance(dag.timetable, CronDataIntervalTimetable) and dag.timetable.expression == "0 0 * * *"
    assert dag.get_task("version_data").increment_key == "ordered_at"  # type: ignore[attr-defined]
    plain_file = _spec_file(tmp_path, ("  incremental:\n    mode: append\n    key: ordered_at", "  # none"))
    plain = load_pipeline_spec(plain_file, defaults_root=tmp_path)
    assert not isinstance(build_dag(plain, source="x").timetable, CronDataIntervalTimetable)


def test_an_increment_needs_a_datetime_key_and_a_clock_schedule_in_one_pass(tmp_path: Path) -> None:
    path = _spec_file(tmp_path, ("    key: ordered_at", "    key: amount"), ('schedule: "@daily"', "schedule: null"))
    with pytest.raises(PipelineConfigError) as caught:
        load_pipeline_spec(path, defaults_root=tmp_path)
    found = {(issue.field, issue.message) for issue in caught.value.issues}
    assert ("output.incremental.key", "key 'amount' is declared float, not datetime") in found
    assert any(field == "schedule" and "cron or preset schedule" in message for field, message in found)
    assert len(found) == 2
    missing = _spec_file(tmp_path, ("    key: ordered_at", "    key: shipped_at"))
    with pytest.raises(PipelineConfigError, match=r"not among data\.columns"):
        load_pipeline_spec(missing, defaults_root=tmp_path)
