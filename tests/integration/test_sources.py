"""SQL and object-storage sources against real Postgres (127.0.0.1:5432) and real file:// and memory:// stores.

Each test's table lives in a schema of its own (dropped afterwards), read through an Airflow
connection given as an environment variable, the way a deployment defines one.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg2
import pytest

from airflow_mlops.errors import DataContractError, SourceError, SourceUnavailableError
from airflow_mlops.hooks.extract import take_snapshot
from airflow_mlops.hooks.snapshot import SnapshotWriter, read_pinned
from airflow_mlops.hooks.sql_source import _stream, sql_label

PG_DSN = "dbname=test user=postgres host=127.0.0.1 port=5432"
CONN_ID = "mlops_sources_pg"
ROWS = 2_500


def _pg() -> Any:
    connection = psycopg2.connect(PG_DSN)
    connection.autocommit = True
    return connection


@pytest.fixture(scope="module")
def schema() -> Iterator[str]:
    name = f"mlops_src_{uuid.uuid4().hex[:10]}"
    with _pg() as connection, connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {name}")
        cursor.execute(
            f"CREATE TABLE {name}.orders AS SELECT g AS id, g * 0.25 AS amount, "
            "(g %% 3)::text AS region, g %% 2 = 0 AS returned FROM generate_series(1, %s) g",
            (ROWS,),
        )
        cursor.execute(f"CREATE TABLE {name}.empty (id int)")
    yield name
    with _pg() as connection, connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA {name} CASCADE")


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", "postgresql://postgres@127.0.0.1:5432/test")
    return f"file://{tmp_path / 'artifacts'}"


def _sql(statement: str, chunk_rows: int = 1_000) -> dict[str, Any]:
    return {"conn_id": CONN_ID, "statement": statement, "chunk_rows": chunk_rows}


def _pinned(root: str) -> list[Path]:
    folder = Path(root.removeprefix("file://")) / "snapshots"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_sql_snapshot_is_pinned_with_lineage_and_read_back_whole(schema: str, root: str) -> None:
    statement = f"SELECT * FROM {schema}.orders ORDER BY id"
    chunks: list[int] = []
    ref = take_snapshot("orders_pipe", root, sql=_sql(statement), columns={"id": "integer"}, on_chunk=chunks.append)

    assert chunks == [1000, 2000, 2500]  # three round trips of chunk_rows, not one fetch of everything
    assert ref["source"] == "sql" and ref["conn_id"] == CONN_ID and ref["query"] == statement
    assert ref["rows"] == ROWS and ref["columns"] == {
        "id": "integer",
        "amount": "float",
        "region": "string",
        "returned": "boolean",
    }
    assert ref["uri"].endswith(f"/snapshots/orders_pipe/{ref['md5']}.parquet") and ref["commit"] == ref["md5"]
    assert "postgres@" not in str(ref) and "password" not in str(ref)

    with _pg() as connection:
        expected = pd.read_sql(statement, connection)
    frame = read_pinned(ref)
    pd.testing.assert_frame_equal(frame, expected.astype({"amount": "float64"}))

    again = take_snapshot("orders_pipe", root, sql=_sql(statement, chunk_rows=700))
    assert again["uri"] != ref["uri"]  # other row groups, other bytes: a new immutable snapshot
    assert take_snapshot("orders_pipe", root, sql=_sql(statement))["uri"] == ref["uri"]  # same extract, same pin


def _activity(seen: list[str]) -> Any:
    def look(_: int) -> None:
        with _pg() as connection, connection.cursor() as cursor:
            cursor.execute(
                "SELECT query FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query ILIKE %s",
                ("%mlops_snapshot_%",),
            )
            seen.extend(row[0] for row in cursor.fetchall())

    return look


def test_postgres_is_extracted_with_copy_while_the_rows_stream(schema: str, root: str) -> None:
    """While the extract runs, its session's statement is a COPY ... TO STDOUT: chunks arrive as it streams."""
    seen: list[str] = []
    take_snapshot("copy_pipe", root, sql=_sql(f"SELECT * FROM {schema}.orders;"), on_chunk=_activity(seen))
    assert seen and all(f"COPY (SELECT * FROM {schema}.orders) TO STDOUT" in q for q in seen), seen


def test_psycopg2_reads_through_a_server_side_cursor(schema: str, tmp_path: Path) -> None:
    """A connection that cannot COPY out (here psycopg2's) streams through a named cursor: FETCH after FETCH."""
    seen: list[str] = []
    writer = SnapshotWriter(sql_label("cursor_pipe", CONN_ID, "q"), tmp_path / "s.parquet", {"id": "integer"})
    connection = psycopg2.connect(PG_DSN)
    try:
        _stream(writer, connection, f"SELECT * FROM {schema}.orders ORDER BY id", 1_000, _activity(seen))
    finally:
        connection.close()
        writer.close()
    assert writer.rows == ROWS and writer.columns()["amount"] == "float"
    assert seen and all(q.upper().startswith(("FETCH", "DECLARE")) for q in seen), seen


def test_a_pinned_snapshot_that_changed_is_refused(schema: str, root: str) -> None:
    ref = take_snapshot("tamper_pipe", root, sql=_sql(f"SELECT id FROM {schema}.orders"))
    Path(ref["uri"].removeprefix("file://")).write_bytes(b"not what was pinned")
    with pytest.raises(Exception, match="does not match the pinned md5"):
        read_pinned(ref)


@pytest.mark.parametrize(
    ("statement", "columns", "error", "says"),
    [
        ("SELECT * FROM {schema}.no_such_table", None, SourceError, 'relation ".*no_such_table" does not exist'),
        ("SELECT id, region FROM {schema}.orders", {"amount": "float"}, DataContractError, "'amount'.*is missing"),
        (
            "SELECT id, region AS amount FROM {schema}.orders",
            {"amount": "float"},
            DataContractError,
            "'amount' is string, declared float",
        ),
        ("SELECT * FROM {schema}.empty", None, SourceError, "returned no rows"),
    ],
    ids=["query_error", "column_gone", "column_retyped", "empty_result"],
)
def test_sql_faults_name_pipeline_and_source_and_pin_nothing(
    schema: str, root: str, statement: str, columns: dict[str, str] | None, error: type[Exception], says: str
) -> None:
    query = statement.format(schema=schema)
    with pytest.raises(error, match=says) as raised:
        take_snapshot("faulty_pipe", root, sql=_sql(query), columns=columns)
    assert str(raised.value).startswith(f"pipeline 'faulty_pipe', sql source connection '{CONN_ID}' (query: {query})")
    assert _pinned(root) == []


def test_connection_lost_mid_extract_is_retried_and_pins_nothing(schema: str, root: str) -> None:
    def cut(rows: int) -> None:
        with _pg() as connection, connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                "AND query ILIKE %s",
                ("%mlops_snapshot_%",),
            )

    # The server sends 60,000 rows (about 13 MB of CSV), then sleeps before the rest: the second
    # branch's InitPlan runs once, when the first branch is done. pyarrow hands over a 4 MB block only
    # once the next one has begun (a row may straddle them), so the first chunk is in while the server
    # sleeps, however fast COPY and the read-ahead are. The cut ends the sleep with the backend.
    statement = (
        "SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 60000) g UNION ALL "
        "SELECT g, repeat('x', 200) FROM generate_series(60001, 80000) g WHERE (SELECT pg_sleep(120)::text) = ''"
    )
    with pytest.raises(SourceUnavailableError, match="connection lost mid-extract") as raised:
        take_snapshot("lost_pipe", root, sql=_sql(statement), on_chunk=cut)
    assert "pipeline 'lost_pipe', sql source connection" in str(raised.value)
    assert _pinned(root) == []


def test_object_storage_file_and_prefix(tmp_path: Path, root: str) -> None:
    frame = pd.DataFrame({"id": range(300), "score": [i / 7 for i in range(300)], "city": ["a", "b", "c"] * 100})
    single = tmp_path / "src" / "one.parquet"
    single.parent.mkdir()
    frame.to_parquet(single, index=False)
    ref = take_snapshot("file_pipe", root, object_storage={"uri": f"file://{single}", "format": "parquet"})
    assert ref["source"] == "object_storage" and ref["source_uri"] == f"file://{single}" and ref["rows"] == 300
    pd.testing.assert_frame_equal(read_pinned(ref), frame)

    prefix = tmp_path / "csvs"
    prefix.mkdir()
    for part in range(3):  # read in name order, so the snapshot is the same however the store lists them
        frame.iloc[part * 100 : (part + 1) * 100].to_csv(prefix / f"part-{part}.csv", index=False)
    (prefix / "README.txt").write_text("not data")
    ref = take_snapshot(
        "csv_pipe", root, object_storage={"uri": f"file://{prefix}/", "format": "csv"}, columns={"score": "float"}
    )
    pd.testing.assert_frame_equal(read_pinned(ref), frame)

    with pytest.raises(SourceError, match=r"pipeline 'csv_pipe', object_storage source 'file://.*/nowhere/'"):
        take_snapshot("csv_pipe", root, object_storage={"uri": f"file://{tmp_path}/nowhere/", "format": "csv"})


def test_object_storage_memory_store(root: str) -> None:
    import fsspec
    from airflow.sdk import ObjectStoragePath
    from airflow.sdk.io import attach

    attach("memory", fs=fsspec.filesystem("memory"))
    base = f"memory://mlops-{uuid.uuid4().hex[:8]}/events/"
    frame = pd.DataFrame({"user": ["u1", "u2", "u3", "u4"], "clicks": [3, 0, 7, 1]})
    for half, rows in enumerate((frame.iloc[:2], frame.iloc[2:])):
        buffer = io.BytesIO()
        rows.to_parquet(buffer, index=False)
        ObjectStoragePath(f"{base}day={half}/part.parquet").write_bytes(buffer.getvalue())

    ref = take_snapshot("memory_pipe", root, object_storage={"uri": base, "format": "parquet"})
    assert ref["rows"] == 4 and ref["uri"].startswith("file://")  # pinned away from the live store
    pd.testing.assert_frame_equal(read_pinned(ref), frame)

    with pytest.raises(DataContractError, match="'clicks' is integer, declared string"):
        take_snapshot(
            "memory_pipe", root, object_storage={"uri": base, "format": "parquet"}, columns={"clicks": "string"}
        )
