"""20 tuning trials spread over two mapped tune tasks on two Celery workers (issue #17).

dag.test() (tests/integration/test_parallel_tuning.py) runs the mapped workers one after the
other; here the scheduler queues both to the Celery workers of the loopback stack, so the shares
run at the same time in two processes on two workers, and meet only in the MLflow server.
"""

from __future__ import annotations

from collections.abc import Callable

from airflow_mlops.record import tag
from tests.distributed.components import WORKERS
from tests.distributed.stack import LoopbackStack
from tests.distributed.timeline import assignment_table, ran_together
from tests.distributed.tuning_pipeline import DAG_ID, MODEL_NAME, N_TRIALS, TUNE_WORKERS
from tests.integration.tuning_checks import assert_trials_gathered


def test_twenty_trials_run_in_parallel_on_two_celery_workers(
    stack: LoopbackStack, distributed_summary: Callable[[str], None]
) -> None:
    from airflow_mlops.demo.datasets import data_versions, to_csv_bytes

    # The same bytes as the example run's v1 (a new commit of them when that test ran first).
    stack.commit_data(to_csv_bytes(data_versions()[0]), "data v1 for the tuning run")
    stack.wait_for_dag(DAG_ID)
    run = stack.trigger_and_wait(DAG_ID)
    run_id = run["dag_run_id"]
    tis = stack.task_instances(DAG_ID, run_id)
    table = assignment_table(tis)
    distributed_summary(f"task -> worker assignment, {DAG_ID} {run_id} ({run['state']}):\n{table}")
    assert run["state"] == "success", f"run failed; logs in {stack.logs}\n{table}"
    assert all(ti["state"] == "success" for ti in tis), table

    # Both shares ran at once, one on each worker.
    tune = [ti for ti in tis if ti["task_id"] == "tune_logreg"]
    assert sorted(ti["map_index"] for ti in tune) == list(range(TUNE_WORKERS)), table
    assert {ti["hostname"] for ti in tune} == set(WORKERS), table
    assert ran_together(*tune), table

    # Every trial finished once under the candidate, with its worker's share; the best became champion.
    client = stack.client()
    candidate = assert_trials_gathered(client, DAG_ID, run_id, "logreg", n_trials=N_TRIALS, workers=TUNE_WORKERS)
    champion = client.get_model_version_by_alias(MODEL_NAME, "champion")
    assert champion.run_id == candidate.info.run_id and champion.tags[tag.RUN_ID] == run_id
