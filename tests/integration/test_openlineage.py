"""OpenLineage events from real pipeline runs, sent by Airflow's OpenLineage provider over real HTTP.

The provider's own ``http`` transport posts every event to a small HTTP receiver on loopback, which
keeps them. One retraining run (a first champion), one batch-scoring run and one drift-monitor run
on a new data version share a deployment, then a retraining run on broken data whose validation
fails; each test reads what those runs sent.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jsonschema
import pytest
import yaml

from airflow_mlops.demo.datasets import data_versions, to_csv_bytes
from airflow_mlops.record import lineage_names
from tests.integration.harness import DATA_PATH, REPO_ROOT, PipelineEnv

RETRAIN = "ol_retrain"
SCORING = "ol_scoring"
MONITOR = "ol_monitor"
MODEL = "ol_model"
BAD = "ol_bad_data"
NAMESPACE = "mlops-lineage-test"


class Receiver:
    """An OpenLineage endpoint on 127.0.0.1 that keeps every event posted to it."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        events = self.events

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                events.append({"path": self.path, **json.loads(body)})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def complete(self, job: str) -> dict[str, Any]:
        """The one COMPLETE event of ``job`` (``<dag_id>.<task_id>``)."""
        found = [e for e in self.events if e["job"]["name"] == job and e["eventType"] == "COMPLETE"]
        assert len(found) == 1, f"{len(found)} COMPLETE events for {job}; jobs seen: {sorted(self.jobs())}"
        return found[0]

    def jobs(self) -> set[str]:
        return {e["job"]["name"] for e in self.events}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> dict[str, Any]:
    deployment = PipelineEnv(tmp_path_factory.mktemp("openlineage"))
    deployment.env.update(
        AIRFLOW__OPENLINEAGE__TRANSPORT=json.dumps(
            {"type": "http", "url": f"http://127.0.0.1:{receiver.port}", "endpoint": "api/v1/lineage"}
        ),
        AIRFLOW__OPENLINEAGE__NAMESPACE=NAMESPACE,
    )
    v1, v2 = data_versions()
    deployment.write_pipeline(RETRAIN, registry={"model_name": MODEL})
    for name, spec in (
        (SCORING, {"template": "batch_scoring", "model": {"name": MODEL, "alias": "champion"}}),
        (MONITOR, {"template": "drift_monitor", "model": {"name": MODEL, "alias": "champion"}}),
    ):
        path = deployment.dags / "pipelines" / f"{name}.yaml"
        data = {"dvc_conn_id": "dvc_default", "path": DATA_PATH, "rev": "main"}
        path.write_text(yaml.safe_dump({"pipeline": name, **spec, "retries": {"retries": 0}, "data": data}))
        path.with_suffix(".py").write_text((deployment.dags / "pipelines" / f"{RETRAIN}.py").read_text())
    commit_v1 = deployment.commit_data(to_csv_bytes(v1), "v1", "data-v1")
    retrain = deployment.run(RETRAIN)
    commit_v2 = deployment.commit_data(to_csv_bytes(v2), "v2", "data-v2")
    scoring = deployment.run(SCORING)
    monitor = deployment.run(MONITOR)
    for outcome in (retrain, scoring, monitor):
        assert outcome["state"] == "success", outcome["log"][-3000:]
    bad = v2.copy()
    bad.loc[:40, "target"] = None  # unlabelled rows: the suite's not-null expectation on target fails
    deployment.commit_data(to_csv_bytes(bad), "corrupt export", "data-bad")
    deployment.write_pipeline(BAD, data={"rev": "data-bad"}, registry={"model_name": f"{MODEL}_bad"})
    assert deployment.run(BAD)["tasks"]["validate_data"] == "failed"
    return {"commits": (commit_v1, commit_v2), "md5s": [hashlib.md5(to_csv_bytes(v)).hexdigest() for v in (v1, v2)]}


def _dataset(datasets: list[dict[str, Any]], namespace: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in datasets if d["namespace"] == namespace and (name is None or d["name"] == name)]
    assert len(found) == 1, (
        f"{len(found)} datasets {namespace}/{name} in {[(d['namespace'], d['name']) for d in datasets]}"
    )
    return found[0]


def _schema_valid(facet: dict[str, Any]) -> None:
    """Validates ``facet`` against the definition its ``_schemaURL`` names, in the file the URL names."""
    url = facet["_schemaURL"]
    file, _, pointer = url.removeprefix("airflow-mlops:").partition("#")
    assert file == lineage_names.SCHEMA_FILE
    document = json.loads((REPO_ROOT / file).read_text())
    jsonschema.Draft202012Validator({**document, "$ref": f"#{pointer}"}).validate(facet)


DATA = f"dvc_default/{DATA_PATH}"


def test_the_provider_posts_events_of_every_step_to_the_http_endpoint(receiver: Receiver, runs: dict[str, Any]) -> None:
    assert {e["path"] for e in receiver.events} == {"/api/v1/lineage"}
    assert {e["job"]["namespace"] for e in receiver.events} == {NAMESPACE}
    for task in ("resolve_data", "validate_data", "prepare_data", "evaluate", "register", "promote"):
        receiver.complete(f"{RETRAIN}.{task}")
    assert {e["eventType"] for e in receiver.events} >= {"START", "COMPLETE"}


def test_data_version_is_the_md5_and_the_pin_names_commit_and_md5(receiver: Receiver, runs: dict[str, Any]) -> None:
    (commit_v1, commit_v2), (md5_v1, md5_v2) = runs["commits"], runs["md5s"]
    (data,) = receiver.complete(f"{RETRAIN}.resolve_data")["outputs"]
    assert (data["namespace"], data["name"]) == ("mlops://data", DATA)
    assert data["facets"]["version"]["datasetVersion"] == md5_v1
    pin = data["facets"]["mlops_dataVersion"]
    assert (pin["commit"], pin["md5"], pin["rev"], pin["path"]) == (commit_v1, md5_v1, "main", DATA_PATH)
    _schema_valid(pin)
    scored = _dataset(receiver.complete(f"{SCORING}.resolve_data")["outputs"], "mlops://data")
    assert scored["facets"]["mlops_dataVersion"]["commit"] == commit_v2
    assert scored["facets"]["version"]["datasetVersion"] == md5_v2


def test_validation_reports_one_assertion_per_expectation(receiver: Receiver, runs: dict[str, Any]) -> None:
    (data,) = receiver.complete(f"{RETRAIN}.validate_data")["inputs"]
    assert data["name"] == DATA and data["facets"]["version"]["datasetVersion"] == runs["md5s"][0]
    assertions = data["inputFacets"]["dataQualityAssertions"]["assertions"]
    suite = yaml.safe_load((REPO_ROOT / "dags" / "pipelines" / "suites" / "breast_cancer.yaml").read_text())
    expected = [(kind, kwargs.get("column")) for item in suite["expectations"] for kind, kwargs in item.items()]
    assert sorted((a["assertion"], a.get("column")) for a in assertions) == sorted(expected)
    assert all(a["success"] is True for a in assertions)
    assert data["inputFacets"]["dataQualityMetrics"]["rowCount"] == len(data_versions()[0])


def test_a_failed_validation_is_reported_with_the_expectations_that_failed(receiver: Receiver) -> None:
    failed = [e for e in receiver.events if e["job"]["name"] == f"{BAD}.validate_data" and e["eventType"] == "FAIL"]
    assert len(failed) == 1, [e["eventType"] for e in receiver.events if e["job"]["name"] == f"{BAD}.validate_data"]
    (data,) = failed[0]["inputs"]
    assertions = data["inputFacets"]["dataQualityAssertions"]["assertions"]
    broken = {(a["assertion"], a.get("column")) for a in assertions if not a["success"]}
    assert broken == {("expect_column_values_to_not_be_null", "target")}
    assert data["facets"]["mlops_dataVersion"]["rev"] == "data-bad"


def test_each_candidate_reads_the_train_split_and_evaluate_reads_the_test_split(
    receiver: Receiver, runs: dict[str, Any]
) -> None:
    train_split, test_split = receiver.complete(f"{RETRAIN}.prepare_data")["outputs"]
    assert train_split["name"].endswith("/train.parquet") and test_split["name"].endswith("/test.parquet")
    assert train_split["namespace"] == "file"
    columns = {f["name"] for f in train_split["facets"]["schema"]["fields"]}
    assert "target" in columns or len(columns) > 2
    trains = [e for e in receiver.events if e["job"]["name"] == f"{RETRAIN}.train" and e["eventType"] == "COMPLETE"]
    candidates = {}
    for event in trains:
        facet = event["run"]["facets"]["mlops_candidate"]
        _schema_valid(facet)
        assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [("file", train_split["name"])]
        (model,) = event["outputs"]
        assert model["namespace"] == "mlflow://logged-models"
        assert facet["modelUri"] == f"models:/{model['name']}"
        candidates[facet["candidate"]] = model["name"]
    assert sorted(candidates) == ["forest", "logreg"]
    inputs = receiver.complete(f"{RETRAIN}.evaluate")["inputs"]
    assert ("file", test_split["name"]) in [(d["namespace"], d["name"]) for d in inputs]
    assert {d["name"] for d in inputs if d["namespace"] == "mlflow://logged-models"} == set(candidates.values())


def test_register_and_promote_output_the_model_version_with_the_gate_verdict(
    receiver: Receiver, runs: dict[str, Any]
) -> None:
    register = receiver.complete(f"{RETRAIN}.register")
    (version,) = register["outputs"]
    assert (version["namespace"], version["name"]) == ("mlflow://models", MODEL)
    assert version["facets"]["version"]["datasetVersion"] == "1"
    verdict = version["facets"]["mlops_gateVerdict"]
    _schema_valid(verdict)
    assert verdict["decision"] == "promote" and verdict["firstRun"] is True and "championVersion" not in verdict
    assert verdict["rules"] and all(r["passed"] for r in verdict["rules"])
    (winner,) = register["inputs"]
    assert (
        winner["namespace"] == "mlflow://logged-models"
        and winner["facets"]["mlops_candidate"]["candidate"] == (verdict["candidate"])
    )
    (promoted,) = receiver.complete(f"{RETRAIN}.promote")["outputs"]
    alias = promoted["facets"]["mlops_modelAlias"]
    _schema_valid(alias)
    _schema_valid(promoted["facets"]["mlops_gateVerdict"])
    assert alias == {**alias, "alias": "champion", "version": "1"} and "previousVersion" not in alias


def test_batch_scoring_reads_data_and_model_version_and_writes_predictions(
    receiver: Receiver, runs: dict[str, Any]
) -> None:
    event = receiver.complete(f"{SCORING}.score")
    data = _dataset(event["inputs"], "mlops://data", DATA)
    assert data["facets"]["version"]["datasetVersion"] == runs["md5s"][1]
    model = _dataset(event["inputs"], "mlflow://models", MODEL)
    assert model["facets"]["version"]["datasetVersion"] == "1"
    (predictions,) = event["outputs"]
    assert predictions["name"].endswith("/predictions.parquet")
    assert predictions["outputFacets"]["outputStatistics"]["rowCount"] == len(data_versions()[1])


def test_drift_reads_both_data_versions_and_the_champion(receiver: Receiver, runs: dict[str, Any]) -> None:
    event = receiver.complete(f"{MONITOR}.check_drift")
    versions = sorted(
        d["facets"]["version"]["datasetVersion"] for d in event["inputs"] if d["namespace"] == "mlops://data"
    )
    assert versions == sorted(runs["md5s"])
    assert _dataset(event["inputs"], "mlflow://models")["facets"]["version"]["datasetVersion"] == "1"
    assert [(d["namespace"], d["name"]) for d in event["outputs"]] == [("mlops://drift", MODEL)]


def test_declared_assets_go_through_the_uri_converter(receiver: Receiver, runs: dict[str, Any]) -> None:
    """A task that reports nothing itself still reports its outlets, named as the tasks name them."""
    published = [e for e in receiver.events if e["job"]["name"] == f"{MONITOR}.publish_drift"]
    complete = [e for e in published if e["eventType"] == "COMPLETE"]
    if complete:  # the v2 data drifted: the outlet is the drift asset
        assert [(d["namespace"], d["name"]) for d in complete[0]["outputs"]] == [("mlops://drift", MODEL)]
    else:
        pytest.fail(f"publish_drift sent no COMPLETE event: {[e['eventType'] for e in published]}")
