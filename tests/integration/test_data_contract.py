"""Bad data can never produce a champion: real runs (dag.test, real MLflow, real DVC) after a good one.

A good first run makes @champion; then each bad dataset is committed as a new DVC version and
run as its own DAG run. Each must stop before training, naming the column and the rule, and
leave the registry as it was: no candidate run, no new version, @champion unchanged.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_mlops.demo.datasets import breast_cancer_frame, to_csv_bytes
from tests.integration.harness import PipelineEnv

pytestmark = pytest.mark.integration

DAG_ID = "contract_retrain"
MODEL = "contract_model"
GATE = {"metrics": [{"metric": "f1", "min": 0.8}, {"metric": "f1", "compare_to": "champion", "max_drop": 0.05}]}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> PipelineEnv:
    deployment = PipelineEnv(tmp_path_factory.mktemp("contract"))
    _pipeline(deployment)
    deployment.commit_data(to_csv_bytes(breast_cancer_frame()), "good data", "good")
    return deployment


@pytest.fixture(scope="module")
def good_run(env: PipelineEnv) -> dict[str, Any]:
    return env.run(DAG_ID)


def _pipeline(env: PipelineEnv, **data: Any) -> None:
    env.write_pipeline(DAG_ID, registry={"model_name": MODEL}, gate=GATE, data=data)


def _aliases(env: PipelineEnv) -> dict[str, str]:
    return {k: str(v) for k, v in env.client().get_registered_model(MODEL).aliases.items()}


def _versions(env: PipelineEnv) -> list[str]:
    return sorted(str(v.version) for v in env.client().search_model_versions(f"name = '{MODEL}'"))


def _runs(env: PipelineEnv, run_id: str, role: str) -> list[Any]:
    client = env.client()
    experiment = client.get_experiment_by_name(DAG_ID)
    found = f"tags.`mlops.run_id` = '{run_id}' and tags.`mlops.role` = '{role}'"
    return list(client.search_runs([experiment.experiment_id], filter_string=found))


def _bad_run(env: PipelineEnv, frame: Any, message: str) -> dict[str, Any]:
    """Commit ``frame`` as the next version, run the DAG, and check that nothing reached the registry."""
    before_versions, before_aliases = _versions(env), _aliases(env)
    env.commit_data(to_csv_bytes(frame), message)
    outcome = env.run(DAG_ID)
    assert outcome["state"] == "failed", outcome["log"][-3000:]
    trained = {k: v for k, v in outcome["tasks"].items() if k.startswith("train")}
    assert all(state in ("upstream_failed", "None") for state in trained.values()), trained
    assert _runs(env, outcome["run_id"], "candidate") == [], "no candidate may train on bad data"
    assert _versions(env) == before_versions
    assert _aliases(env) == before_aliases
    assert "DataContractError" in outcome["log"]
    return outcome


def _stopped_at_prepare(env: PipelineEnv, outcome: dict[str, Any]) -> dict[str, Any]:
    assert outcome["tasks"]["validate_data"] == "success"
    assert outcome["tasks"]["prepare_data"] == "failed"
    (pipeline,) = _runs(env, outcome["run_id"], "pipeline")
    assert pipeline.data.tags["mlops.contract.passed"] == "false"
    local = env.client().download_artifacts(pipeline.info.run_id, "data/contract.json", str(env.root / "records"))
    with open(local) as handle:
        record: dict[str, Any] = json.load(handle)
    assert record["passed"] is False
    return record


def _blocking(record: dict[str, Any]) -> set[tuple[str, str]]:
    return {(i["column"], i["rule"]) for i in record["issues"] if i["blocking"]}


def test_a_good_first_run_makes_a_champion_with_its_contract(env: PipelineEnv, good_run: dict[str, Any]) -> None:
    assert good_run["state"] == "success", good_run["log"][-3000:]
    assert _aliases(env) == {"champion": "1"}
    tags = env.client().get_model_version(MODEL, "1").tags
    contract = json.loads(tags["mlops.contract"])
    names = [c["name"] for c in contract["columns"]]
    assert len(names) == 30 and "mean_radius" in names and "target" not in names
    assert contract["target"] == "target" and contract["target_type"] == "integer"
    assert len(tags["mlops.contract.sha256"]) == 64
    assert tags["mlops.contract.uri"].endswith("/data/contract.json")


def test_a_duplicated_label_header_stops_the_run_before_training(env: PipelineEnv, good_run: dict[str, Any]) -> None:
    import pandas as pd

    frame = breast_cancer_frame()
    doubled = pd.concat([frame, frame[["target"]]], axis=1)
    assert to_csv_bytes(doubled).splitlines()[0].endswith(b",target,target")
    outcome = _bad_run(env, doubled, "a second target column")
    assert outcome["tasks"]["validate_data"] == "failed"
    assert outcome["tasks"]["prepare_data"] == "upstream_failed"
    assert "repeats column name(s) 'target'" in outcome["log"]


def test_an_added_id_column_is_refused_then_ignored_when_the_yaml_opts_in(
    env: PipelineEnv, good_run: dict[str, Any]
) -> None:
    frame = breast_cancer_frame()
    frame["customer_id"] = [f"C{i:06d}" for i in range(len(frame))]
    outcome = _bad_run(env, frame, "customer ids")
    record = _stopped_at_prepare(env, outcome)
    assert ("customer_id", "unexpected_column") in _blocking(record)
    assert "+ customer_id (string)  [blocks]" in outcome["log"]

    _pipeline(env, on_new_columns="ignore")
    try:
        again = env.run(DAG_ID)
    finally:
        _pipeline(env)
    assert again["state"] == "success", again["log"][-3000:]
    assert _aliases(env) == {"champion": "2", "previous": "1"}
    contract = json.loads(env.client().get_model_version(MODEL, "2").tags["mlops.contract"])
    assert "customer_id" not in [c["name"] for c in contract["columns"]]
    import mlflow

    mlflow.set_tracking_uri(env.tracking_uri)
    mlflow.set_registry_uri(env.tracking_uri)
    inputs = mlflow.models.get_model_info(f"models:/{MODEL}/2").signature.inputs.input_names()
    assert "customer_id" not in inputs and "mean_radius" in inputs


def test_a_number_column_holding_text_names_the_column_and_rule(env: PipelineEnv, good_run: dict[str, Any]) -> None:
    frame = breast_cancer_frame()
    frame["worst_symmetry"] = frame["worst_symmetry"].astype(object)
    frame.loc[5, "worst_symmetry"] = "abc"
    record = _stopped_at_prepare(env, _bad_run(env, frame, "abc in a number column"))
    assert ("worst_symmetry", "numeric_text") in _blocking(record)
    assert ("worst_symmetry", "type_changed") in _blocking(record)


def test_a_single_class_target_stops_before_training(env: PipelineEnv, good_run: dict[str, Any]) -> None:
    frame = breast_cancer_frame()
    frame["target"] = 1
    outcome = _bad_run(env, frame, "one class")
    record = _stopped_at_prepare(env, outcome)
    assert _blocking(record) == {("target", "single_class")}
    assert "target: single_class" in outcome["log"]


def test_a_copy_of_the_target_is_suspected_leakage(env: PipelineEnv, good_run: dict[str, Any]) -> None:
    frame = breast_cancer_frame()
    frame["diagnosis_code"] = frame["target"].map({0: "M", 1: "B"})
    outcome = _bad_run(env, frame, "the label under another name")
    record = _stopped_at_prepare(env, outcome)
    assert ("diagnosis_code", "leakage_equals_target") in _blocking(record)
    assert "diagnosis_code: leakage_equals_target" in outcome["log"]
