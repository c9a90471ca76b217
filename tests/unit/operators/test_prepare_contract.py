"""prepare_data checks the data contract before it splits: bad data stops here, recorded on the pipeline run."""

from __future__ import annotations

import json

import pytest

from airflow_mlops import artifacts
from airflow_mlops.errors import DataContractError
from airflow_mlops.record import paths, tag

from .conftest import DATA_PATH, FEATURES, MLFLOW_CONN, Stack, commit_data, prepare, resolve


def _pipeline_record(stack: Stack, experiment: str, dag_id: str) -> tuple[dict[str, str], dict[str, object]]:
    client = stack.client()
    found = client.get_experiment_by_name(experiment)
    (run,) = client.search_runs([found.experiment_id], f"tags.`{tag.DAG_ID}` = '{dag_id}'")
    local = client.download_artifacts(run.info.run_id, paths.DATA_CONTRACT, str(stack.root / dag_id))
    with open(local) as handle:
        return dict(run.data.tags), json.load(handle)


def test_an_id_like_column_stops_the_run_and_is_recorded(stack: Stack) -> None:
    frame = stack.frame.copy()
    frame["customer_id"] = [f"cust-{i:05d}" for i in range(len(frame))]
    commit_data(stack.repo, frame, "with ids")
    data = resolve(stack, "contract_ids", "r1")
    with pytest.raises(DataContractError, match=r"customer_id: id_like_string") as caught:
        prepare(stack, data, "contract_ids", "r1", experiment="contracts", mlflow_conn_id=MLFLOW_CONN)
    assert DATA_PATH in str(caught.value) and "! customer_id: id_like_string  [blocks]" in str(caught.value)
    tags, record = _pipeline_record(stack, "contracts", "contract_ids")
    assert tags[tag.CONTRACT_PASSED] == "false"
    assert record["passed"] is False
    assert [(i["column"], i["rule"]) for i in record["issues"]] == [("customer_id", "id_like_string")]  # type: ignore[union-attr,index]


def test_declared_id_columns_are_never_trained_on(stack: Stack) -> None:
    data = resolve(stack, "contract_ids_ok", "r1")
    dataset = prepare(stack, data, "contract_ids_ok", "r1", id_columns=["customer_id"])
    assert dataset["features"] == FEATURES
    assert "customer_id" not in artifacts.read_parquet(dataset["train_uri"]).columns
    contract = json.loads(dataset["contract"])
    assert [c["name"] for c in contract["columns"]] == FEATURES
    assert contract["target"] == "target" and contract["policies"]["id_columns"] == ["customer_id"]


def test_a_single_class_target_names_the_rule(stack: Stack) -> None:
    frame = stack.frame.copy()
    frame["target"] = 1
    commit_data(stack.repo, frame, "one class")
    with pytest.raises(DataContractError, match=r"target: single_class"):
        prepare(stack, resolve(stack, "contract_one", "r1"), "contract_one", "r1")
    commit_data(stack.repo, stack.frame, "back to good data")
