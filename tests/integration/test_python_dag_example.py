"""The hand-written Python example DAG (dags/examples/) end to end through dag.test().

Real Airflow, a real sqlite MLflow store and a real git + DVC repository with a local remote:
the DAG publishes its own data, so the deployment starts with an empty data repository. It runs
twice, so the second run's challenger is gated against the first run's champion.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from airflow_mlops import __version__
from airflow_mlops.record import paths
from airflow_mlops.record.lineage import VersionLineage
from tests.integration.harness import REPO_ROOT, PipelineEnv

pytestmark = pytest.mark.integration

EXAMPLE = REPO_ROOT / "dags" / "examples" / "wine_classifier_python.py"
DAG_ID = "wine_classifier_python"
MODEL = "wine_classifier"
DATA_PATH = "data/wine.csv"
TASKS = {
    "publish_data",
    "resolve_data",
    "validate_data",
    "prepare_data",
    "train[logreg]",
    "train[forest]",
    "evaluate",
    "gate",
    "register",
    "promote",
}


def _head(repo: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "main"], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> PipelineEnv:
    env = PipelineEnv(tmp_path_factory.mktemp("python-dag"))
    (env.dags / "examples").mkdir()
    shutil.copy(EXAMPLE, env.dags / "examples" / EXAMPLE.name)
    return env


@pytest.fixture(scope="module")
def two_runs(deployment: PipelineEnv) -> dict[str, Any]:
    first = deployment.run(DAG_ID)
    commit_1 = _head(deployment.repo)
    aliases_1 = dict(deployment.client().get_registered_model(MODEL).aliases)
    second = deployment.run(DAG_ID)
    return {"first": first, "second": second, "commit_1": commit_1, "commit_2": _head(deployment.repo),
            "aliases_1": aliases_1}  # fmt: skip


def _lineage(deployment: PipelineEnv, version: str) -> VersionLineage:
    found = deployment.client().get_model_version(MODEL, version)
    return VersionLineage.from_tags(found.tags, source_run_id=found.run_id)


def _wine_csv_md5() -> str:
    from sklearn.datasets import load_wine

    return hashlib.md5(load_wine(as_frame=True).frame.to_csv(index=False).encode()).hexdigest()


def test_both_runs_succeed_with_every_task(two_runs: dict[str, Any]) -> None:
    for run in (two_runs["first"], two_runs["second"]):
        assert run["state"] == "success", run["log"][-3000:]
        assert run["tasks"] == dict.fromkeys(TASKS, "success"), run["tasks"]


def test_first_run_registers_and_promotes_with_lineage(deployment: PipelineEnv, two_runs: dict[str, Any]) -> None:
    assert {k: str(v) for k, v in two_runs["aliases_1"].items()} == {"champion": "1"}
    lineage = _lineage(deployment, "1")
    assert (lineage.dag_id, lineage.run_id) == (DAG_ID, two_runs["first"]["run_id"])
    # The version names the commit the DAG's own data task made, and the md5 of those bytes.
    assert lineage.data.path == DATA_PATH and lineage.data.rev == "main"
    assert lineage.data.commit == two_runs["commit_1"]
    assert lineage.data.md5 == _wine_csv_md5()
    assert lineage.validation.success is True
    assert lineage.validation.statistics["evaluated_expectations"] == 4
    assert lineage.gate.decision == "promote" and lineage.gate.champion_version is None
    assert lineage.training.candidate in ("logreg", "forest")
    assert lineage.training.estimator in (
        "sklearn.linear_model.LogisticRegression",
        "sklearn.ensemble.RandomForestClassifier",
    )
    assert lineage.metrics["f1"] >= 0.85
    assert lineage.code == {"dag_file": "examples/wine_classifier_python.py", "package_version": __version__}
    assert lineage.promotion.promoted_by == f"airflow:{DAG_ID}/{two_runs['first']['run_id']}"


def test_second_run_is_gated_against_the_champion(deployment: PipelineEnv, two_runs: dict[str, Any]) -> None:
    aliases = {k: str(v) for k, v in deployment.client().get_registered_model(MODEL).aliases.items()}
    assert aliases == {"champion": "2", "previous": "1"}
    lineage = _lineage(deployment, "2")
    assert lineage.run_id == two_runs["second"]["run_id"]
    assert lineage.data.commit == two_runs["commit_2"] != two_runs["commit_1"]
    verdict = lineage.gate.verdict
    assert verdict["decision"] == "promote" and verdict["champion_version"] == "1"
    assert lineage.gate.champion_version == "1"
    [champion_rule] = [o for o in verdict["outcomes"] if o["kind"] == "champion"]
    assert champion_rule["passed"] is True
    # Same data and seed on both runs: the champion scores what the winner scored last time.
    assert champion_rule["champion_value"] == pytest.approx(_lineage(deployment, "1").metrics["f1"])
    assert lineage.promotion.promoted_from == "1"


def test_the_pipeline_run_holds_validation_and_the_verdict(deployment: PipelineEnv, two_runs: dict[str, Any]) -> None:
    from mlflow.artifacts import download_artifacts

    client = deployment.client()
    experiment = client.get_experiment_by_name("wine_classifier_python")
    run_id = two_runs["second"]["run_id"]
    [pipeline] = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`mlops.run_id` = '{run_id}' and tags.`mlops.role` = 'pipeline'"
    )
    assert pipeline.data.tags["mlops.validation.success"] == "true"
    assert pipeline.data.tags["mlops.gate.decision"] == "promote"
    verdict = json.loads(
        Path(
            download_artifacts(
                run_id=pipeline.info.run_id, artifact_path=paths.GATE_VERDICT, tracking_uri=deployment.tracking_uri
            )
        ).read_text()
    )
    assert verdict == _lineage(deployment, "2").gate.verdict
    candidates = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`mlops.run_id` = '{run_id}' and tags.`mlops.role` = 'candidate'",
    )
    assert sorted(r.data.tags["mlops.candidate"] for r in candidates) == ["forest", "logreg"]
    assert all(r.info.status == "FINISHED" and "test_f1" in r.data.metrics for r in candidates)
