"""Concurrent promotions against a real `mlflow server`.

First the lock itself under contention, then two real pipeline runs whose promote steps the
test releases at the same moment: @champion must end on a version whose gate compared it
with the version it replaced, and the loser's refusal must be on record.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_mlops.demo.datasets import data_versions, to_csv_bytes
from airflow_mlops.errors import PromotionLockTimeout
from airflow_mlops.governance.history import read_history
from airflow_mlops.governance.recheck import recheck_gate
from airflow_mlops.registry_lock import lock_name, promotion_lock
from tests.integration.harness import MlflowServer, PipelineEnv

MODEL = "race_model"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    srv = MlflowServer(tmp_path_factory.mktemp("race-mlflow")).start()
    try:
        yield srv
    finally:
        srv.stop()


def _client(server: MlflowServer) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=server.url, registry_uri=server.url)


def test_the_lock_admits_one_holder_at_a_time(server: MlflowServer) -> None:
    inside: list[int] = []
    overlaps: list[tuple[int, int]] = []
    counter = {"value": 0}
    failures: list[str] = []

    def worker(n: int) -> None:
        client = _client(server)
        try:
            with promotion_lock(client, "lock_model", holder=f"worker-{n}", wait_seconds=120):
                if inside:
                    overlaps.append((inside[0], n))
                inside.append(n)
                value = counter["value"]  # read-sleep-write: loses updates unless exclusive
                time.sleep(0.2)
                counter["value"] = value + 1
                inside.remove(n)
        except Exception as err:  # a thread's exception is otherwise lost; the assertion below names it
            failures.append(f"worker-{n}: {type(err).__name__}: {err}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert failures == []
    assert overlaps == []
    assert counter["value"] == 5
    with pytest.raises(Exception, match=r"RESOURCE_DOES_NOT_EXIST|not found|does not exist"):
        _client(server).get_registered_model(lock_name("lock_model"))  # released


def test_a_dead_holders_lock_expires_and_a_live_one_times_out(server: MlflowServer) -> None:
    client = _client(server)
    client.create_registered_model(lock_name("stale_model"), tags={"mlops.lock.expires": f"{time.time() - 1:.0f}"})
    with promotion_lock(client, "stale_model", holder="next", wait_seconds=10):
        tags = client.get_registered_model(lock_name("stale_model")).tags
        assert tags["mlops.lock.holder"] == "next"
        with (
            pytest.raises(PromotionLockTimeout, match="held for over"),
            promotion_lock(_client(server), "stale_model", holder="impatient", wait_seconds=1),
        ):
            pass


def _version_of_run(client: Any, run_id: str, model: str = MODEL) -> str | None:
    versions = client.search_model_versions(f"name = '{model}' and tags.`mlops.run_id` = '{run_id}'")
    return str(versions[0].version) if versions else None


def _registered_runs(client: Any, model: str = MODEL) -> set[str]:
    return {v.tags.get("mlops.dag_id", "") for v in client.search_model_versions(f"name = '{model}'")}


def _deployment(root: Path, server: MlflowServer) -> PipelineEnv:
    env = PipelineEnv(root)
    env.env["AIRFLOW_CONN_MLFLOW_DEFAULT"] = json.dumps({"conn_type": "mlflow", "host": server.url})
    env.tracking_uri = server.url
    return env


def _race(root: Path, server: MlflowServer, model: str, on_conflict: str) -> list[dict[str, Any]]:
    """A first champion, then two runs that both gate against it and reach promote at the same moment."""
    # Two Airflow deployments (each its own metadata DB, as two teams or two schedulers would
    # have) promote the same model in one MLflow registry; they share only MLflow and the data.
    env = _deployment(root / "a", server)
    other = _deployment(root / "b", server)
    other.env["AIRFLOW_CONN_DVC_DEFAULT"] = env.env["AIRFLOW_CONN_DVC_DEFAULT"]
    v1, v2 = data_versions()
    env.commit_data(to_csv_bytes(v1), "v1", "data-v1")
    gate = {"metrics": [{"metric": "f1", "min": 0.8}, {"metric": "f1", "compare_to": "champion", "max_drop": 0.05}]}
    registry = {"model_name": model, "on_conflict": on_conflict}
    env.write_pipeline(f"{model}_base", registry=registry, gate=gate)
    assert env.run(f"{model}_base")["state"] == "success"
    client = _client(server)
    assert client.get_model_version_by_alias(model, "champion").version == "1"

    env.commit_data(to_csv_bytes(v2), "v2", "data-v2")
    env.write_pipeline(f"{model}_a", registry=registry, gate=gate, data={"rev": "data-v2"})
    other.write_pipeline(f"{model}_b", registry=registry, gate=gate, data={"rev": "data-v2", "split": {"seed": 7}})
    # Hold the lock so both runs evaluate against v1 and then queue at promote together.
    expected = {f"{model}_base", f"{model}_a", f"{model}_b"}
    with promotion_lock(client, model, holder="test", wait_seconds=30):
        runs = [(env, *env.start_run(f"{model}_a")), (other, *other.start_run(f"{model}_b"))]
        deadline = time.monotonic() + 420
        while _registered_runs(client, model) != expected and time.monotonic() < deadline:
            if any(process.poll() is not None for _, process, _ in runs):
                break
            time.sleep(2)
        assert _registered_runs(client, model) == expected, "both runs should reach promote"
        time.sleep(3)  # both promote tasks are now waiting on the lock
    return [deployment.finish_run(process, out) for deployment, process, out in runs]


def test_concurrent_promotions_never_promote_blindly(tmp_path: Path, server: MlflowServer) -> None:
    outcomes = _race(tmp_path, server, MODEL, on_conflict="refuse")
    client = _client(server)

    states = sorted((o["tasks"]["promote"], o["run_id"]) for o in outcomes)
    assert [s for s, _ in states] == ["failed", "success"], [o["tasks"] for o in outcomes]
    winner = next(o for o in outcomes if o["tasks"]["promote"] == "success")
    loser = next(o for o in outcomes if o["tasks"]["promote"] == "failed")
    assert "PromotionConflictError" in loser["log"]

    final = client.get_model_version_by_alias(MODEL, "champion")
    assert final.version == _version_of_run(client, winner["run_id"])
    # The final champion's gate compared it with exactly the version it replaced.
    assert final.tags["mlops.gate.champion_version"] == final.tags["mlops.promoted_from"] == "1"
    assert client.get_model_version_by_alias(MODEL, "previous").version == "1"
    history = read_history(client, MODEL)
    refused = [h for h in history if h["action"] == "refused"]
    assert len(refused) == 1
    assert refused[0]["to"] == _version_of_run(client, loser["run_id"])
    assert refused[0]["actor"].endswith(loser["run_id"])
    assert "refusing to promote" in refused[0]["reason"]


def test_concurrent_promotions_reevaluate_against_the_champion_that_won(tmp_path: Path, server: MlflowServer) -> None:
    model = "race_reeval_model"
    outcomes = _race(tmp_path, server, model, on_conflict="reevaluate")
    client = _client(server)

    # The first promote to take the lock moves @champion from v1 as its gate expected; the second
    # finds it moved and re-applies its recorded gate against that new champion.
    history = read_history(client, model)
    first = next(h for h in history if h["action"] == "promote" and h["from"] == "1")
    first_run = next(o for o in outcomes if _version_of_run(client, o["run_id"], model) == first["to"])
    second_run = next(o for o in outcomes if o is not first_run)
    second = _version_of_run(client, second_run["run_id"], model)
    assert first_run["tasks"]["promote"] == "success"
    assert client.get_model_version(model, first["to"]).tags["mlops.gate.champion_version"] == "1"
    check = recheck_gate(client, model, str(second), champion_version=first["to"])
    final = client.get_model_version_by_alias(model, "champion")
    last = history[-1]
    if check["verdict"]["decision"] == "promote":
        # Re-evaluated, passed, promoted: and the record says against which champion.
        assert second_run["tasks"]["promote"] == "success", second_run["log"][-3000:]
        assert (final.version, last["action"], last["from"], last["to"]) == (second, "promote", first["to"], second)
        assert (
            f"re-evaluated against @champion v{first['to']} after it moved: PROMOTE"
            in (final.tags["mlops.promotion_reason"])
        )
        assert client.get_model_version_by_alias(model, "previous").version == first["to"]
    else:
        # Re-evaluated, failed: refused and recorded, the winner stays.
        assert second_run["tasks"]["promote"] == "failed"
        assert "PromotionConflictError" in second_run["log"]
        assert (final.version, last["action"], last["from"], last["to"]) == (
            first["to"],
            "refused",
            first["to"],
            second,
        )
        assert "re-evaluated against it: REJECT" in last["reason"]
    # Either way @champion ends on a version that passes its gate against the version it replaced.
    promoted_from = final.tags["mlops.promoted_from"]
    assert recheck_gate(client, model, str(final.version), champion_version=promoted_from)["verdict"]["decision"] == (
        "promote"
    )
