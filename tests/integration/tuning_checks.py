"""What a tuned candidate's MLflow record must show once ``train`` gathered its trials.

Shared by the dag.test() run (tests/integration/test_parallel_tuning.py) and the Celery run
(tests/distributed/test_tuning_on_celery.py): however the mapped tune tasks were scheduled, the
record is the same.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_mlops.record import tag


def assert_trials_gathered(client: Any, dag_id: str, run_id: str, candidate: str, n_trials: int, workers: int) -> Any:
    """Each trial finished once with its worker's round-robin share, under the candidate, which fitted the best.

    Returns the candidate's MLflow run.
    """
    experiment = client.get_experiment_by_name(dag_id)
    trials = client.search_runs(
        [experiment.experiment_id],
        f"tags.`{tag.RUN_ID}` = '{run_id}' and tags.`{tag.ROLE}` = '{tag.ROLE_TRIAL}'",
        max_results=1000,
    )
    records = {json.loads(t.data.tags[tag.TRIAL_RECORD])["number"]: t for t in trials}
    assert sorted(records) == list(range(n_trials)) and len(trials) == n_trials, sorted(records)
    assert {t.info.status for t in trials} == {"FINISHED"}
    shares = {n: t.data.tags[tag.TRIAL_TASK] for n, t in records.items()}
    assert shares == {n: f"tune_{candidate}[{n % workers}]" for n in range(n_trials)}, shares

    identity = tag.identity(dag_id, run_id, tag.ROLE_CANDIDATE, candidate)
    [run] = client.search_runs(
        [experiment.experiment_id], " and ".join(f"tags.`{k}` = '{v}'" for k, v in identity.items())
    )
    # train moved every trial under the candidate's run and fitted the best (ties to the lowest number)
    assert {t.data.tags["mlflow.parentRunId"] for t in trials} == {run.info.run_id}
    values = {n: json.loads(t.data.tags[tag.TRIAL_RECORD]) for n, t in records.items()}
    winner = min(values, key=lambda n: (-values[n]["value"], n))
    assert run.data.params["tuning.best_trial"] == str(winner)
    assert run.data.params["tuning.workers"] == str(workers)
    for name, value in values[winner]["params"].items():
        assert json.loads(run.data.params[f"param.{name}"]) == value, name
    assert run.data.metrics["tuning_trials_complete"] == n_trials
    return run
