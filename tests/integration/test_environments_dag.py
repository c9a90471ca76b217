"""Promotion across environments inside a DAG: real dag.test() runs, two real `mlflow server`s, Airflow's HITL.

Development and production each have their own server on loopback (the ``servers`` fixture of
conftest.py, shared with test_environments.py under other model names), the retraining pipeline
runs twice in development, and the promotions run as DAGs: the Python example
dags/examples/promote_dev_to_prod.py, answered by a person through a real ``airflow api-server``
(Airflow's HITL REST API, as the UI does it), and YAML pipelines of the ``promotion`` template.
The tests run in file order and each builds on the registry state the previous one left.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from airflow_mlops.demo.datasets import data_versions, to_csv_bytes
from airflow_mlops.factory.loader import LOADER_STUB
from tests.integration.harness import REPO_ROOT, ApiServer, MlflowServer, PipelineEnv, free_port
from tests.integration.test_environments import GATE, HOLDOUT

pytestmark = pytest.mark.integration

DEV_MODEL, PROD_MODEL, STRICT_MODEL, STAGE_MODEL = "bc_dagenv_dev", "churn", "bc_dagenv_strict", "bc_dagenv_stage"
EXAMPLE = REPO_ROOT / "dags" / "examples" / "promote_dev_to_prod.py"
USERS = {"alice": "alice-pass-123", "bob": "bob-pass-456"}
NO_APPROVAL = {"require_approval": False}
ENVIRONMENTS = {
    "dev": {"mlflow_conn_id": "mlflow_dev", "model_name": DEV_MODEL, "policy": NO_APPROVAL},
    # production's policy is the default: a person approves every promotion into it
    "prod": {"mlflow_conn_id": "mlflow_prod", "model_name": PROD_MODEL, "holdout": {"path": HOLDOUT, "rev": "h1"}},
    # production's registry again: a staging model, and a model whose holdout labels disagree with the model
    "stage": {
        "mlflow_conn_id": "mlflow_prod",
        "model_name": STAGE_MODEL,
        "holdout": {"path": HOLDOUT, "rev": "h1"},
        "policy": NO_APPROVAL,
    },
    "strict": {
        "mlflow_conn_id": "mlflow_prod",
        "model_name": STRICT_MODEL,
        "holdout": {"path": HOLDOUT, "rev": "h-flipped"},
        "policy": NO_APPROVAL,
    },
    "gone": {
        "mlflow_conn_id": "mlflow_gone",
        "model_name": "bc_dagenv_gone",
        "holdout": {"path": HOLDOUT, "rev": "h1"},
        "policy": NO_APPROVAL,
    },
}


def _conn(url: str) -> str:
    return json.dumps({"conn_type": "mlflow", "host": url})


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, servers: dict[str, MlflowServer]) -> PipelineEnv:
    env = PipelineEnv(tmp_path_factory.mktemp("environments-dag"))
    dev, prod = servers["dev"].url, servers["prod"].url
    env.env |= {
        "AIRFLOW_CONN_MLFLOW_DEFAULT": _conn(dev),
        "AIRFLOW_CONN_MLFLOW_DEV": _conn(dev),
        "AIRFLOW_CONN_MLFLOW_PROD": _conn(prod),
        "AIRFLOW_CONN_MLFLOW_GONE": _conn(f"http://127.0.0.1:{free_port()}"),  # nothing listens there
        "AIRFLOW_MLOPS_ENVIRONMENTS": str(env.dags / "defaults.yaml"),
    }
    env.tracking_uri = dev
    (env.dags / "defaults.yaml").write_text(yaml.safe_dump({"environments": ENVIRONMENTS}, sort_keys=False))
    v1, v2 = data_versions()
    holdout = v2.iloc[380:].reset_index(drop=True)
    env.commit_data(to_csv_bytes(holdout), "prod holdout", "h1", path=HOLDOUT)
    flipped = holdout.assign(target=1 - holdout["target"])
    env.commit_data(to_csv_bytes(flipped), "prod holdout, labels flipped", "h-flipped", path=HOLDOUT)
    env.write_pipeline("bc_dagenv", registry={"model_name": DEV_MODEL}, gate=GATE)
    for data, tag in ((v1, "data-v1"), (v2, "data-v2")):
        env.commit_data(to_csv_bytes(data), tag, tag)
        outcome = env.run("bc_dagenv")
        assert outcome["state"] == "success", outcome["log"][-3000:]
    (env.dags / "examples").mkdir()
    shutil.copy(EXAMPLE, env.dags / "examples" / EXAMPLE.name)
    return env


@pytest.fixture(scope="module")
def api(deployment: PipelineEnv) -> Iterator[ApiServer]:
    server = ApiServer(deployment, USERS).start()
    try:
        yield server
    finally:
        server.stop()


def _client(server: MlflowServer) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=server.url, registry_uri=server.url)


def _aliases(server: MlflowServer, model: str) -> dict[str, str]:
    return {k: str(v) for k, v in _client(server).get_registered_model(model).aliases.items()}


def _history(server: MlflowServer, model: str) -> list[dict[str, Any]]:
    raw = _client(server).get_registered_model(model).tags.get("mlops.promotion_history")
    return list(json.loads(raw)) if raw else []


def _prod_models(servers: dict[str, MlflowServer]) -> list[str]:
    return sorted(m.name for m in _client(servers["prod"]).search_registered_models())


def _state(servers: dict[str, MlflowServer]) -> tuple[Any, ...]:
    """Everything a promotion could move: development's aliases and versions, production's models and versions."""
    dev = _client(servers["dev"])
    prod = _client(servers["prod"])
    dev_versions = [(v.version, dict(v.tags)) for v in dev.search_model_versions(f"name = '{DEV_MODEL}'")]
    prod_versions = {m: [(v.version, dict(v.tags)) for v in prod.search_model_versions(f"name = '{m}'")]
                     for m in _prod_models(servers)}  # fmt: skip
    return dict(dev.get_registered_model(DEV_MODEL).aliases), dev_versions, prod_versions


def _write_promotion(env: PipelineEnv, dag_id: str, through: list[str]) -> None:
    spec = {"template": "promotion", "pipeline": dag_id, "retries": {"retries": 0}, "promotion": {"through": through}}
    path = env.dags / "pipelines" / f"{dag_id}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    path.with_suffix(".py").write_text(LOADER_STUB)


def _answer(api: ApiServer, dag_id: str, task_id: str, user: str, option: str, reason: str) -> dict[str, Any]:
    """Wait until the approval task awaits input (the dag.test() HITL race, see test_approval.py), then answer."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status, runs = api.request("GET", f"/api/v2/dags/{dag_id}/dagRuns", user=user)
        # The DAG may have run before (a rejection, then an approval): only a run that is not done waits.
        waiting = (
            [r["dag_run_id"] for r in runs["dag_runs"] if r["state"] in ("queued", "running")] if status == 200 else []
        )
        for run_id in waiting:
            task_path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
            _, task = api.request("GET", task_path, user=user)
            status, detail = api.request("GET", f"{task_path}/-1/hitlDetails", user=user)
            if status == 200 and isinstance(task, dict) and task.get("state") == "awaiting_input":
                status, answer = api.request(
                    "PATCH", f"{task_path}/-1/hitlDetails", user=user,
                    body={"chosen_options": [option], "params_input": {"reason": reason}},
                )  # fmt: skip
                assert status == 200, answer
                return {"run_id": run_id, "subject": detail["subject"], "body": detail["body"]}
        time.sleep(2)
    raise AssertionError(f"no approval request from {dag_id}.{task_id} within 300 s")


def _run_answered(env: PipelineEnv, api: ApiServer, dag_id: str, task_id: str, *answer: str) -> dict[str, Any]:
    process, out = env.start_run(dag_id)
    try:
        asked = _answer(api, dag_id, task_id, *answer)
    except BaseException:
        process.kill()
        raise
    outcome = env.finish_run(process, out)
    return {**outcome, "asked": asked}


def test_an_unreachable_target_fails_fast_and_moves_nothing(
    deployment: PipelineEnv,
    servers: dict[str, MlflowServer],
) -> None:
    before = _state(servers)
    _write_promotion(deployment, "promote_to_gone", ["dev", "gone"])
    outcome = deployment.run("promote_to_gone")
    assert outcome["state"] == "failed" and outcome["tasks"]["promote_gone"] == "failed", outcome["tasks"]
    gone_uri = json.loads(deployment.env["AIRFLOW_CONN_MLFLOW_GONE"])["host"]
    error = f"environment 'gone': MLflow at {gone_uri} (connection 'mlflow_gone') is not reachable"
    assert error in outcome["log"], outcome["log"][-3000:]
    assert _state(servers) == before


def test_a_refusing_re_gate_moves_nothing(deployment: PipelineEnv, servers: dict[str, MlflowServer]) -> None:
    _write_promotion(deployment, "promote_to_strict", ["dev", "strict"])
    outcome = deployment.run("promote_to_strict")
    assert outcome["state"] == "failed" and outcome["tasks"]["promote_strict"] == "failed", outcome["tasks"]
    assert outcome["tries"]["promote_strict"] == 1  # a refusal is not retried
    assert "GateRejectedError" in outcome["log"] and "the re-gate in environment 'strict'" in outcome["log"]
    assert STRICT_MODEL not in _prod_models(servers)
    refused = _history(servers["dev"], DEV_MODEL)[-1]
    assert refused["action"] == "refused" and refused["reason"].startswith("refused into strict: the re-gate")
    assert refused["actor"].startswith("airflow:promote_to_strict/")


def test_a_rejection_in_the_dag_moves_nothing_and_records_who_and_why(
    deployment: PipelineEnv,
    servers: dict[str, MlflowServer],
    api: ApiServer,
) -> None:
    before = _state(servers)
    outcome = _run_answered(deployment, api, "promote_dev_to_prod", "approve_prod", "bob", "Reject", "wait for Q3")
    assert outcome["state"] == "success", outcome["log"][-3000:]
    assert outcome["tasks"] == {"approve_prod": "success", "promote_prod": "skipped"}, outcome["tasks"]
    asked = outcome["asked"]
    assert asked["subject"] == "Promote bc_dagenv_dev v2 from dev to prod?", asked
    assert "@champion in prod now: **nothing yet**" in asked["body"] and "h1" in asked["body"], asked["body"]
    after = _state(servers)
    assert after[0] == before[0] and after[2] == before[2] and PROD_MODEL not in _prod_models(servers)
    rejected = _history(servers["dev"], DEV_MODEL)[-1]
    assert (rejected["action"], rejected["from"]) == ("refused", "2")
    assert "was rejected by bob: wait for Q3" in rejected["reason"], rejected


def test_an_approval_in_the_dag_moves_the_targets_champion_with_the_record(
    deployment: PipelineEnv,
    servers: dict[str, MlflowServer],
    api: ApiServer,
) -> None:
    outcome = _run_answered(deployment, api, "promote_dev_to_prod", "approve_prod", "alice", "Approve", "QA ok")
    assert outcome["state"] == "success", outcome["log"][-3000:]
    assert outcome["tasks"] == {"approve_prod": "success", "promote_prod": "success"}, outcome["tasks"]
    assert _aliases(servers["prod"], PROD_MODEL) == {"champion": "1"}
    champion = _client(servers["prod"]).get_model_version(PROD_MODEL, "1")
    tags = champion.tags
    assert (tags["mlops.env.approval.decision"], tags["mlops.env.approval.by"]) == ("approved", "alice")
    assert tags["mlops.env.approval.reason"] == "QA ok" and "mlops.env.approval.version" not in tags
    assert (tags["mlops.env.source.model"], tags["mlops.env.source.version"]) == (DEV_MODEL, "2")
    assert tags["mlops.env.gate.decision"] == "promote" and tags["mlops.env.data.rev"] == "h1"
    assert tags["mlops.promoted_by"].startswith("airflow:promote_dev_to_prod/")
    exported = _history(servers["dev"], DEV_MODEL)[-1]
    assert exported["action"] == "export" and exported["reason"].startswith(f"copied to prod as {PROD_MODEL} v1")


def test_a_yaml_path_promotes_hop_by_hop_with_the_approval_production_asks_for(
    deployment: PipelineEnv,
    servers: dict[str, MlflowServer],
    api: ApiServer,
) -> None:
    _write_promotion(deployment, "promote_dev_stage_prod", ["dev", "stage", "prod"])
    outcome = _run_answered(deployment, api, "promote_dev_stage_prod", "approve_prod", "alice", "Approve", "hop")
    assert outcome["state"] == "success", outcome["log"][-3000:]
    assert outcome["tasks"] == {"promote_stage": "success", "approve_prod": "success", "promote_prod": "success"}
    # staging needs no approval: it got dev's champion; production got exactly staging's new version
    assert outcome["asked"]["subject"] == f"Promote {STAGE_MODEL} v1 from stage to prod?"
    assert _aliases(servers["prod"], STAGE_MODEL) == {"champion": "1"}
    assert _aliases(servers["prod"], PROD_MODEL) == {"champion": "2", "previous": "1"}
    tags = _client(servers["prod"]).get_model_version(PROD_MODEL, "2").tags
    assert (tags["mlops.env.source.name"], tags["mlops.env.source.model"]) == ("stage", STAGE_MODEL)
    assert (tags["mlops.env.source.version"], tags["mlops.env.approval.reason"]) == ("1", "hop")
    assert tags["mlops.env.gate.champion_version"] == "1"  # re-gated against production's champion


def test_the_ui_shows_where_each_champion_stands_across_both_registries(
    deployment: PipelineEnv,
    servers: dict[str, MlflowServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow_mlops.plugins.environments import environments_view

    for name in ("DEV", "PROD", "GONE"):
        monkeypatch.setenv(f"AIRFLOW_CONN_MLFLOW_{name}", deployment.env[f"AIRFLOW_CONN_MLFLOW_{name}"])
    # The ML view's own registry (mlflow_default) is development's here.
    view = environments_view(str(deployment.dags / "defaults.yaml"), reader_conn_id="mlflow_dev")
    rows = {row["environment"]: row for row in view["environments"]}
    assert list(rows) == list(ENVIRONMENTS) and view["error"] is None
    dev = rows["dev"]["champion"]
    assert (dev["version"], dev["source"], dev["page"]) == ("2", None, f"/models/{DEV_MODEL}/versions/2")
    prod = rows["prod"]["champion"]
    assert (prod["version"], prod["previous"], prod["approved_by"]) == ("2", "1", "alice")
    assert prod["moved_by"].startswith("airflow:promote_dev_stage_prod/") and prod["moved_at"]
    assert prod["mlflow_ui"] == f"{servers['prod'].url}/#/models/{PROD_MODEL}/versions/2"
    assert prod["source"]["row"] == "stage"
    assert prod["source"]["mlflow_ui"] == f"{servers['prod'].url}/#/models/{STAGE_MODEL}/versions/1"
    stage = rows["stage"]["champion"]
    assert stage["source"]["page"] == f"/models/{DEV_MODEL}/versions/2"  # in the view's own registry: its page
    assert rows["strict"]["exists"] is False and rows["strict"]["error"] is None  # refused: nothing there
    gone = rows["gone"]
    assert gone["champion"] is None and "connection 'mlflow_gone'" in gone["error"], gone
