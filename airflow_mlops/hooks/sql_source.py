"""Stream a SQL query's rows into a snapshot, with memory bounded by the chunk size.

The connection comes from Airflow through common.sql's ``DbApiHook``, so any SQL provider's
connection works and its secret stays in Airflow. ``DbApiHook.get_df_by_chunks`` is not used:
with psycopg it fetches the whole result at ``execute()`` before cutting it into chunks
(STACK_NOTES_TURN2 §8). With psycopg 3 (the postgres provider's driver since 7.1.1) the query is
streamed out with ``COPY ... TO STDOUT`` and parsed by pyarrow (hooks/pg_copy.py), several times
faster than building Arrow columns from Python tuples. With psycopg2 it runs in a named,
server-side cursor, so each ``fetchmany`` brings ``chunk_rows`` rows over the wire and nothing
more is held; other drivers use an ordinary cursor and stream as far as their driver does.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_mlops.errors import ConfigurationError, MlopsException
from airflow_mlops.hooks.snapshot import SnapshotWriter, SourceLabel, raise_source_error

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

#: Called after each chunk with the rows written so far (progress logs; tests cut the connection here).
ChunkCallback = Callable[[int], None]
_SERVER_SIDE_DRIVERS = ("psycopg", "psycopg2")


def sql_label(pipeline: str, conn_id: str, statement: str) -> SourceLabel:
    shown = " ".join(statement.split())
    shown = shown if len(shown) <= 200 else shown[:197] + "..."
    return SourceLabel(pipeline, "sql", f"connection '{conn_id}' (query: {shown})")


def dbapi_hook(conn_id: str) -> DbApiHook:
    """The connection's SQL hook; a connection whose provider has none is a configuration error."""
    from airflow.providers.common.sql.hooks.sql import DbApiHook
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        hook = BaseHook.get_connection(conn_id).get_hook()  # type: ignore[no-untyped-call]
    except AirflowNotFoundException as exc:
        raise ConfigurationError(f"SQL connection '{conn_id}' is not defined; create it in Airflow") from exc
    if not isinstance(hook, DbApiHook):
        raise ConfigurationError(
            f"connection '{conn_id}' has no SQL hook (got {type(hook).__name__}); install its database's "
            "Airflow provider, e.g. apache-airflow-providers-postgres (the airflow-mlops[sql] extra)"
        )
    return hook


def _cursor(connection: Any) -> tuple[Any, bool]:
    """A server-side cursor when the driver has one, else an ordinary cursor; and which it is."""
    driver = type(connection).__module__.split(".", 1)[0]
    if driver in _SERVER_SIDE_DRIVERS:
        return connection.cursor(name=f"mlops_snapshot_{uuid.uuid4().hex[:12]}"), True
    return connection.cursor(), False


def _is_connection_lost(exc: BaseException, connection: Any) -> bool:
    # psycopg (2 and 3) say so on the connection; a DB-API OperationalError is the generic sign.
    if bool(getattr(connection, "closed", False)):
        return True
    return type(exc).__name__ in {"OperationalError", "InterfaceError"}


def _to_table(names: list[str], rows: list[Any]) -> Any:
    import pyarrow as pa

    def column(values: tuple[Any, ...]) -> Any:
        array = pa.array(values)
        # NUMERIC arrives as Decimal, and Arrow sizes a decimal type to each chunk's values, so two
        # chunks would disagree; the pipeline reads numbers as floats anyway.
        return array.cast(pa.float64()) if pa.types.is_decimal(array.type) else array

    columns = list(zip(*rows, strict=True))
    return pa.table({name: column(values) for name, values in zip(names, columns, strict=True)})


def extract_sql(
    writer: SnapshotWriter,
    conn_id: str,
    statement: str,
    chunk_rows: int,
    on_chunk: ChunkCallback | None = None,
) -> None:
    """Run ``statement`` and write its rows to ``writer`` chunk by chunk; the writer is left open."""
    hook = dbapi_hook(conn_id)
    try:
        connection = hook.get_conn()
    except Exception as exc:
        raise_source_error(writer.label, exc, lost=False)
    try:
        _stream(writer, connection, statement, chunk_rows, on_chunk)
    except (SystemExit, KeyboardInterrupt):
        raise
    except Exception as exc:
        if isinstance(exc, MlopsException):  # the writer's own verdict (a schema change) is already clear
            raise
        raise_source_error(writer.label, exc, lost=_is_connection_lost(exc, connection))
    finally:
        try:
            connection.rollback()  # a read-only extract commits nothing; this also ends the cursor
            connection.close()
        except Exception:  # a lost connection cannot be rolled back; the original error is reported
            pass


def _stream(
    writer: SnapshotWriter, connection: Any, statement: str, chunk_rows: int, on_chunk: ChunkCallback | None
) -> None:
    from airflow_mlops.hooks.pg_copy import copy_batches, is_psycopg3

    if is_psycopg3(connection):
        for table in copy_batches(connection, statement, chunk_rows):
            writer.write(table)
            if on_chunk is not None:
                on_chunk(writer.rows)
        return
    cursor, server_side = _cursor(connection)
    if server_side:
        cursor.itersize = chunk_rows
    cursor.execute(statement)
    while True:
        rows = cursor.fetchmany(chunk_rows)
        if not rows:
            break
        # psycopg2's named cursor describes its columns only after the first fetch.
        names = [str(column[0]) for column in cursor.description]
        writer.write(_to_table(names, rows))
        if on_chunk is not None:
            on_chunk(writer.rows)
    cursor.close()
