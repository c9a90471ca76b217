"""gate: the best candidate against the rules, with the verdict recorded where people look."""

from __future__ import annotations

import json

import pytest

from airflow_mlops.errors import GateRejectedError
from airflow_mlops.record import paths, tag

from .conftest import Chain, Stack, gate, run_to_gate


@pytest.fixture(scope="module")
def chain(stack: Stack) -> Chain:
    return run_to_gate(stack, "gate_exp", "gate_model", "g", "r1")


def _best(chain: Chain) -> str:
    scored = {c["candidate"]: c["metrics"]["f1"] for c in chain.evaluation["candidates"]}
    return max(scored, key=lambda name: scored[name])


def test_the_best_candidate_passes_and_the_verdict_is_recorded(stack: Stack, chain: Chain) -> None:
    import mlflow.artifacts

    result = chain.gate
    verdict = result["verdict"]
    best = _best(chain)
    assert (verdict["decision"], verdict["candidate"], verdict["first_run"]) == ("promote", best, True)
    assert result["candidate"]["candidate"] == best
    assert result["champion"] is None
    assert [o["passed"] for o in verdict["outcomes"]] == [True]
    client = stack.client()
    pipeline_run = chain.evaluation["mlflow_run_id"]
    pipeline_tags = client.get_run(pipeline_run).data.tags
    assert (pipeline_tags[tag.GATE_DECISION], pipeline_tags[tag.GATE_CANDIDATE]) == ("promote", best)
    assert client.get_run(result["candidate"]["mlflow_run_id"]).data.tags[tag.GATE_SUMMARY] == verdict["summary"]
    with stack.hook.session():
        recorded = json.loads(mlflow.artifacts.load_text(f"runs:/{pipeline_run}/{paths.GATE_VERDICT}"))
        rules = json.loads(mlflow.artifacts.load_text(f"runs:/{pipeline_run}/{paths.GATE_RULES}"))
    assert recorded == verdict
    assert rules == {
        "rules": [{"metric": "f1", "min": 0.5}],
        "select_by": "f1",
        "problem": "classification",
        "first_run": "promote",
        "min_test_rows": 0,
    }


def test_a_rule_no_candidate_meets_rejects_without_failing(stack: Stack, chain: Chain) -> None:
    result = gate(chain.evaluation, "g", "r1", rules=[{"metric": "f1", "min": 0.9999}], min_test_rows=10_000)
    verdict = result["verdict"]
    assert verdict["decision"] == "reject"
    assert [o["kind"] for o in verdict["outcomes"] if not o["passed"]] == ["sample_size", "threshold"]
    tags = stack.client().get_run(chain.evaluation["mlflow_run_id"]).data.tags
    assert tags[tag.GATE_DECISION] == "reject"


def test_on_reject_fail_turns_the_task_red(chain: Chain) -> None:
    with pytest.raises(GateRejectedError, match="gate rejected"):
        gate(chain.evaluation, "g", "r1", rules=[{"metric": "f1", "min": 0.9999}], on_reject="fail")


def test_first_run_fail_rejects_a_champion_rule_without_a_champion(chain: Chain) -> None:
    rules = [{"metric": "f1", "compare_to": "champion", "max_drop": 0.0}]
    assert gate(chain.evaluation, "g", "r1", rules=rules)["verdict"]["decision"] == "promote"
    assert gate(chain.evaluation, "g", "r1", rules=rules, first_run="fail")["verdict"]["decision"] == "reject"


def _champion_is(chain: Chain, name: str) -> dict:
    """The chain's evaluation with a champion that is candidate ``name``'s own logged model."""
    scored = {c["candidate"]: c for c in chain.evaluation["candidates"]}
    champion = {"version": "1", "run_id": scored[name]["mlflow_run_id"], "model_uri": "models:/gate_model/1",
                "metrics": scored[name]["metrics"], "model_id": scored[name]["model_id"]}  # fmt: skip
    return {**chain.evaluation, "champion": champion}


def test_when_the_best_candidate_is_the_champions_own_model_nothing_changed(stack: Stack, chain: Chain) -> None:
    best = _best(chain)
    rules = [{"metric": "f1", "compare_to": "champion", "min_gain": 0.01}]  # itself never beats itself
    verdict = gate(_champion_is(chain, best), "g", "r1", rules=rules, on_reject="fail")["verdict"]
    assert (verdict["decision"], verdict["candidate"], verdict["champion_version"]) == ("unchanged", best, "1")
    assert verdict["summary"].startswith(f"UNCHANGED {best}: it is the model the champion (version 1) already serves")
    assert stack.client().get_run(chain.evaluation["mlflow_run_id"]).data.tags[tag.GATE_DECISION] == "unchanged"
    # a champion that is another model: the gate judges as ever
    other = next(c["candidate"] for c in chain.evaluation["candidates"] if c["candidate"] != best)
    assert gate(_champion_is(chain, other), "g", "r1")["verdict"]["decision"] == "promote"
