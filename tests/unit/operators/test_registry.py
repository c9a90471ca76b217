"""register and promote: the gate's winner becomes a version with its lineage, then the champion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowSkipException

from airflow_mlops.assets import champion_asset
from airflow_mlops.record import tag
from airflow_mlops.record.lineage import VersionLineage

from .conftest import MLFLOW_CONN, Chain, Stack, context, gate, run_to_gate, validation_digest

MODEL = "registry_model"


@pytest.fixture(scope="module")
def chain(stack: Stack) -> Chain:
    return run_to_gate(stack, "registry_exp", MODEL, "reg", "r1")


def _register(chain: Chain, gate_result: Any, run_id: str = "r1", approval: Any = None) -> Any:
    from airflow_mlops.operators.registry import RegisterModelOperator

    op = RegisterModelOperator(
        task_id="register",
        gate=gate_result,
        data=chain.data,
        validation=validation_digest(chain.evaluation["mlflow_run_id"]),
        approval=approval,
        model_name=MODEL,
        lineage={"spec_sha": "abc"},
        card={"intended_use": "Tests <only>.", "owners": ["team-a"]},
        mlflow_conn_id=MLFLOW_CONN,
    )
    return op.execute(context("reg", run_id))


def _promote(registered: Any, gate_result: Any, outlets: list[Asset] | None = None) -> tuple[Any, Any]:
    from airflow_mlops.operators.registry import PromoteModelOperator

    op = PromoteModelOperator(
        task_id="promote",
        registered=registered,
        gate=gate_result,
        model_name=MODEL,
        outlets=outlets or [],
        mlflow_conn_id=MLFLOW_CONN,
    )
    ctx = context("reg", "r1")
    return op.execute(ctx), ctx["outlet_events"]


def test_the_winner_is_registered_once_with_its_lineage(stack: Stack, chain: Chain, tmp_path: Path) -> None:
    approval = {"decision": "approved", "by": "alice", "at": "2026-01-01T00:00:00+00:00", "reason": "ok"}
    registered = _register(chain, chain.gate, approval=approval)
    candidate = chain.gate["candidate"]
    assert registered == {
        "model_name": MODEL,
        "version": "1",
        "model_uri": f"models:/{MODEL}/1",
        "source_run_id": candidate["mlflow_run_id"],
        "url": None,  # a sqlite store has no MLflow UI to link to
    }
    version = stack.client().get_model_version(MODEL, "1")
    assert version.description == f"reg r1: {chain.gate['verdict']['summary']}"
    lineage = VersionLineage.from_tags(version.tags)
    assert (lineage.dag_id, lineage.run_id) == ("reg", "r1")
    assert lineage.data.commit == chain.data["commit"]
    assert lineage.data.md5 == chain.data["md5"]
    assert version.tags[tag.CANDIDATE] == candidate["candidate"]
    assert version.tags[tag.GATE_DECISION] == "promote"
    assert version.tags[f"{tag.APPROVAL_PREFIX}by"] == "alice"
    assert version.tags[f"{tag.CODE_PREFIX}spec_sha"] == "abc"
    # The model card, from the same lineage plus the YAML's card: section, on the version's run.
    card_dir = Path(stack.client().download_artifacts(version.run_id, "model_card", str(tmp_path)))
    assert sorted(p.name for p in card_dir.iterdir()) == ["model_card.html", "model_card.json", "model_card.md"]
    markdown = (card_dir / "model_card.md").read_text()
    assert markdown.startswith("# Model card: registry\\_model version 1\n\n## Intended use\n\nTests &lt;only>.")
    assert "team-a" in markdown and f"commit {chain.data['commit']}" in markdown and "alice" in markdown
    assert "Tests &lt;only&gt;." in (card_dir / "model_card.html").read_text()
    assert json.loads((card_dir / "model_card.json").read_text())["metrics"] == {
        k: v for k, v in candidate["metrics"].items() if "[" not in k
    }
    # A retry of the same DAG run finds the version instead of registering a second one.
    assert _register(chain, chain.gate) == registered
    assert len(stack.client().search_model_versions(f"name = '{MODEL}'")) == 1


def test_a_rejected_challenger_is_not_registered(chain: Chain) -> None:
    rejected = gate(chain.evaluation, "reg", "r1", rules=[{"metric": "f1", "min": 0.9999}])
    with pytest.raises(AirflowSkipException, match="nothing to register"):
        _register(chain, rejected, run_id="r2")


def test_an_unchanged_verdict_registers_nothing(chain: Chain) -> None:
    unchanged = {**chain.gate, "verdict": {**chain.gate["verdict"], "decision": "unchanged",
                 "summary": "UNCHANGED logreg: it is the model the champion (version 1) already serves"}}  # fmt: skip
    with pytest.raises(AirflowSkipException, match="nothing to register: UNCHANGED logreg"):
        _register(chain, unchanged, run_id="r3")


def test_promotion_moves_the_alias_and_announces_it(stack: Stack, chain: Chain) -> None:
    registered = _register(chain, chain.gate)
    asset = champion_asset(MODEL)
    result, events = _promote(registered, chain.gate, outlets=[asset])
    assert result == {"model_name": MODEL, "alias": "champion", "version": "1", "previous": None}
    assert events[asset].extra == result
    assert events[asset].extra is not result
    assert str(stack.hook.alias_version(MODEL, "champion").version) == "1"
    # Promoting the same version again changes nothing and says so.
    again, _ = _promote(registered, chain.gate)
    assert again == result
    assert stack.hook.alias_version(MODEL, "previous") is None
