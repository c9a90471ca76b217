"""20 tuning trials spread over two mapped tune tasks on two Celery workers (issue #17).

dag.test() (tests/integration/test_parallel_tuning.py) runs the mapped workers one after the
other; here the scheduler queues both to the Celery workers of the loopback stack, so the shares
run at the same time in two processes on two workers, and meet only in the MLflow server.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from airflow_mlops.record import tag
from tests.distributed.components import WORKERS
from tests.distributed.stack import LoopbackStack
from tests.distributed.test_celery_postgres import _when, assignment_table
from tests.distributed.tuning_pipeline import DAG_ID, MODEL_NAME, N_TRIALS, TUNE_WORKERS


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
    first, second = tune
    assert _when(first["start_date"]) < _when(second["end_date"]), table
    assert _when(second["start_date"]) < _when(first["end_date"]), table

    # Every trial finished once, as a nested run under the candidate, each worker with its share.
    client = stack.client()
    experiment = client.get_experiment_by_name(DAG_ID)
    trials = client.search_runs(
        [experiment.experiment_id],
        f"tags.`{tag.RUN_ID}` = '{run_id}' and tags.`{tag.ROLE}` = '{tag.ROLE_TRIAL}'",
        max_results=1000,
    )
    records = {json.loads(t.data.tags[tag.TRIAL_RECORD])["number"]: t for t in trials}
    assert sorted(records) == list(range(N_TRIALS)), sorted(records)
    assert len(trials) == N_TRIALS and {t.info.status for t in trials} == {"FINISHED"}
    shares = {n: t.data.tags[tag.TRIAL_TASK] for n, t in records.items()}
    assert shares == {n: f"tune_logreg[{n % TUNE_WORKERS}]" for n in range(N_TRIALS)}, shares

    identity = tag.identity(DAG_ID, run_id, tag.ROLE_CANDIDATE, "logreg")
    [candidate] = client.search_runs(
        [experiment.experiment_id], " and ".join(f"tags.`{k}` = '{v}'" for k, v in identity.items())
    )
    assert {t.data.tags["mlflow.parentRunId"] for t in trials} == {candidate.info.run_id}
    # train fitted the best trial (ties to the lowest number), and that model became the champion.
    values = {n: json.loads(t.data.tags[tag.TRIAL_RECORD]) for n, t in records.items()}
    winner = min(values, key=lambda n: (-values[n]["value"], n))
    assert candidate.data.params["tuning.best_trial"] == str(winner)
    assert json.loads(candidate.data.params["param.C"]) == values[winner]["params"]["C"]
    assert candidate.data.metrics["tuning_trials_complete"] == N_TRIALS
    champion = client.get_model_version_by_alias(MODEL_NAME, "champion")
    assert champion.run_id == candidate.info.run_id and champion.tags[tag.RUN_ID] == run_id
