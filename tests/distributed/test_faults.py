"""Faults on the production shape: MLflow dies, a worker dies, a finished run is cleared and re-run.

Each test runs its own pipeline (tests/distributed/faults.py) on the shared loopback stack,
injects one fault at a moment chosen by watching MLflow and Airflow, and then checks what users
care about: the run still succeeded through Airflow's retries (with exponential backoff), and
nothing is duplicated, orphaned or promoted by accident: one finished MLflow run per candidate,
one model version per DAG run, ``@champion`` on it, no run left RUNNING, no promotion lock left.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from tests.distributed.faults import FAULT_PIPELINES, RETRIES
from tests.distributed.stack import LoopbackStack
from tests.distributed.timeline import assignment_table, when

T = TypeVar("T")


def wait_for(check: Callable[[], T], what: str, timeout: float = 300, every: float = 0.3) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def model_of(dag_id: str) -> str:
    return str(FAULT_PIPELINES[dag_id]["registry"]["model_name"])  # type: ignore[index]


def candidate_runs(client: Any, dag_id: str, run_id: str) -> list[Any]:
    experiment = client.get_experiment_by_name(dag_id)
    if experiment is None:
        return []
    return list(
        client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.`mlops.run_id` = '{run_id}' and tags.`mlops.role` = 'candidate'",
            max_results=100,
        )
    )


def versions(client: Any, model: str, run_id: str | None = None) -> list[Any]:
    query = f"name = '{model}'" + (f" and tags.`mlops.run_id` = '{run_id}'" if run_id else "")
    return sorted(client.search_model_versions(query), key=lambda v: int(v.version))


def check_backoff(stack: LoopbackStack, dag_id: str, run_id: str, ti: dict[str, Any]) -> list[float]:
    """Each retry started no sooner than Airflow's exponential backoff allows; returns the gaps."""
    tries = stack.tries(dag_id, run_id, ti["task_id"], ti["map_index"])
    gaps = []
    for k in range(1, len(tries)):
        gap = (when(tries[k]["start_date"]) - when(tries[k - 1]["end_date"])).total_seconds()
        # Airflow waits delay * multiplier ** (failed try - 1), plus a jitter of up to as much again.
        minimum = min(RETRIES["delay_seconds"] * RETRIES["backoff_multiplier"] ** (k - 1), RETRIES["max_delay_seconds"])
        assert gap >= minimum - 1, f"try {k + 1} started {gap:.1f}s after try {k} ended; backoff asks >= {minimum}s"
        gaps.append(gap)
    return gaps


def check_nothing_duplicated(stack: LoopbackStack, dag_id: str, run_id: str) -> dict[str, Any]:
    """One finished MLflow run per candidate, nothing RUNNING, one version, @champion on it, no lock."""
    client = stack.client()
    runs = candidate_runs(client, dag_id, run_id)
    finished = [r for r in runs if r.info.status == "FINISHED"]
    names = sorted(r.data.tags["mlops.candidate"] for r in finished)
    assert names == sorted({r.data.tags["mlops.candidate"] for r in runs}), [(r.info.status, r.data.tags) for r in runs]
    assert len(names) == len(set(names)), f"a candidate was trained twice to the end: {names}"
    leftovers = [r for r in runs if r.info.status != "FINISHED"]
    for run in leftovers:  # an attempt that died: closed by the retry, and says so
        assert run.info.status == "KILLED" and run.data.tags.get("mlops.abandoned"), (run.info, run.data.tags)
    model = model_of(dag_id)
    registered = versions(client, model, run_id)
    assert len(registered) == 1, [(v.version, v.tags.get("mlops.run_id")) for v in registered]
    champion = client.get_model_version_by_alias(model, "champion")
    assert champion.version == registered[0].version
    assert not [m.name for m in client.search_registered_models() if m.name.endswith(".mlops-promotion-lock")]
    results = {r.data.tags["mlops.candidate"]: r.info.run_id for r in finished}
    return {"version": registered[0].version, "finished": results}


def report(stack: LoopbackStack, summary: Callable[[str], None], dag_id: str, run_id: str, note: str) -> str:
    """The assignment table plus every earlier try of retried tasks, for the CI log."""
    tis = stack.task_instances(dag_id, run_id)
    table = assignment_table(tis)
    lines = []
    for ti in tis:
        if ti["try_number"] > 1:
            tries = stack.tries(dag_id, run_id, ti["task_id"], ti["map_index"])
            steps = ", ".join(
                f"try {t['try_number']} {t['state']} on {t['hostname'] or '-'} {(t['start_date'] or '')[11:19]}-"
                f"{(t['end_date'] or '')[11:19]}"
                for t in tries
            )
            lines.append(f"  {ti['task_id']}[{ti.get('rendered_map_index') or ti['map_index']}]: {steps}")
    if lines:
        table += "\nretried (UTC):\n" + "\n".join(lines)
    summary(f"{note}, {dag_id} {run_id}:\n{table}")
    return table


def test_mlflow_server_killed_during_training(stack: LoopbackStack, distributed_summary: Callable[[str], None]) -> None:
    dag_id = "faults_mlflow_train"
    stack.wait_for_dag(dag_id)
    run_id = stack.trigger(dag_id)
    client = stack.client()
    running = wait_for(
        lambda: [r for r in candidate_runs(client, dag_id, run_id) if r.info.status == "RUNNING"],
        "a candidate's MLflow run to be RUNNING",
    )
    stack.kill("mlflow")
    # Down long enough for MLflow's client retries to give up and a train try to fail.
    wait_for(
        lambda: [t for t in stack.task_instances(dag_id, run_id) if t["task_id"] == "train" and t["try_number"] > 1],
        "a train task to be retried while MLflow is down",
        timeout=180,
        every=1,
    )
    stack.restart_mlflow()
    run = stack.wait_run(dag_id, run_id, timeout=600)
    table = report(stack, distributed_summary, dag_id, run_id, "MLflow server killed during training")

    assert run["state"] == "success", table
    retried = [t for t in stack.task_instances(dag_id, run_id) if t["task_id"] == "train" and t["try_number"] > 1]
    assert retried, table
    for ti in retried:
        check_backoff(stack, dag_id, run_id, ti)
    outcome = check_nothing_duplicated(stack, dag_id, run_id)
    # The fault hit mid-training: a run in flight when the server died was closed by the retry,
    # and a fresh run became the candidate's result.
    in_flight = [client.get_run(r.info.run_id) for r in running]
    assert any(r.info.status == "KILLED" for r in in_flight), [(r.info.run_id, r.info.status) for r in in_flight]
    assert not {r.info.run_id for r in in_flight if r.info.status == "KILLED"} & set(outcome["finished"].values())


def test_mlflow_server_dies_after_committing_a_model_version(
    stack: LoopbackStack, distributed_summary: Callable[[str], None]
) -> None:
    dag_id = "faults_mlflow_register"
    stack.wait_for_dag(dag_id)
    # Down about as long as the first retry's backoff (5 s plus up to as much jitter): that retry may find
    # the server still down or back; either way the run must end with the one version the server committed.
    outage = stack.fault_proxy.die_after("/model-versions/create", down_seconds=12)
    run_id = stack.trigger(dag_id)
    run = stack.wait_run(dag_id, run_id, timeout=600)
    table = report(stack, distributed_summary, dag_id, run_id, "MLflow died after committing a model version")

    assert run["state"] == "success", table
    assert outage.started is not None and outage.dropped, "the proxy never saw a model version being created"
    assert "model-versions/create" in outage.dropped[0]
    register = next(t for t in stack.task_instances(dag_id, run_id) if t["task_id"] == "register")
    assert register["try_number"] > 1, table
    check_backoff(stack, dag_id, run_id, register)
    outcome = check_nothing_duplicated(stack, dag_id, run_id)
    # The version the dying server committed is the one the retry adopted, and the only one.
    assert [v.version for v in versions(stack.client(), model_of(dag_id))] == [outcome["version"]]
    assert stack.xcom(dag_id, run_id, "register")["version"] == outcome["version"]


def test_worker_killed_while_training(stack: LoopbackStack, distributed_summary: Callable[[str], None]) -> None:
    dag_id = "faults_worker"
    stack.wait_for_dag(dag_id)
    run_id = stack.trigger(dag_id)
    client = stack.client()

    def training_on_a_worker() -> tuple[dict[str, Any], Any] | None:
        in_flight = {r.data.tags["mlops.candidate"]: r for r in candidate_runs(client, dag_id, run_id)}
        for ti in stack.task_instances(dag_id, run_id):
            name = ti.get("rendered_map_index")
            if ti["task_id"] != "train" or ti["state"] != "running" or not ti["hostname"] or name not in in_flight:
                continue
            if in_flight[name].info.status == "RUNNING":
                return ti, in_flight[name]
        return None

    victim, mlflow_run = wait_for(training_on_a_worker, "a candidate training on a worker", every=0.5)
    stack.kill(f"worker-{victim['hostname']}")
    stack.restart_worker(victim["hostname"])
    run = stack.wait_run(dag_id, run_id, timeout=600)
    table = report(stack, distributed_summary, dag_id, run_id, f"worker {victim['hostname']} killed during training")

    assert run["state"] == "success", table
    tries = stack.tries(dag_id, run_id, "train", victim["map_index"])
    assert len(tries) >= 2 and tries[0]["state"] == "failed", tries
    check_backoff(stack, dag_id, run_id, victim)
    check_nothing_duplicated(stack, dag_id, run_id)
    abandoned = client.get_run(mlflow_run.info.run_id)
    assert abandoned.info.status == "KILLED", abandoned.info
    assert abandoned.data.tags["mlops.abandoned"].startswith("superseded by try "), abandoned.data.tags


def test_clearing_a_finished_run_reruns_to_the_same_outcome(
    stack: LoopbackStack, distributed_summary: Callable[[str], None]
) -> None:
    # A second run of the first fault pipeline: a challenger against the champion of the first.
    dag_id = "faults_mlflow_train"
    stack.wait_for_dag(dag_id)
    run_id = stack.trigger(dag_id)
    first = stack.wait_run(dag_id, run_id, timeout=600)
    assert first["state"] == "success", report(stack, distributed_summary, dag_id, run_id, "before clearing")
    client = stack.client()
    model = model_of(dag_id)

    def snapshot() -> dict[str, Any]:
        return {
            "versions": [(v.version, v.tags.get("mlops.run_id")) for v in versions(client, model)],
            "aliases": dict(client.get_registered_model(model).aliases),
            "candidate_runs": sorted((r.info.run_id, r.info.status) for r in candidate_runs(client, dag_id, run_id)),
            "decision": stack.xcom(dag_id, run_id, "gate")["verdict"]["decision"],
        }

    before = snapshot()
    tries_before = {(t["task_id"], t["map_index"]): t["try_number"] for t in stack.task_instances(dag_id, run_id)}
    cleared = stack.clear(dag_id, run_id)
    assert {"resolve_data", "train", "gate", "register", "promote"} <= set(cleared), cleared
    second = stack.wait_run(dag_id, run_id, timeout=600)
    table = report(stack, distributed_summary, dag_id, run_id, "finished run cleared and re-run")

    assert second["state"] == "success", table
    after = snapshot()
    assert after == before
    for ti in stack.task_instances(dag_id, run_id):  # every task really ran again
        if ti["state"] == "success":
            assert ti["try_number"] > tries_before[(ti["task_id"], ti["map_index"])], (ti["task_id"], table)
