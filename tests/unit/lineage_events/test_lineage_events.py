"""The OpenLineage description of each step, its facets against the published schema, and the URI converter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
from airflow.sdk import Asset
from openlineage.client.serde import Serde

from airflow_mlops import assets
from airflow_mlops.lineage_events import assets as converters
from airflow_mlops.lineage_events import build, emit
from airflow_mlops.record import lineage_names

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = json.loads((ROOT / lineage_names.SCHEMA_FILE).read_text())
REF = {"repo": "/srv/data", "path": "data/bc.csv", "rev": "main", "commit": "c" * 40, "md5": "a" * 32}
OUTCOME = {
    "rule": "f1 >= 0.8",
    "metric": "f1",
    "kind": "threshold",
    "candidate_value": 0.91,
    "champion_value": None,
    "threshold": 0.8,
    "passed": True,
    "reason": "f1 0.9100 >= 0.8",
}
CANDIDATE: dict[str, Any] = {
    "candidate": "logreg",
    "estimator": "sklearn.linear_model.LogisticRegression",
    "params": {},
    "preprocessing": {},
    "mlflow_run_id": "r1",
    "experiment_id": "1",
    "model_uri": "models:/m-abc",
    "model_id": "m-abc",
    "metrics": {"f1": 0.91},
}


def _gate(champion: str | None = None) -> dict[str, Any]:
    verdict = {
        "decision": "promote",
        "candidate": "logreg",
        "champion_version": champion,
        "first_run": champion is None,
        "n_test": 114,
        "outcomes": [OUTCOME, {**OUTCOME, "kind": "champion", "champion_value": 0.9, "threshold": None}],
        "summary": "promote logreg",
    }
    return {"verdict": verdict, "candidate": CANDIDATE, "champion": None}


def _validate(facet: dict[str, Any]) -> None:
    pointer = facet["_schemaURL"].partition("#")[2]
    jsonschema.Draft202012Validator({**SCHEMA, "$ref": f"#{pointer}"}).validate(facet)


def _as_events(spec: build.LineageSpec) -> dict[str, Any]:
    """What the provider puts in the event: the client's own serialization."""
    lineage = emit.operator_lineage(spec)
    return {
        "inputs": [Serde.to_dict(d) for d in lineage.inputs],
        "outputs": [Serde.to_dict(d) for d in lineage.outputs],
        "run": {k: Serde.to_dict(f) for k, f in lineage.run_facets.items()},
    }


def _custom_facets(event: dict[str, Any]) -> list[dict[str, Any]]:
    facets = [*event["run"].values()]
    for dataset in (*event["inputs"], *event["outputs"]):
        facets += dataset.get("facets", {}).values()
        facets += dataset.get("inputFacets", {}).values()
        facets += dataset.get("outputFacets", {}).values()
    return [f for f in facets if f["_schemaURL"].startswith(lineage_names.SCHEMA_BASE)]


PREPARED = {
    "train_uri": "file:///art/d/r/train.parquet",
    "test_uri": "file:///art/d/r/test.parquet",
    "n_train": 455,
    "n_test": 114,
    "target": "target",
    "features": ["a", "b"],
    "data": REF,
}


KEY = "f" * 64
HIT = {"step": "train.logreg", "hit": True, "reason": "same key", "key": KEY,
       "source_run_id": "r0", "source_dag_run": "manual__1"}  # fmt: skip
MISS = {"step": "prepare_data", "hit": False, "reason": "since manual__1: inputs.data_md5: 'a' -> 'b'", "key": KEY}
EVALUATION = {"n_test": 114, "test_uri": PREPARED["test_uri"], "candidates": [CANDIDATE], "model_name": "m",
              "champion": {"version": "3", "run_id": "r9", "model_uri": "models:/m/3", "metrics": {"f1": 0.9}},
              "mlflow_run_id": "p1"}  # fmt: skip
SCORES_REUSED = {"evaluate.logreg": {**HIT, "step": "evaluate.logreg"},
                 "evaluate.champion": {**MISS, "step": "evaluate.champion"}}  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "expected_custom"),
    [
        (build.data_version("dvc_default", REF), 1),  # type: ignore[arg-type]
        (build.training(CANDIDATE, PREPARED), 2),  # type: ignore[arg-type]
        (build.training(CANDIDATE, PREPARED, HIT), 3),  # type: ignore[arg-type]
        (build.preparation("dvc_default", PREPARED, MISS), 2),  # type: ignore[arg-type]
        (build.evaluation(EVALUATION), 1),  # type: ignore[arg-type]
        (build.evaluation(EVALUATION, SCORES_REUSED), 3),  # type: ignore[arg-type]
        (build.registration({"model_name": "m", "version": "2"}, _gate("1")), 2),  # type: ignore[arg-type, typeddict-item]
        (build.promotion({"model_name": "m", "alias": "champion", "version": "2", "previous": "1"}, _gate("1")), 2),  # type: ignore[arg-type]
    ],
)
def test_every_custom_facet_validates_against_the_published_schema(
    spec: build.LineageSpec, expected_custom: int
) -> None:
    found = _custom_facets(_as_events(spec))
    assert len(found) == expected_custom
    for facet in found:
        _validate(facet)


def test_the_schema_refuses_a_verdict_without_its_decision() -> None:
    event = _as_events(build.registration({"model_name": "m", "version": "2"}, _gate()))  # type: ignore[arg-type, typeddict-item]
    (version,) = event["outputs"]
    verdict = version["facets"][lineage_names.GATE_VERDICT_FACET]
    _validate(verdict)
    del verdict["decision"]
    with pytest.raises(jsonschema.ValidationError, match="decision"):
        _validate(verdict)


def test_gate_verdict_keeps_every_rule_and_drops_missing_numbers() -> None:
    facet = build.gate_verdict_facet(_gate("1"))  # type: ignore[arg-type]
    assert facet["championVersion"] == "1" and facet["firstRun"] is False
    first, second = facet["rules"]
    assert first == {
        "rule": "f1 >= 0.8",
        "metric": "f1",
        "kind": "threshold",
        "passed": True,
        "reason": "f1 0.9100 >= 0.8",
        "candidateValue": 0.91,
        "threshold": 0.8,
    }
    assert "threshold" not in second and second["championValue"] == 0.9


def test_one_assertion_per_expectation_with_its_column_and_arguments() -> None:
    result = {
        "results": [
            {"type": "expect_column_to_exist", "kwargs": {"column": "a", "batch_id": "b"}, "success": True},
            {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 10}, "success": False},
        ]
    }
    assert build.assertions(result) == [
        {"assertion": "expect_column_to_exist", "success": True, "column": "a"},
        {"assertion": "expect_table_row_count_to_be_between", "success": False, "params": {"min_value": 10}},
    ]
    (data,) = _as_events(build.validation("dvc_default", REF, result, 569))["inputs"]  # type: ignore[arg-type]
    assert data["inputFacets"]["dataQualityMetrics"]["rowCount"] == 569
    assert [a["success"] for a in data["inputFacets"]["dataQualityAssertions"]["assertions"]] == [True, False]


def test_a_dropped_candidate_outputs_no_model_but_says_why() -> None:
    dropped = {**CANDIDATE, "model_uri": "", "model_id": None, "dropped": True, "error": "ValueError: bad"}
    spec = build.training(dropped, PREPARED)  # type: ignore[arg-type]
    assert spec.outputs == ()
    assert spec.run_facets[lineage_names.CANDIDATE_FACET]["error"] == "ValueError: bad"


@pytest.mark.parametrize(
    "asset",
    [
        assets.champion_asset("bc_model"),
        assets.drift_asset("bc_model"),
        assets.data_version_asset("data/bc.csv"),
        assets.predictions_asset("bc_scoring"),
    ],
)
def test_the_converter_names_an_asset_as_the_tasks_name_it(asset: Asset) -> None:
    dataset = converters.to_openlineage(asset, None)
    assert (dataset.namespace, dataset.name) == lineage_names.dataset_of(asset.uri)
    assert converters.sanitize_uri(urlsplit(asset.uri)) == urlsplit(asset.uri)


def test_the_data_asset_and_the_data_the_tasks_report_are_one_dataset() -> None:
    dataset = converters.to_openlineage(assets.data_version_asset("data/bc.csv", "dvc_default"), None)
    reported = build.data_dataset("dvc_default", REF)  # type: ignore[arg-type]
    assert (
        (dataset.namespace, dataset.name)
        == (reported.namespace, reported.name)
        == ("mlops://data", "dvc_default/data/bc.csv")
    )


@pytest.mark.parametrize("uri", ["mlops://models/x", "mlflow://data/x", "mlflow://models/", "mlops://drift"])
def test_the_handler_refuses_a_uri_of_an_unknown_kind_or_naming_nothing(uri: str) -> None:
    with pytest.raises(ValueError, match="asset URI"):
        converters.sanitize_uri(urlsplit(uri))


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("file:///art/d/train.parquet", ("file", "/art/d/train.parquet")),
        ("s3://aws_default@bucket/mlops/d/train.parquet", ("s3://bucket", "mlops/d/train.parquet")),
        ("mlflow://logged-models/m-1", ("mlflow://logged-models", "m-1")),
    ],
)
def test_dataset_names_follow_the_storage(uri: str, expected: tuple[str, str]) -> None:
    assert lineage_names.dataset_of(uri) == expected


def test_the_step_cache_facet_says_where_a_result_came_from_or_why_it_ran() -> None:
    reused = _as_events(build.training(CANDIDATE, PREPARED, HIT))["run"][lineage_names.STEP_CACHE_FACET]  # type: ignore[arg-type]
    assert (reused["hit"], reused["reusedFromDagRun"], reused["reusedFromMlflowRun"]) == (True, "manual__1", "r0")
    ran = _as_events(build.preparation("dvc_default", PREPARED, MISS))["run"][lineage_names.STEP_CACHE_FACET]  # type: ignore[arg-type]
    assert (ran["hit"], ran["reason"]) == (False, MISS["reason"])
    assert "reusedFromDagRun" not in ran
    del ran["key"]
    with pytest.raises(jsonschema.ValidationError, match="key"):
        _validate(ran)


def test_evaluate_says_per_model_read_whether_its_scores_were_reused() -> None:
    event = _as_events(build.evaluation(EVALUATION, SCORES_REUSED))  # type: ignore[arg-type]
    assert lineage_names.STEP_CACHE_FACET not in event["run"]
    candidate = _dataset_named(event["inputs"], "m-abc")["inputFacets"][lineage_names.STEP_CACHE_FACET]
    champion = _dataset_named(event["inputs"], "m")["inputFacets"][lineage_names.STEP_CACHE_FACET]
    reused = (candidate["step"], candidate["hit"], candidate["reusedFromDagRun"])
    assert reused == ("evaluate.logreg", True, "manual__1")
    assert (champion["step"], champion["hit"], champion["reason"]) == ("evaluate.champion", False, MISS["reason"])
    assert candidate["_schemaURL"].endswith("#/$defs/MlopsStepCacheInputDatasetFacet")
    del champion["hit"]
    with pytest.raises(jsonschema.ValidationError, match="hit"):
        _validate(champion)


def _dataset_named(datasets: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = [d for d in datasets if d["name"] == name]
    return found


def test_an_unchanged_verdict_validates() -> None:
    gate = _gate("1")
    gate["verdict"]["decision"] = "unchanged"
    event = _as_events(build.registration({"model_name": "m", "version": "1"}, gate))  # type: ignore[arg-type, typeddict-item]
    (version,) = event["outputs"]
    _validate(version["facets"][lineage_names.GATE_VERDICT_FACET])
