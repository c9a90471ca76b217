"""The on-call commands (lineage, rollback, promote) against the registry a real pipeline produced.

The pipeline runs twice through dag.test() (data v1, then v2), so @champion = v2 and
@previous = v1 exactly as in production. Run 1 records a ``min_gain: 0.5`` champion rule, which
it passes only through the first-run policy: re-applying that recorded gate later, against a
real champion, must refuse. Run 2 records the usual ``max_drop`` rule. Every command runs as
``python -m airflow_mlops.cli`` with the deployment's environment, so MLflow is found through
the Airflow connection, as it would be for a person on call. The tests run in file order and
each builds on the registry state the previous one left.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_mlops.demo.datasets import data_versions, to_csv_bytes
from tests.integration.harness import PipelineEnv
from tests.statsd_capture import StatsdListener

DAG = "bc_gov"
MODEL = "bc_gov_model"
FLOOR = {"metric": "f1", "min": 0.8}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> PipelineEnv:
    env = PipelineEnv(tmp_path_factory.mktemp("governance"))
    v1, v2 = data_versions()
    impossible = {"metric": "f1", "compare_to": "champion", "min_gain": 0.5}
    env.write_pipeline(DAG, registry={"model_name": MODEL}, gate={"metrics": [FLOOR, impossible]})
    env.commit_data(to_csv_bytes(v1), "v1", "data-v1")
    first = env.run(DAG)
    assert first["state"] == "success", first["log"][-3000:]
    usual = {"metric": "f1", "compare_to": "champion", "max_drop": 0.05}
    env.write_pipeline(DAG, registry={"model_name": MODEL}, gate={"metrics": [FLOOR, usual]})
    env.commit_data(to_csv_bytes(v2), "v2", "data-v2")
    second = env.run(DAG)
    assert second["state"] == "success", second["log"][-3000:]
    assert _aliases(env) == {"champion": "2", "previous": "1"}
    return env


def cli(env: PipelineEnv, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # The demo environment silences Python warnings; a person's shell does not, and stderr must
    # stay readable there (loading a model once printed thousands of Airflow deprecation lines).
    shell = {k: v for k, v in env.env.items() if k != "PYTHONWARNINGS"} | (extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "airflow_mlops.cli", *args],
        env=shell,
        cwd=env.root,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == "", result.stderr[-3000:]
    return result.stdout


def one_line_error(result: subprocess.CompletedProcess[str], command: str) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"airflow-mlops {command}: error: "), result.stderr
    return lines[0]


def _aliases(env: PipelineEnv) -> dict[str, str]:
    return {k: str(v) for k, v in env.client().get_registered_model(MODEL).aliases.items()}


def _tags(env: PipelineEnv, version: str) -> dict[str, str]:
    return dict(env.client().get_model_version(MODEL, version).tags)


def _history(env: PipelineEnv) -> list[dict[str, Any]]:
    return list(json.loads(env.client().get_registered_model(MODEL).tags["mlops.promotion_history"]))


def test_lineage_of_the_champion_prints_every_link(deployment: PipelineEnv) -> None:
    out = ok(cli(deployment, "lineage", f"{MODEL}@champion"))

    tags = _tags(deployment, "2")
    verdict = json.loads(tags["mlops.gate.verdict"])
    _, v2 = data_versions()
    params = json.loads(tags["mlops.training.params"])
    expected = [
        f"{MODEL} v2  @champion",
        f"data/breast_cancer.csv @ main -> commit {tags['mlops.data.commit']}",
        f"md5 {hashlib.md5(to_csv_bytes(v2)).hexdigest()}",
        "validation  PASSED: ",
        f"spec_sha256 {tags['mlops.code.spec_sha256']}",
        f"package_version {tags['mlops.code.package_version']}",
        tags["mlops.training.estimator"],
        *[f"{k}={v}" for k, v in params.items()],
        "test  f1 0.",
        "train f1 0.",
        f"gate        {verdict['summary']} (vs champion v1)",
        *[f"ok  {o['reason']}" for o in verdict["outcomes"]],
        "approver    not required",
        f"promote v1 -> v2 by airflow:{DAG}/{tags['mlops.run_id']}",
    ]
    missing = [line for line in expected if line not in out]
    assert not missing, f"missing {missing} in:\n{out}"


def test_lineage_json_carries_the_same_facts(deployment: PipelineEnv) -> None:
    info = json.loads(ok(cli(deployment, "lineage", f"{MODEL}@champion", "--json")))

    tags = _tags(deployment, "2")
    assert (info["version"], info["aliases"]) == ("2", ["champion"])
    assert info["data"]["md5"] == tags["mlops.data.md5"] and info["data"]["commit"] == tags["mlops.data.commit"]
    assert info["validation"]["success"] is True
    assert info["code"]["spec_sha256"] == tags["mlops.code.spec_sha256"]
    assert info["training"]["params"] == json.loads(tags["mlops.training.params"])
    assert info["training"]["run_params"]["estimator"] == tags["mlops.training.estimator"]
    assert info["metrics"]["test"] == json.loads(tags["mlops.metrics"])
    assert info["gate"]["decision"] == "promote" and info["gate"]["champion_version"] == "1"
    assert [o["reason"] for o in info["gate"]["outcomes"]] == [
        o["reason"] for o in json.loads(tags["mlops.gate.verdict"])["outcomes"]
    ]
    assert info["approval"]["status"] == "not required"
    assert [(e["action"], e["from"], e["to"]) for e in info["history"]] == [("promote", "1", "2")]


def test_card_prints_the_model_card_register_stored(deployment: PipelineEnv) -> None:
    out = ok(cli(deployment, "card", f"{MODEL}@champion"))

    tags = _tags(deployment, "2")
    assert out.startswith("# Model card: bc\\_gov\\_model version 2\n")
    assert f"commit {tags['mlops.data.commit']}" in out and "md5" in out
    assert "## Where the slices differ most" not in out and "No slices" in out
    assert "PASS f1 >= 0.8 (positive class 1): f1 0." in out  # #17: the rule names how f1 was computed


def test_rollback_restores_the_previous_champion_in_one_command(deployment: PipelineEnv) -> None:
    # --tracking-uri wins over the connection: the named connection does not even exist. The
    # command sends its metrics as a task would, through Airflow's [metrics] settings.
    statsd = StatsdListener()
    metrics = {"AIRFLOW__METRICS__STATSD_ON": "True", "AIRFLOW__METRICS__STATSD_PORT": str(statsd.port)}
    try:
        out = ok(
            cli(
                deployment, "rollback", MODEL, "--reason", "v2 regressed in prod",
                "--conn-id", "no_such_conn", "--tracking-uri", deployment.tracking_uri, extra_env=metrics,
            )
        )  # fmt: skip
        sent = statsd.named("airflow.mlops.")
    finally:
        statsd.close()

    assert f"@champion of {MODEL} rolled back: v2 -> v1 (@previous = v2)" in out
    promoted_at = datetime.fromisoformat(_tags(deployment, "1")["mlops.promoted_at"]).timestamp()
    assert sent == {
        "airflow.mlops.registry.rollbacks.bc_gov_model": 1.0,
        "airflow.mlops.champion.promoted_timestamp.bc_gov_model": promoted_at,
        "airflow.mlops.champion.age_seconds.bc_gov_model": pytest.approx(0.0, abs=5),
    }
    assert _aliases(deployment) == {"champion": "1", "previous": "2"}
    shown = ok(cli(deployment, "lineage", f"{MODEL}@champion"))
    assert f"{MODEL} v1  @champion" in shown
    assert "rollback v2 -> v1 by cli:" in shown and "v2 regressed in prod" in shown


def test_promote_reapplies_the_recorded_gate_against_todays_champion(deployment: PipelineEnv) -> None:
    out = ok(cli(deployment, "promote", MODEL, "2", "--reason", "rollback was a false alarm"))

    assert f"@champion of {MODEL}: v1 -> v2 (@previous = v1)" in out
    assert "gate re-check on 143 recorded test rows: PROMOTE v2: 2/2 rules passed" in out
    # Same models, same recorded rows, same rules: the champion comparison is the pipeline's own.
    original = json.loads(_tags(deployment, "2")["mlops.gate.verdict"])
    champion_reason = next(o["reason"] for o in original["outcomes"] if o["kind"] == "champion")
    assert f"ok  {champion_reason}" in out
    assert _aliases(deployment) == {"champion": "2", "previous": "1"}
    tags = _tags(deployment, "2")
    assert tags["mlops.promotion_forced"] == "false" and tags["mlops.promoted_by"].startswith("cli:")
    assert tags["mlops.promotion_reason"].startswith("rollback was a false alarm; gate re-check: PROMOTE v2")


def test_promote_that_fails_its_gate_is_refused_and_recorded(deployment: PipelineEnv) -> None:
    error = one_line_error(cli(deployment, "promote", MODEL, "1"), "promote")

    assert "the gate refuses version 1 over @champion v2" in error
    assert "REJECT v1: 1/2 rules passed" in error and "misses >=" in error and "--force" in error
    assert _aliases(deployment) == {"champion": "2", "previous": "1"}
    refusal = _history(deployment)[-1]
    assert (refusal["action"], refusal["from"], refusal["to"]) == ("refused", "2", "1")
    assert refusal["actor"].startswith("cli:")


def test_forced_promote_succeeds_and_is_recorded_as_forced(deployment: PipelineEnv) -> None:
    out = ok(cli(deployment, "promote", MODEL, "1", "--force", "--reason", "incident 7: v2 mislabels"))

    assert f"@champion of {MODEL}: v2 -> v1 (@previous = v2)" in out and "forced" in out
    assert _aliases(deployment) == {"champion": "1", "previous": "2"}
    tags = _tags(deployment, "1")
    assert tags["mlops.promotion_forced"] == "true"
    assert tags["mlops.promotion_reason"] == "incident 7: v2 mislabels"
    last = _history(deployment)[-1]
    assert (last["action"], last["from"], last["to"], last["forced"]) == ("promote", "2", "1", True)
    assert [e["action"] for e in _history(deployment)] == [
        "promote",
        "promote",
        "rollback",
        "promote",
        "refused",
        "promote",
    ]


def test_connection_stored_in_the_airflow_database_resolves(deployment: PipelineEnv) -> None:
    airflow = str(Path(sys.executable).with_name("airflow"))
    extra = json.dumps({"tracking_uri": deployment.tracking_uri})
    subprocess.run(
        [airflow, "connections", "add", "mlflow_in_db", "--conn-type", "mlflow", "--conn-extra", extra],
        env=deployment.env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip

    out = ok(cli(deployment, "lineage", f"{MODEL}/1", "--conn-id", "mlflow_in_db"))

    assert f"{MODEL} v1  @champion" in out and "promote (forced) v2 -> v1 by cli:" in out


def test_expected_failures_are_one_line_and_usage_errors_exit_2(deployment: PipelineEnv) -> None:
    error = one_line_error(cli(deployment, "lineage", f"{MODEL}@nope"), "lineage")
    assert error.endswith(f"{MODEL} has no alias @nope")

    usage = cli(deployment, "lineage", MODEL)
    assert usage.returncode == 2 and "MODEL@ALIAS or MODEL/VERSION" in usage.stderr
    assert "Traceback" not in usage.stderr
