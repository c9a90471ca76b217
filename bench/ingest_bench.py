"""Ingestion throughput: a SQL snapshot of 1M and 5M Postgres rows against ``pandas.read_sql`` + ``to_parquet``.

Ours is the ingestion template's extract (``hooks/extract.take_snapshot``): COPY ... TO STDOUT
parsed by pyarrow in chunks of ``chunk_rows``, written to Parquet, hashed and pinned. The plain
script is what one would write by hand: ``pandas.read_sql`` over a SQLAlchemy engine, then
``DataFrame.to_parquet``. Both read the same table of a database of their own
(``ingest_bench_<random>``, dropped afterwards) on the Postgres at 127.0.0.1:5432, each run in a
fresh interpreter so its peak memory is its own (``ru_maxrss``). Memory is reported as the peak
above what the process held once its imports were done, so the libraries either side imports do
not blur the comparison; seconds are the extract alone, imports excluded.

    python bench/ingest_bench.py child ours|baseline DB ROWS OUT_DIR   # one run; prints JSON
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PG = "postgresql://postgres@127.0.0.1:5432"
CHUNK_ROWS = 50_000
VARIANTS = ("ours", "baseline")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _query(rows: int) -> str:
    return f"SELECT * FROM orders WHERE id <= {rows}"


def child(variant: str, db: str, rows: int, out: Path) -> dict[str, Any]:
    """One extract of ``rows`` rows; the time and memory it took."""
    if variant == "ours":
        # What the extract imports on its first call, imported before the clock starts (the plain
        # script's pandas, pyarrow and SQLAlchemy dialect are too).
        import psycopg  # noqa: F401
        import pyarrow.csv
        import pyarrow.parquet
        from airflow.providers.postgres.hooks.postgres import PostgresHook  # noqa: F401
        from airflow.sdk import ObjectStoragePath

        from airflow_mlops.hooks.extract import take_snapshot

        os.environ["AIRFLOW_CONN_INGEST_BENCH"] = f"{PG}/{db}"
        ObjectStoragePath(f"file://{out}").exists()
        settled = _rss_mb()
        started = time.perf_counter()
        sql = {"conn_id": "ingest_bench", "statement": _query(rows), "chunk_rows": CHUNK_ROWS}
        ref = take_snapshot("ingest_bench", f"file://{out}", sql=sql)
        seconds, written = time.perf_counter() - started, int(ref["rows"])
    else:
        import pandas as pd
        import pyarrow  # noqa: F401 - to_parquet's engine, imported before the clock starts
        import sqlalchemy

        engine = sqlalchemy.create_engine(f"postgresql+psycopg2://postgres@127.0.0.1:5432/{db}")
        settled = _rss_mb()
        started = time.perf_counter()
        frame = pd.read_sql(_query(rows), engine)
        frame.to_parquet(out / "plain.parquet")
        seconds, written = time.perf_counter() - started, len(frame)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mb": peak, "above_imports_mb": peak - settled, "rows": written}


def _psql(db: str, *statements: str) -> None:
    import psycopg2

    connection = psycopg2.connect(f"dbname={db} user=postgres host=127.0.0.1 port=5432")
    connection.autocommit = True
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    connection.close()


def measure(
    sizes: list[int], k: int, env: dict[str, str], work: Path, log: Callable[[str], None]
) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """``k`` runs of each variant per size, interleaved, in a database made for the purpose and dropped after."""
    db = f"ingest_bench_{uuid.uuid4().hex[:8]}"
    _psql("postgres", f"CREATE DATABASE {db}")
    results: dict[int, dict[str, list[dict[str, Any]]]] = {}
    try:
        log(f"ingest: filling {db}.orders with {max(sizes):,} rows")
        _psql(
            db,
            "CREATE TABLE orders (id bigint, ordered_at timestamp, customer text, region text, amount float8, "
            "quantity int)",
            "INSERT INTO orders SELECT g, '2026-01-01'::timestamp + g * interval '1 second', 'customer-' || g % 5000, "
            f"(ARRAY['north','south','east','west'])[g % 4 + 1], g * 0.01, g % 7 "
            f"FROM generate_series(1, {max(sizes)}) g",
            "ANALYZE orders",
        )
        child_env = {**env, "PYTHONPATH": str(HERE.parent)}  # this tree's airflow_mlops, whatever is installed
        for rows in sizes:
            results[rows] = {variant: [] for variant in VARIANTS}
            for run in range(k):
                for variant in VARIANTS:
                    out = work / f"ingest-{variant}-{rows}-{run}"
                    out.mkdir(parents=True)
                    proc = subprocess.run(
                        [sys.executable, str(Path(__file__)), "child", variant, db, str(rows), str(out)],
                        env=child_env, capture_output=True, text=True, check=False, timeout=1800,
                    )  # fmt: skip
                    if proc.returncode != 0:
                        raise RuntimeError(f"ingest {variant} {rows} rows failed:\n{proc.stderr[-3000:]}")
                    found = json.loads(proc.stdout.strip().splitlines()[-1])
                    if found["rows"] != rows:
                        raise RuntimeError(f"ingest {variant} wrote {found['rows']} rows, not {rows}")
                    results[rows][variant].append(found)
                    log(f"ingest {rows:,} rows, {variant}: {found['seconds']:.2f} s, peak {found['peak_mb']:.0f} MB")
    finally:
        _psql("postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    return results


def median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(run[key] for run in runs))


if __name__ == "__main__":
    if len(sys.argv) != 6 or sys.argv[1] != "child" or sys.argv[2] not in VARIANTS:
        sys.exit(__doc__)
    print(json.dumps(child(sys.argv[2], sys.argv[3], int(sys.argv[4]), Path(sys.argv[5]))))
