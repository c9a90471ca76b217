"""The record's lineage: what register writes is what governance, the UI and the CLI read back."""

from __future__ import annotations

import json

from airflow_mlops.record import tag
from airflow_mlops.record.lineage import VersionLineage, bool_tag, json_tag, lineage_tags

DATA = {"repo": "/data", "path": "d.csv", "rev": "main", "commit": "c" * 40, "md5": "a" * 32}
VALIDATION = {"success": True, "statistics": {"evaluated_expectations": 3, "successful_expectations": 3}}


def _gate(summary: str = "promote: f1 0.93 >= 0.9", outcomes: int = 1) -> dict[str, object]:
    verdict = {
        "decision": "promote",
        "summary": summary,
        "champion_version": "3",
        "outcomes": [{"rule": f"f1 >= 0.{i}", "passed": True} for i in range(outcomes)],
    }
    candidate = {
        "candidate": "forest",
        "estimator": "sklearn.ensemble.RandomForestClassifier",
        "params": {"n_estimators": 50},
        "preprocessing": {"scale": "standard"},
        "mlflow_run_id": "r" * 32,
        "metrics": {"f1": 0.93},
    }
    return {"candidate": candidate, "verdict": verdict}


def _tags(**gate: object) -> dict[str, str]:
    return lineage_tags(
        dag_id="dag",
        run_id="manual__1",
        data=DATA,
        validation=VALIDATION,
        gate=_gate(**gate),  # type: ignore[arg-type]
        lineage={"spec_sha256": "5" * 64},
        approval={"decision": "approved", "by": "ana"},
    )


def test_written_tags_read_back_as_the_same_lineage() -> None:
    tags = _tags()
    read = VersionLineage.from_tags(tags)
    assert read.dag_id == "dag" and read.run_id == "manual__1"
    assert read.data.shown() == DATA
    assert read.validation.success is True
    assert read.validation.statistics == VALIDATION["statistics"]
    assert read.training.candidate == "forest"
    assert read.training.params == {"n_estimators": 50}
    assert read.training.run_id == "r" * 32
    assert read.metrics == {"f1": 0.93}
    assert read.gate.decision == "promote" and read.gate.champion_version == "3"
    assert read.gate.verdict["outcomes"][0]["rule"] == "f1 >= 0.0"
    assert read.code == {"spec_sha256": "5" * 64}
    assert read.approval == {"by": "ana", "decision": "approved"}
    assert VersionLineage.from_tags(read.to_tags()).to_tags() == tags


def test_every_tag_fits_the_tightest_store_column() -> None:
    tags = _tags(summary="x" * 9000, outcomes=400)
    assert all(len(value) <= tag.VALUE_MAX_CHARS for value in tags.values())
    # A verdict too long for its tag is replaced by its (clipped) summary, never cut into broken JSON.
    assert tags[tag.GATE_VERDICT] == "x" * tag.VALUE_MAX_CHARS
    assert VersionLineage.from_tags(tags).gate.verdict is None


def test_a_version_registered_by_hand_reads_as_missing_facts() -> None:
    read = VersionLineage.from_tags({}, source_run_id="abc")
    assert read.dag_id is None and read.data.commit is None and read.validation.success is None
    assert read.training.run_id == "abc"  # the version's own run stands in
    assert read.promotion.forced is None and read.approval == {} and read.code == {}


def test_edited_tags_read_as_missing_not_as_errors() -> None:
    tags = {tag.METRICS: "{not json", tag.VALIDATION_SUCCESS: "maybe", tag.PROMOTION_FORCED: "true"}
    assert json_tag(tags, tag.METRICS) is None
    assert bool_tag(tags, tag.VALIDATION_SUCCESS) is None
    read = VersionLineage.from_tags(tags)
    assert read.metrics is None and read.promotion.forced is True


def test_all_names_live_in_the_mlops_namespace() -> None:
    names = {
        key: value
        for key, value in vars(tag).items()
        if key.isupper() and isinstance(value, str) and not key.startswith("ROLE_") and key != "LOCK_MODEL_SUFFIX"
    }
    assert len(names) > 40
    assert [key for key, value in names.items() if not value.startswith("mlops.")] == []
    assert len(set(names.values())) == len(names), "two constants name the same tag"
    assert json.dumps(tag.identity("d", "r", tag.ROLE_PIPELINE)) == json.dumps(
        {"mlops.dag_id": "d", "mlops.run_id": "r", "mlops.role": "pipeline"}
    )


CONTRACT = {
    "source": "frame",
    "target": "target",
    "target_type": "integer",
    "columns": [{"name": "mean_radius", "type": "float", "required": True}],
    "closed": True,
}


def _contract_tags(document: object, uri: str = "runs:/p/data/contract.json") -> dict[str, str]:
    return lineage_tags(
        dag_id="dag",
        run_id="manual__1",
        data=DATA,
        validation=VALIDATION,
        gate=_gate(),  # type: ignore[arg-type]
        lineage={},
        contract=json.dumps(document),
        contract_uri=uri,
    )


def test_the_data_contract_round_trips_through_the_version_tags() -> None:
    tags = _contract_tags(CONTRACT)
    assert json.loads(tags[tag.CONTRACT]) == CONTRACT
    assert tags[tag.CONTRACT_URI] == "runs:/p/data/contract.json"
    read = VersionLineage.from_tags(tags)
    assert read.contract.document == CONTRACT
    assert read.contract.columns() == [("mean_radius", "float"), ("target", "integer, target")]
    assert VersionLineage.from_tags(read.to_tags()).to_tags() == tags


def test_a_contract_too_long_for_a_tag_is_kept_as_its_digest_and_artifact() -> None:
    wide = {**CONTRACT, "columns": [{"name": f"feature_{i:04d}", "type": "float"} for i in range(400)]}
    tags = _contract_tags(wide)
    assert tag.CONTRACT not in tags
    assert len(tags[tag.CONTRACT_SHA256]) == 64
    read = VersionLineage.from_tags(tags)
    assert read.contract.document is None and read.contract.columns() == []
    assert read.contract.sha256 == tags[tag.CONTRACT_SHA256]
    assert read.contract.uri == "runs:/p/data/contract.json"
    assert VersionLineage.from_tags(read.to_tags()).to_tags() == tags


def test_a_version_without_a_contract_writes_no_contract_tag() -> None:
    assert not {tag.CONTRACT, tag.CONTRACT_SHA256, tag.CONTRACT_URI} & set(_tags())
    assert VersionLineage.from_tags(_tags()).contract.document is None
