"""A fork server for the integration tests' DAG runs: the imports once, a fresh process per run.

A pipeline run through ``python -m airflow_mlops.demo.run_dag`` spends most of its CPU importing
(Airflow's execution API, Great Expectations, MLflow, scikit-learn) before and between its tasks;
the suite makes dozens of them. This process imports all that once, with the deployment's
environment, then forks a child per run. Each child is a copy of a process that has imported
but never run anything (no database connection, no thread besides the main one), so a run
sees exactly what a new ``run_dag`` process would, minus the import time.

Protocol, one JSON document per line: the test sends ``{"argv": [dag_id, out, logical_date?],
"log": path}``; the server answers ``{"pid": N}`` when the child starts and ``{"pid": N,
"code": C}`` when it ends. Closing stdin ends the server.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import sys
import threading

#: What every pipeline run imports. The list only saves time: a module missing from it costs only its import.
PRELOAD = (
    # Airflow: the DAG bag, dag.test()'s in-process execution API, the supervisor and task runner.
    "airflow.models.dagbag",
    "airflow.dag_processing.collection",
    "airflow.jobs.job",
    "airflow.sdk",
    "airflow.sdk.execution_time.supervisor",
    "airflow.sdk.execution_time.task_runner",
    "airflow.api_fastapi.execution_api.app",
    "airflow.api_fastapi.execution_api.routes",
    "airflow.providers.openlineage.plugins.openlineage",
    "airflow.providers.standard.operators.trigger_dagrun",
    "airflow.providers.standard.sensors.external_task",
    # The engines the tasks drive. skops.io alone is seconds: it walks every scikit-learn module.
    "great_expectations",
    "mlflow.sklearn",
    "mlflow.pyfunc",
    "mlflow.store.tracking.sqlalchemy_store",
    "alembic.command",
    "skops.io",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "sklearn.model_selection",
    "pandas",
    "pyarrow.parquet",
    "pyarrow.dataset",
    "dvc.api",
    "dvc.repo",
    "scmrepo.git",
    "git",
    "pygit2",
    "dvc_render",
    "opentelemetry.sdk",
    # The provider's own modules a retraining run loads.
    "airflow_mlops.demo.run_dag",
    "airflow_mlops.factory.loader",
    "airflow_mlops.factory.retraining",
    "airflow_mlops.spec.loader",
    "airflow_mlops.ml.scoring",
    "airflow_mlops.operators.train",
    "airflow_mlops.operators.evaluate",
    "airflow_mlops.operators.registry",
    "airflow_mlops.operators.validation",
    "airflow_mlops.operators.prepare",
    "airflow_mlops.hooks.gx",
    "airflow_mlops.hooks.dvc",
    "airflow_mlops.ml.contract_check",
    "airflow_mlops.ml.flavors",
    "airflow_mlops.card.render",
    "airflow_mlops.plugins.plugin",
)


def _child(argv: list[str], log: str) -> None:
    """In the forked child: the run's output to its log, the run, then the exit a ``run_dag`` process makes.

    The exit runs what an interpreter's shutdown runs for the program: it waits for non-daemon
    threads and their exit hooks (the OpenLineage listener's process pool stops there), then the
    ``atexit`` functions (logging's flush, ``weakref.finalize``). Then ``os._exit``, without the
    rest of a shutdown, which frees every object: in a forked child that writes to every page the
    server's imports share with it, seconds per run spent copying memory about to be dropped.
    """
    import atexit
    import threading
    import traceback

    code = 1
    try:
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        handle = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(handle, 1)
        os.dup2(handle, 2)
        from airflow_mlops.demo.run_dag import main as run_dag

        code = run_dag(argv)
    except Exception:
        traceback.print_exc()
    try:
        threading._shutdown()  # type: ignore[attr-defined]  # what Py_FinalizeEx calls first
        atexit._run_exitfuncs()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _build_execution_api() -> None:
    """Build dag.test()'s in-process execution API once, here, rather than in every run.

    Airflow makes it once per process (``in_process_api_server`` is cached) and its Cadwyn app
    generates its versioned routes on the first request: seconds of CPU in each run, the same
    every time, with no database, socket or thread (the loop thread comes with ``transport``,
    which each run makes for itself).
    """
    from airflow.sdk.execution_time.supervisor import in_process_api_server

    app = in_process_api_server().app
    if not app._cadwyn_initialized:
        app._cadwyn_initialize()


def main() -> None:
    for name in PRELOAD:
        importlib.import_module(name)
    _build_execution_api()
    # Into the permanent generation: a child's collections then leave the imported objects alone,
    # rather than touch (and so copy) every page of them (the gc module's advice for pre-fork servers).
    gc.freeze()
    if threading.active_count() != 1:  # forking beside a running thread could copy a held lock
        raise SystemExit(f"run server: threads after imports: {[t.name for t in threading.enumerate()]}")
    answers = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request["argv"], request["log"])
        answers.write(json.dumps({"pid": pid}) + "\n")
        answers.flush()
        _, status = os.waitpid(pid, 0)
        answers.write(json.dumps({"pid": pid, "code": os.waitstatus_to_exitcode(status)}) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
