"""A model moves from development to production across two real `mlflow server` processes.

Development and production each have their own server on loopback, with their own sqlite store
and artifact folder (the ``servers`` fixture of conftest.py, shared with test_environments_dag.py,
whose models have other names). The retraining pipeline runs twice in development (data v1, then v2), so
dev holds v1 and v2. Every promotion then goes through the on-call command as a person runs it
(``python -m airflow_mlops.cli promote --from dev --to prod``), with the environments declared
in the dags folder's defaults.yaml and reached through Airflow connections. The tests run in
file order and each builds on the registry state the previous one left.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from typing import Any

import pytest
import yaml

from airflow_mlops.demo.datasets import data_versions, to_csv_bytes
from airflow_mlops.registry_lock import promotion_lock
from tests.integration.harness import MlflowServer, PipelineEnv, free_port
from tests.integration.test_governance_cli import cli, one_line_error

DEV_MODEL, PROD_MODEL, STRICT_MODEL = "bc_env_dev", "bc_env_prod", "bc_env_strict"
HOLDOUT = "holdout/prod.csv"
APPROVED = ("--approved-by", "alice", "--reason", "QA")
GATE = {"metrics": [{"metric": "f1", "min": 0.8}, {"metric": "f1", "compare_to": "champion", "max_drop": 0.05}]}
ENVIRONMENTS = {
    "dev": {"mlflow_conn_id": "mlflow_dev", "model_name": DEV_MODEL, "policy": {"require_approval": False}},
    "prod": {
        "mlflow_conn_id": "mlflow_prod",
        "model_name": PROD_MODEL,
        "holdout": {"path": HOLDOUT, "rev": "prod-holdout-1", "target": "target"},
    },
    # Production's registry again, for a second model whose holdout labels disagree with the model.
    "strict": {
        "mlflow_conn_id": "mlflow_prod",
        "model_name": STRICT_MODEL,
        "holdout": {"path": HOLDOUT, "rev": "prod-holdout-flipped"},
    },
    "gone": {
        "mlflow_conn_id": "mlflow_gone",
        "model_name": "bc_env_gone",
        "holdout": {"path": HOLDOUT, "rev": "prod-holdout-1"},
    },
    "nowhere": {"mlflow_conn_id": "mlflow_undefined", "model_name": "bc_env_nowhere"},
}


def _conn(url: str) -> str:
    return json.dumps({"conn_type": "mlflow", "host": url})


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, servers: dict[str, MlflowServer]) -> PipelineEnv:
    env = PipelineEnv(tmp_path_factory.mktemp("environments"))
    dev, prod = servers["dev"].url, servers["prod"].url
    env.env |= {
        "AIRFLOW_CONN_MLFLOW_DEFAULT": _conn(dev),
        "AIRFLOW_CONN_MLFLOW_DEV": _conn(dev),
        "AIRFLOW_CONN_MLFLOW_PROD": _conn(prod),
        "AIRFLOW_CONN_MLFLOW_GONE": _conn(f"http://127.0.0.1:{free_port()}"),  # nothing listens there
        "AIRFLOW_MLOPS_ENVIRONMENTS": str(env.dags / "defaults.yaml"),
    }
    env.tracking_uri = dev
    # Declared once, for every pipeline below the dags folder: the pipeline runs load it too.
    (env.dags / "defaults.yaml").write_text(yaml.safe_dump({"environments": ENVIRONMENTS}, sort_keys=False))
    v1, v2 = data_versions()
    holdout = v2.iloc[380:].reset_index(drop=True)
    env.commit_data(to_csv_bytes(holdout), "prod holdout", "prod-holdout-1", path=HOLDOUT)
    flipped = holdout.assign(target=1 - holdout["target"])
    env.commit_data(to_csv_bytes(flipped), "prod holdout, labels flipped", "prod-holdout-flipped", path=HOLDOUT)
    env.write_pipeline("bc_env", registry={"model_name": DEV_MODEL}, gate=GATE)
    for data, tag in ((v1, "data-v1"), (v2, "data-v2")):
        env.commit_data(to_csv_bytes(data), tag, tag)
        outcome = env.run("bc_env")
        assert outcome["state"] == "success", outcome["log"][-3000:]
    assert _aliases(servers["dev"], DEV_MODEL) == {"champion": "2", "previous": "1"}
    return env


def _client(server: MlflowServer) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=server.url, registry_uri=server.url)


def _aliases(server: MlflowServer, model: str) -> dict[str, str]:
    return {k: str(v) for k, v in _client(server).get_registered_model(model).aliases.items()}


def _history(server: MlflowServer, model: str) -> list[dict[str, Any]]:
    raw = _client(server).get_registered_model(model).tags.get("mlops.promotion_history")
    return list(json.loads(raw)) if raw else []


def _versions(server: MlflowServer, model: str) -> list[Any]:
    return list(_client(server).search_model_versions(f"name = '{model}'"))


def _promote(env: PipelineEnv, *args: str) -> subprocess.CompletedProcess[str]:
    return cli(env, "promote", *args)


def _succeeds(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    return result.stdout


def _state(servers: dict[str, MlflowServer]) -> tuple[Any, ...]:
    """Everything a promotion could move, in both registries."""
    dev = _client(servers["dev"]).get_registered_model(DEV_MODEL)
    prod_models = sorted(m.name for m in _client(servers["prod"]).search_registered_models())
    versions = {m: [(v.version, dict(v.tags)) for v in _versions(servers["prod"], m)] for m in prod_models}
    dev_versions = [(v.version, dict(v.tags)) for v in _versions(servers["dev"], DEV_MODEL)]
    return dict(dev.aliases), dict(dev.tags), dev_versions, prod_models, versions


def test_an_unreachable_or_undefined_target_moves_nothing_anywhere(
    deployment: PipelineEnv, servers: dict[str, MlflowServer]
) -> None:
    before = _state(servers)
    started = time.monotonic()
    gone = one_line_error(_promote(deployment, "--from", "dev", "--to", "gone", "--approved-by", "alice"), "promote")
    assert time.monotonic() - started < 60  # a 5 s preflight, not MLflow's minutes of retries
    gone_uri = json.loads(deployment.env["AIRFLOW_CONN_MLFLOW_GONE"])["host"]
    assert "environment 'gone'" in gone and "connection 'mlflow_gone'" in gone and gone_uri in gone, gone
    assert "not reachable" in gone
    nowhere = one_line_error(_promote(deployment, "--from", "dev", "--to", "nowhere"), "promote")
    assert "environment 'nowhere'" in nowhere and "'mlflow_undefined' is not defined" in nowhere, nowhere
    unknown = one_line_error(_promote(deployment, "--from", "dev", "--to", "qa"), "promote")
    assert "no environment named 'qa'" in unknown and "dev, gone, nowhere, prod, strict" in unknown
    assert _state(servers) == before


def test_the_re_gate_refuses_when_the_targets_data_disagrees(
    deployment: PipelineEnv, servers: dict[str, MlflowServer]
) -> None:
    result = _promote(deployment, "--from", "dev", "--to", "strict", "--approved-by", "alice", "--reason", "ok")
    error = one_line_error(result, "promote")
    assert "the re-gate in environment 'strict'" in error and "REJECT" in error, error
    assert "f1 " in error, error
    assert STRICT_MODEL not in [m.name for m in _client(servers["prod"]).search_registered_models()]
    refused = _history(servers["dev"], DEV_MODEL)[-1]
    assert refused["action"] == "refused" and refused["from"] == "2"
    assert refused["reason"].startswith("refused into strict: the re-gate")
    assert _aliases(servers["dev"], DEV_MODEL) == {"champion": "2", "previous": "1"}


def test_production_needs_an_approval_and_a_rejection_moves_nothing(
    deployment: PipelineEnv, servers: dict[str, MlflowServer]
) -> None:
    before = _versions(servers["prod"], PROD_MODEL) if _models(servers) else []
    missing = one_line_error(_promote(deployment, "--from", "dev", "--to", "prod", "--version", "1"), "promote")
    assert "environment 'prod' requires an approval" in missing and "--approved-by" in missing, missing
    rejected = _promote(
        deployment, "--from", "dev", "--to", "prod", "--version", "1", "--rejected-by", "bob", "--reason", "wait for Q3"
    )
    error = one_line_error(rejected, "promote")
    assert "was rejected by bob: wait for Q3" in error, error
    assert PROD_MODEL not in _models(servers) and before == []
    reasons = [e["reason"] for e in _history(servers["dev"], DEV_MODEL)[-2:]]
    assert "requires an approval" in reasons[0] and "rejected by bob: wait for Q3" in reasons[1], reasons


def _models(servers: dict[str, MlflowServer]) -> list[str]:
    return [m.name for m in _client(servers["prod"]).search_registered_models()]


def test_an_approved_promotion_deep_copies_the_version(
    deployment: PipelineEnv, servers: dict[str, MlflowServer]
) -> None:
    out = _succeeds(
        _promote(
            deployment, "--from", "dev", "--to", "prod", "--version", "1", "--approved-by", "alice", "--reason", "QA"
        )
    )
    assert f"dev {DEV_MODEL} v1 -> prod {PROD_MODEL} v1: @champion nothing -> v1" in out, out
    assert "re-gate on 189 rows of holdout/prod.csv @ prod-holdout-1" in out and "approved by alice" in out, out
    dev_v1 = _client(servers["dev"]).get_model_version(DEV_MODEL, "1")
    prod_v1 = _client(servers["prod"]).get_model_version(PROD_MODEL, "1")
    assert _aliases(servers["prod"], PROD_MODEL) == {"champion": "1"}
    lineage_tags = {
        k: v for k, v in dev_v1.tags.items() if not k.startswith(("mlops.promot", "mlops.demot", "mlops.env."))
    }
    assert len(lineage_tags) > 20
    assert {k: prod_v1.tags.get(k) for k in lineage_tags} == lineage_tags  # every lineage tag, unchanged
    assert prod_v1.tags["mlops.env.source.version"] == "1"
    assert prod_v1.tags["mlops.env.source.run_id"] == dev_v1.run_id
    assert prod_v1.tags["mlops.env.source.registry_uri"] == servers["dev"].url
    assert prod_v1.tags["mlops.env.gate.decision"] == "promote"
    assert prod_v1.tags["mlops.env.data.rev"] == "prod-holdout-1"
    assert (prod_v1.tags["mlops.env.approval.by"], prod_v1.tags["mlops.env.approval.reason"]) == ("alice", "QA")
    assert prod_v1.tags["mlops.promoted_by"].startswith("cli:")
    # The artifacts live in production's own store: the model loads with the development server gone from the URI.
    assert prod_v1.run_id != dev_v1.run_id and prod_v1.source.startswith("mlflow-artifacts:")
    stored = list((servers["prod"].root / "artifacts").rglob("MLmodel"))
    assert stored, "the model files should be in production's artifact store"
    requirements = [p.name for p in stored[0].parent.iterdir()]
    assert {"MLmodel", "requirements.txt", "python_env.yaml"} <= set(requirements), requirements
    copy_run = _client(servers["prod"]).get_run(prod_v1.run_id)
    assert copy_run.data.params == _client(servers["dev"]).get_run(dev_v1.run_id).data.params
    # Audit in both registries.
    assert _history(servers["prod"], PROD_MODEL)[-1]["action"] == "promote"
    exported = _history(servers["dev"], DEV_MODEL)[-1]
    assert exported["action"] == "export" and exported["reason"].startswith(f"copied to prod as {PROD_MODEL} v1")
    assert (
        _client(servers["dev"])
        .get_model_version(DEV_MODEL, "1")
        .tags["mlops.env.exported.prod"]
        .startswith(f"{PROD_MODEL} v1 at ")
    )


def test_lineage_follows_production_back_to_the_development_run(
    deployment: PipelineEnv, servers: dict[str, MlflowServer]
) -> None:
    dev_v1 = _client(servers["dev"]).get_model_version(DEV_MODEL, "1")
    info = json.loads(
        _succeeds(cli(deployment, "lineage", f"{PROD_MODEL}@champion", "--conn-id", "mlflow_prod", "--json"))
    )
    link = info["environment"]
    assert link["source"] | {} == {
        "environment": "dev",
        "conn_id": "mlflow_dev",
        "registry_uri": servers["dev"].url,
        "model_name": DEV_MODEL,
        "version": "1",
        "run_id": dev_v1.run_id,
    }
    assert link["unreachable"] is None
    source = link["lineage"]
    assert (source["model_name"], source["version"]) == (DEV_MODEL, "1")
    assert source["training"]["run_id"] == dev_v1.tags["mlops.training.run_id"]
    assert source["training"]["run_params"]  # read from the development run itself
    assert source["data"]["commit"] == dev_v1.tags["mlops.data.commit"] and source["gate"]["decision"] == "promote"
    text = _succeeds(cli(deployment, "lineage", f"{PROD_MODEL}@champion", "--conn-id", "mlflow_prod"))
    assert f"prod: copied from dev {DEV_MODEL} v1 (connection mlflow_dev, {servers['dev'].url})" in text, text
    assert "on holdout/prod.csv @ prod-holdout-1 -> commit" in text and "approved by alice: QA" in text
    assert f"    {DEV_MODEL} v1  @previous" in text and f"(MLflow run {dev_v1.tags['mlops.training.run_id']})" in text


def _start_cli(env: PipelineEnv, *args: str) -> subprocess.Popen[str]:
    shell = {k: v for k, v in env.env.items() if k != "PYTHONWARNINGS"}
    return subprocess.Popen(
        [sys.executable, "-m", "airflow_mlops.cli", *args],
        env=shell, cwd=env.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _lock_waiters(server: MlflowServer, since: int) -> int:
    """How many clients the server has turned away from creating the lock since log offset ``since``."""
    log = (server.root / "server.log").read_text(errors="replace")[since:]
    refused = re.findall(r'127\.0\.0\.1:(\d+) - "POST /api/2\.0/mlflow/registered-models/create HTTP/1\.1" 400', log)
    return len({port for port in refused if refused.count(port) >= 2})


def test_two_promotions_into_one_target_race_and_one_is_refused(
    deployment: PipelineEnv, servers: dict[str, MlflowServer]
) -> None:
    """Both re-gate dev v2 against prod's v1, then meet at the lock: only one may move the alias."""
    prod = _client(servers["prod"])
    since = len((servers["prod"].root / "server.log").read_text(errors="replace"))
    args = ("promote", "--from", "dev", "--to", "prod", "--approved-by", "carol", "--reason", "race")
    with promotion_lock(prod, PROD_MODEL, holder="test", wait_seconds=30):
        racers = [_start_cli(deployment, *args) for _ in range(2)]
        deadline = time.monotonic() + 300
        while _lock_waiters(servers["prod"], since) < 2 and time.monotonic() < deadline:
            assert all(p.poll() is None for p in racers), [p.communicate() for p in racers]
            time.sleep(1)
        assert _lock_waiters(servers["prod"], since) >= 2, "both promotions should wait at the lock"
    results = [(*p.communicate(timeout=300), p.returncode) for p in racers]
    codes = sorted(code for _, _, code in results)
    assert codes == [0, 1], results
    loser = next(err for _, err, code in results if code == 1)
    assert "moved to v2 after the re-gate compared dev bc_env_dev v2 against v1" in loser, loser
    assert _aliases(servers["prod"], PROD_MODEL) == {"champion": "2", "previous": "1"}
    assert len(_versions(servers["prod"], PROD_MODEL)) == 2  # the loser copied nothing
    champion = prod.get_model_version(PROD_MODEL, "2")
    assert champion.tags["mlops.env.gate.champion_version"] == "1"  # it was compared with what it replaced
    assert _history(servers["prod"], PROD_MODEL)[-1]["action"] == "refused"


def test_no_path_reaches_productions_champion_without_its_checks(
    deployment: PipelineEnv, servers: dict[str, MlflowServer]
) -> None:
    before = _state(servers)
    # The single-registry command, even forced, cannot skip production's approval.
    forced = cli(deployment, "promote", PROD_MODEL, "1", "--force", "--reason", "hotfix", "--conn-id", "mlflow_prod")
    assert "policy requires an approval" in one_line_error(forced, "promote")
    # --force across environments skips the gates, never the approval.
    no_approval = _promote(deployment, "--from", "dev", "--to", "prod", "--version", "1", "--force", "--reason", "x")
    assert "requires an approval" in one_line_error(no_approval, "promote")
    # A version that passed no gate (registered by hand in development) is refused.
    dev = _client(servers["dev"])
    first = dev.get_model_version(DEV_MODEL, "1")
    logged = first.source.removeprefix("models:/")  # the LoggedModel the pipeline registered
    by_hand = dev.create_model_version(DEV_MODEL, first.source, run_id=first.run_id, model_id=logged).version
    unguarded = _promote(deployment, "--from", "dev", "--to", "prod", "--version", by_hand, "--approved-by", "alice")
    assert "has no passing gate on record" in one_line_error(unguarded, "promote")
    after = _state(servers)
    assert after[0] == before[0] and after[3:] == before[3:]  # no alias, model or version moved in production
    # With an approval, --force moves it, and both registries say it was forced.
    forced_args = ("--from", "dev", "--to", "prod", "--version", by_hand, "--force", "--reason", "hotfix")
    _succeeds(_promote(deployment, *forced_args, "--approved-by", "dave"))
    moved = _client(servers["prod"]).get_model_version_by_alias(PROD_MODEL, "champion")
    assert moved.tags["mlops.promotion_forced"] == "true" and moved.tags["mlops.env.gate.forced"] == "true"
    assert _history(servers["dev"], DEV_MODEL)[-1]["forced"] is True


def test_rollback_moves_the_target_only(deployment: PipelineEnv, servers: dict[str, MlflowServer]) -> None:
    dev_before = _aliases(servers["dev"], DEV_MODEL)
    prod_before = _aliases(servers["prod"], PROD_MODEL)
    out = _succeeds(cli(deployment, "rollback", PROD_MODEL, "--conn-id", "mlflow_prod", "--reason", "bad hotfix"))
    assert "rolled back" in out
    after = _aliases(servers["prod"], PROD_MODEL)
    assert after == {"champion": prod_before["previous"], "previous": prod_before["champion"]}
    assert _aliases(servers["dev"], DEV_MODEL) == dev_before
