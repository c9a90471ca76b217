"""Run one DAG once with ``dag.test()`` and write the outcome as JSON.

Executed as ``python -m airflow_mlops.demo.run_dag DAG_ID OUT.json [LOGICAL_DATE] [--conf=JSON]`` in a child
process (``--conf`` is the run's conf, which sets its params: ``--conf='{"no_cache": true}'``),
because Airflow reads its configuration (home, database, dags folder) at import time and the
parent sets that environment up first.
"""

from __future__ import annotations

import faulthandler
import json
import signal
import sys
from pathlib import Path


def run(dag_id: str, out: Path, logical_date: str | None = None, run_conf: dict[str, object] | None = None) -> int:
    """``logical_date`` (ISO 8601) names a DAG run: given again, dag.test() replaces that DAG run (same run id)."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.configuration import conf
    from airflow.utils.session import create_session

    bag = DagBag(dag_folder=conf.get("core", "dags_folder"))
    if bag.import_errors:
        out.write_text(json.dumps({"import_errors": {k: str(v) for k, v in bag.import_errors.items()}}))
        return 2
    dag = bag.get_dag(dag_id)
    if dag is None:
        out.write_text(json.dumps({"import_errors": {dag_id: "DAG not found"}}))
        return 2
    # Airflow 3.3.2's dag.test() crashes when a run of a DAG with a deadline alert succeeds: the
    # in-memory DAG it runs holds each alert encoded, not as its database id, and
    # DagRun.update_state looks the encoded dict up as an id (AttributeError: 'dict' object has no
    # attribute 'hex'). dag.test() runs no scheduler or triggerer to fire the alert anyway, so the
    # run goes without it (sla.run_deadline; docs/observability.md).
    if dag.deadline:
        dag.deadline = None
    if logical_date:
        from datetime import datetime

        when = datetime.fromisoformat(logical_date)
        dag_run = dag.test(logical_date=when, run_after=when, run_conf=run_conf)  # the run id derives from run_after
    else:
        dag_run = dag.test(run_conf=run_conf)
    with create_session() as session:
        tis = dag_run.get_task_instances(session=session)
        states = {
            (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.rendered_map_index or ti.map_index}]"): str(
                ti.state
            )
            for ti in tis
        }
        tries = {
            (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.rendered_map_index or ti.map_index}]"): int(
                ti.try_number or 0
            )
            for ti in tis
        }
        out.write_text(
            json.dumps({"run_id": dag_run.run_id, "state": str(dag_run.state), "tasks": states, "tries": tries})
        )
    return 0


def main(argv: list[str]) -> int:
    """``DAG_ID OUT.json [LOGICAL_DATE]``; ``kill -USR1`` then prints every thread's stack to stderr,
    so a run that seems stuck says where."""
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    run_conf = next((json.loads(a.removeprefix("--conf=")) for a in argv if a.startswith("--conf=")), None)
    positional = [a for a in argv if not a.startswith("--conf=")]
    return run(positional[0], Path(positional[1]), positional[2] if len(positional) > 2 else None, run_conf)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
