"""Champion/challenger governance against a real sqlite MLflow store with real sklearn models.

One template store is built per module (migrating an MLflow sqlite database and logging models
cost seconds); each test works on its own copy of the database, so alias moves never leak
between tests. Model artifacts stay in the template folder and are only read.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_mlops.cli import main
from airflow_mlops.commands.lineage import parse_model_ref
from airflow_mlops.errors import NotFoundError, PromotionConflictError, PromotionRefusedError
from airflow_mlops.gates.decision import ChampionRule, ThresholdRule, decide
from airflow_mlops.governance.history import HISTORY_MAX_CHARS, HISTORY_MAX_ENTRIES, append_history, bounded_history
from airflow_mlops.governance.lineage import lineage
from airflow_mlops.governance.promotion import promote_version, request_promotion, rollback
from airflow_mlops.governance.recheck import recheck_gate
from airflow_mlops.record import paths, tag
from airflow_mlops.record.lineage import lineage_tags
from airflow_mlops.report.lineage_text import format_lineage

MODEL = "gov_model"
ACTOR = "test:alice"
RULES = {
    "rules": [{"metric": "f1", "min": 0.7}, {"metric": "f1", "compare_to": "champion", "max_drop": 0.05}],
    "select_by": "f1",
    "problem": "classification",
    "first_run": "promote",
    "min_test_rows": 10,
}
# v1, v2: sound models from a recorded pipeline run; v3: predicts one class only (f1 0 on the
# positive class), from the same run; v4: registered by hand, no pipeline record at all;
# v5: from the first run, clears the f1 floor but is more than 0.05 f1 below v1 and v2.
GOOD_1, GOOD_2, BAD, HAND, WEAK = "1", "2", "3", "4", "5"
# v6, v7: from a second recorded run whose test rows have a categorical `segment` column and
# whose gate judges every segment (per-slice rules, as `slice_by` in the spec records them).
SLICED_1, SLICED_2 = "6", "7"
SLICED_RULES = {
    "rules": [
        {"metric": "f1", "min": 0.5, "slice_by": "segment", "min_slice_rows": 10},
        {"metric": "recall", "compare_to": "champion", "max_drop": 0.1, "relative": False, "slice_by": "segment",
         "min_slice_rows": 10},
    ],
    "select_by": "f1",
    "problem": "classification",
    "first_run": "promote",
    "min_test_rows": 10,
}  # fmt: skip


def _uri(root: Path) -> str:
    return f"sqlite:///{root / 'mlflow.db'}"


def _frames() -> tuple[Any, Any]:
    import pandas as pd
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=240, n_features=4, n_informative=3, n_redundant=0, class_sep=2.0, random_state=0
    )
    frame = pd.DataFrame(x, columns=["f0", "f1", "f2", "f3"])
    frame["target"] = y
    return frame.iloc[:160].reset_index(drop=True), frame.iloc[160:].reset_index(drop=True)


def _segmented(frame: Any) -> Any:
    """``frame`` with a categorical column the gate can slice on: rows alternate segments a and b."""
    return frame.assign(segment=["a" if i % 2 else "b" for i in range(len(frame))])


def _segment_pipeline(train: Any) -> Any:
    """Logistic regression behind the pipeline's own preprocessing, which one-hot encodes `segment`."""
    from airflow_mlops.ml.estimators import build_pipeline

    return build_pipeline(
        estimator_path="sklearn.linear_model.LogisticRegression",
        params={},
        preprocessing={},
        features=train.drop(columns=["target"]),
        allowed_prefixes=["sklearn."],
    )


def _pipeline_record(client: Any, experiment_id: str, run_id: str, test_uri: str, rules: dict[str, Any]) -> str:
    """A pipeline run as `evaluate` and `gate` leave it: the test snapshot and the rules re-applied later."""
    tags = {"mlops.dag_id": "gov_dag", "mlops.run_id": run_id, "mlops.role": "pipeline"}
    parent = str(client.create_run(experiment_id, tags=tags).info.run_id)
    evaluation = {"test_uri": test_uri, "n_test": 80, "candidates": [], "champion": None}
    client.log_text(parent, json.dumps(evaluation), paths.EVALUATION_RESULT)
    client.log_text(parent, json.dumps(rules), paths.GATE_RULES)
    return parent


def _log_model(model: Any, train: Any, experiment_id: str, tags: dict[str, str]) -> tuple[str, str]:
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    from airflow_mlops.ml.flavors import skops_trusted_types

    features, labels = train.drop(columns=["target"]), train["target"]
    model.fit(features, labels)
    with mlflow.start_run(experiment_id=experiment_id, tags=tags) as run:
        mlflow.log_params({"estimator": type(model).__name__, "n_train": len(train)})
        mlflow.log_metrics({"train_f1": 0.9, "train_accuracy": 0.91})
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(features.head(3), model.predict(features.head(3))),
            pip_requirements=["scikit-learn"],
            skops_trusted_types=skops_trusted_types(model),
        )
    return run.info.run_id, info.model_uri


def _verdict(candidate: str) -> dict[str, Any]:
    return decide(
        candidate=candidate,
        candidate_metrics={"f1": 0.91},
        champion_metrics=None,
        champion_version=None,
        rules=[ThresholdRule("f1", min=0.7), ChampionRule("f1", max_drop=0.05)],
        problem="classification",
        n_test=80,
    ).to_dict()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import mlflow
    from mlflow import MlflowClient
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("gov-store")
    train, test = _frames()
    test.to_parquet(root / "test.parquet", index=False)
    _segmented(test).to_parquet(root / "test-segmented.parquet", index=False)
    client = MlflowClient(tracking_uri=_uri(root), registry_uri=_uri(root))
    experiment_id = client.create_experiment("gov", artifact_location=str(root / "artifacts"))
    parent = _pipeline_record(client, experiment_id, "manual__1", f"file://{root / 'test.parquet'}", RULES)
    sliced_parent = _pipeline_record(
        client, experiment_id, "manual__2", f"file://{root / 'test-segmented.parquet'}", SLICED_RULES
    )
    client.create_registered_model(MODEL)
    saved = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(_uri(root))
    try:
        models = [
            ("logreg", LogisticRegression(C=1.0)),
            ("logreg_c05", LogisticRegression(C=0.5)),
            ("constant", DummyClassifier(strategy="constant", constant=0)),
        ]
        for name, model in models:
            run_id, model_uri = _log_model(model, train, experiment_id, {"mlflow.parentRunId": parent})
            candidate = {
                "candidate": name,
                "estimator": f"sklearn.{type(model).__name__}",
                "params": model.get_params(),
                "preprocessing": {"scale": "standard"},
                "mlflow_run_id": run_id,
                "metrics": {"f1": 0.91, "accuracy": 0.9},
            }
            tags = lineage_tags(
                dag_id="gov_dag",
                run_id="manual__1",
                data={
                    "repo": "/data",
                    "path": "d.csv",
                    "rev": "main",
                    "commit": "c0ffee" * 6 + "beef",
                    "md5": "a" * 32,
                },
                validation={"success": True, "statistics": {"evaluated_expectations": 3, "successful_expectations": 3}},
                gate={"candidate": candidate, "verdict": _verdict(name)},
                lineage={"spec_sha256": "5" * 64, "spec_file": "gov.yaml", "package_version": "0.1.0"},
            )
            client.create_model_version(MODEL, model_uri, run_id, tags=tags)
        run_id, model_uri = _log_model(LogisticRegression(), train, experiment_id, {})
        client.create_model_version(MODEL, model_uri, run_id)  # HAND
        later = [
            (parent, "weak", train, LogisticRegression(C=0.001)),  # WEAK
            (sliced_parent, "seg_logreg", _segmented(train), _segment_pipeline(_segmented(train))),  # SLICED_1
            (sliced_parent, "seg_logreg_2", _segmented(train), _segment_pipeline(_segmented(train))),  # SLICED_2
        ]
        for run_parent, name, frame, model in later:
            run_id, model_uri = _log_model(model, frame, experiment_id, {"mlflow.parentRunId": run_parent})
            tags = {"mlops.candidate": name, "mlops.training.run_id": run_id, "mlops.gate.decision": "promote"}
            client.create_model_version(MODEL, model_uri, run_id, tags=tags)
    finally:
        mlflow.set_tracking_uri(saved)
    return root


@pytest.fixture
def store(template: Path, tmp_path: Path) -> tuple[Any, str]:
    """A private copy of the template registry: (client, tracking URI)."""
    from mlflow import MlflowClient

    shutil.copy(template / "mlflow.db", tmp_path / "mlflow.db")
    uri = _uri(tmp_path)
    return MlflowClient(tracking_uri=uri, registry_uri=uri), uri


def _promote(client: Any, version: str, expected: str | None, **kwargs: Any) -> dict[str, Any]:
    return promote_version(client, MODEL, version, expected_champion=expected, actor=ACTOR, reason="because", **kwargs)


def _aliases(client: Any) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model(MODEL).aliases.items()}


def _history(client: Any) -> list[dict[str, Any]]:
    return list(json.loads(client.get_registered_model(MODEL).tags.get(tag.PROMOTION_HISTORY, "[]")))


# --- promote: compare-and-set ------------------------------------------------------------------


def test_promote_moves_champion_keeps_previous_and_audits_both_versions(store: tuple[Any, str]) -> None:
    client, _ = store
    first = _promote(client, GOOD_1, None)
    second = _promote(client, GOOD_2, GOOD_1)

    assert first["changed"] and first["previous"] is None
    assert second["changed"] and second["previous"] == GOOD_1
    assert _aliases(client) == {"champion": GOOD_2, "previous": GOOD_1}
    new = client.get_model_version(MODEL, GOOD_2).tags
    assert new["mlops.promoted_from"] == GOOD_1
    assert new["mlops.promoted_by"] == ACTOR
    assert new["mlops.promotion_reason"] == "because"
    assert new["mlops.promotion_forced"] == "false"
    assert datetime.fromisoformat(new["mlops.promoted_at"]).tzinfo is not None
    old = client.get_model_version(MODEL, GOOD_1).tags
    assert old["mlops.demoted_by"] == ACTOR and old["mlops.demoted_at"] == new["mlops.promoted_at"]
    history = _history(client)
    assert [(e["action"], e["from"], e["to"], e["actor"], e["forced"]) for e in history] == [
        ("promote", None, GOOD_1, ACTOR, False),
        ("promote", GOOD_1, GOOD_2, ACTOR, False),
    ]


def test_promote_refuses_when_champion_moved_and_records_the_refusal(store: tuple[Any, str]) -> None:
    client, _ = store
    _promote(client, GOOD_1, None)
    before = client.get_model_version(MODEL, GOOD_2).tags

    with pytest.raises(PromotionConflictError, match=r"@champion of gov_model is v1, not nothing"):
        _promote(client, GOOD_2, None)  # decided while there was no champion; v1 arrived since

    assert _aliases(client) == {"champion": GOOD_1}
    assert client.get_model_version(MODEL, GOOD_2).tags == before, "a refused version gets no audit tags"
    refusal = _history(client)[-1]
    assert (refusal["action"], refusal["from"], refusal["to"], refusal["actor"]) == ("refused", GOOD_1, GOOD_2, ACTOR)
    assert "blindly" in refusal["reason"]


def test_reevaluate_promotes_when_the_gate_passes_against_the_new_champion(store: tuple[Any, str]) -> None:
    client, _ = store
    _promote(client, GOOD_1, None)  # another run moved @champion after this run's gate saw none

    result = _promote(client, GOOD_2, None, on_conflict="reevaluate")

    assert (result["changed"], result["previous"]) == (True, GOOD_1)
    assert _aliases(client) == {"champion": GOOD_2, "previous": GOOD_1}
    reason = client.get_model_version(MODEL, GOOD_2).tags["mlops.promotion_reason"]
    assert reason.startswith("because; re-evaluated against @champion v1 after it moved: PROMOTE v2: 3/3 rules passed")
    assert [(e["action"], e["from"], e["to"]) for e in _history(client)] == [
        ("promote", None, GOOD_1),
        ("promote", GOOD_1, GOOD_2),
    ], "a re-evaluation that passes is a promotion, not a refusal"
    # The rule relative to the champion was judged against v1, the champion it replaced.
    check = recheck_gate(client, MODEL, GOOD_2, champion_version=GOOD_1)
    champion_rule = next(o for o in check["verdict"]["outcomes"] if o["kind"] == "champion")
    assert champion_rule["passed"] and champion_rule["champion_value"] == check["champion_metrics"]["f1"]


def test_reevaluate_refuses_and_records_when_the_new_champion_is_better(store: tuple[Any, str]) -> None:
    client, _ = store
    _promote(client, GOOD_1, None)  # WEAK's gate saw no champion and passed on the first-run policy
    before = client.get_model_version(MODEL, WEAK).tags

    with pytest.raises(PromotionConflictError) as raised:
        _promote(client, WEAK, None, on_conflict="reevaluate")

    message = str(raised.value)
    assert message.startswith(
        "@champion of gov_model moved to v1 after the gate compared against nothing; re-evaluated against it: REJECT v5"
    )
    assert re.search(r"f1 0\.\d{4} misses >= 0\.\d{4} \(champion 0\.\d{4}\)", message), message
    assert _aliases(client) == {"champion": GOOD_1}
    assert client.get_model_version(MODEL, WEAK).tags == before, "a refused version gets no audit tags"
    refusal = _history(client)[-1]
    assert (refusal["action"], refusal["from"], refusal["to"], refusal["actor"], refusal["forced"]) == (
        "refused",
        GOOD_1,
        WEAK,
        ACTOR,
        False,
    )
    assert refusal["reason"] == message[: len(refusal["reason"])] and "re-evaluated against it" in refusal["reason"]
    # Without reevaluate the same conflict is refused outright, with no re-scoring at all.
    with pytest.raises(PromotionConflictError, match="refusing to promote version 5 blindly"):
        _promote(client, WEAK, None)


def test_reevaluate_does_not_rescore_when_the_champion_did_not_move(store: tuple[Any, str]) -> None:
    client, _ = store
    _promote(client, GOOD_1, None)

    _promote(client, WEAK, GOOD_1, on_conflict="reevaluate")  # its gate's own verdict stands

    assert _aliases(client) == {"champion": WEAK, "previous": GOOD_1}
    assert client.get_model_version(MODEL, WEAK).tags["mlops.promotion_reason"] == "because"


def test_a_promote_retry_takes_over_the_lock_its_killed_try_left(store: tuple[Any, str]) -> None:
    """A worker killed inside the lock: the retry promotes at once instead of waiting out the lease."""
    from types import SimpleNamespace

    from airflow_mlops.operators.base import task_lock_owner
    from airflow_mlops.registry_lock import lock_name

    client, _ = store
    ti = SimpleNamespace(dag_id="retrain", run_id="manual__1", task_id="promote", map_index=-1, try_number=1)
    killed = task_lock_owner({"ti": ti})  # type: ignore[typeddict-item]
    assert killed is not None and killed.key == "airflow:retrain/manual__1/promote/-1" and killed.attempt == 1
    tags = {"mlops.lock.holder": ACTOR, "mlops.lock.owner": killed.key, "mlops.lock.attempt": "1"}
    client.create_registered_model(lock_name(MODEL), tags={**tags, "mlops.lock.expires": "9999999999"})
    ti.try_number = 2

    # A short wait: if the owner stopped reaching the lock, this fails in seconds instead of hanging.
    moved = _promote(client, GOOD_1, None, lock_owner=task_lock_owner({"ti": ti}), lock_wait_seconds=2)  # type: ignore[typeddict-item]

    assert moved["changed"]
    assert _aliases(client) == {"champion": GOOD_1}


def test_promote_is_a_no_op_when_alias_already_points_at_the_version(store: tuple[Any, str]) -> None:
    client, _ = store
    _promote(client, GOOD_1, None)
    _promote(client, GOOD_2, GOOD_1)

    again = _promote(client, GOOD_2, GOOD_1)

    assert again == {"model_name": MODEL, "alias": "champion", "version": GOOD_2, "previous": GOOD_1, "changed": False}
    assert len(_history(client)) == 2
    assert _aliases(client) == {"champion": GOOD_2, "previous": GOOD_1}


def test_unknown_model_or_version_is_a_clear_error(store: tuple[Any, str]) -> None:
    client, _ = store
    with pytest.raises(NotFoundError, match="no registered model named 'nope'"):
        promote_version(client, "nope", "1", expected_champion=None, actor=ACTOR, reason="")
    with pytest.raises(NotFoundError, match="gov_model has no version 99"):
        _promote(client, "99", None)
    assert _aliases(client) == {}


def test_history_keeps_the_newest_entries_within_50_and_a_sql_tag_column(store: tuple[Any, str]) -> None:
    client, _ = store
    for i in range(60):
        append_history(
            client, MODEL, action="promote", actor=ACTOR, from_version=None, to_version=str(i), reason="r", forced=False
        )
    _promote(client, GOOD_1, None)

    raw = client.get_registered_model(MODEL).tags[tag.PROMOTION_HISTORY]
    history = json.loads(raw)
    # Postgres and MySQL store registered-model tag values as VARCHAR(5000): ~40 entries this size.
    assert len(raw) <= HISTORY_MAX_CHARS
    assert 30 <= len(history) <= HISTORY_MAX_ENTRIES
    expected = [str(i) for i in range(61 - len(history), 60)] + [GOOD_1]
    assert [e["to"] for e in history] == expected, "the newest entries are kept, oldest dropped first"

    long = "x" * 4000  # the full reason stays on the version tag; the history clips it
    append_history(
        client, MODEL, action="refused", actor=long, from_version="1", to_version="2", reason=long, forced=True
    )
    raw = client.get_registered_model(MODEL).tags[tag.PROMOTION_HISTORY]
    assert len(raw) <= HISTORY_MAX_CHARS
    assert json.loads(raw)[-1]["reason"] == "x" * 200


def test_history_never_keeps_more_than_50_entries() -> None:
    tiny = [{"to": str(i)} for i in range(80)]
    assert bounded_history(tiny) == tiny[-HISTORY_MAX_ENTRIES:]


# --- rollback -----------------------------------------------------------------------------------


def test_rollback_restores_previous_and_swaps_the_aliases(store: tuple[Any, str]) -> None:
    client, _ = store
    _promote(client, GOOD_1, None)
    _promote(client, GOOD_2, GOOD_1)

    result = rollback(client, MODEL, actor=ACTOR, reason="v2 misbehaves in prod")

    assert (result["version"], result["previous"], result["action"]) == (GOOD_1, GOOD_2, "rollback")
    assert _aliases(client) == {"champion": GOOD_1, "previous": GOOD_2}
    restored = client.get_model_version(MODEL, GOOD_1).tags
    assert restored["mlops.promotion_action"] == "rollback"
    assert restored["mlops.promoted_from"] == GOOD_2
    assert restored["mlops.promotion_reason"] == "v2 misbehaves in prod"
    assert "mlops.demoted_at" in client.get_model_version(MODEL, GOOD_2).tags
    last = _history(client)[-1]
    assert (last["action"], last["from"], last["to"], last["reason"]) == (
        "rollback",
        GOOD_2,
        GOOD_1,
        "v2 misbehaves in prod",
    )


def test_rollback_to_an_earlier_champion(store: tuple[Any, str]) -> None:
    client, _ = store
    _promote(client, GOOD_1, None)
    _promote(client, GOOD_2, GOOD_1)
    _promote(client, HAND, GOOD_2, forced=True)

    rollback(client, MODEL, to_version=GOOD_1, actor=ACTOR, reason="")

    assert _aliases(client) == {"champion": GOOD_1, "previous": HAND}


def test_rollback_refusals_leave_the_aliases_alone(store: tuple[Any, str]) -> None:
    client, _ = store
    _promote(client, GOOD_1, None)
    with pytest.raises(PromotionRefusedError, match=r"no @previous to roll back to; name the version with --to"):
        rollback(client, MODEL, actor=ACTOR, reason="")
    with pytest.raises(PromotionRefusedError, match="version 1 of gov_model is already @champion"):
        rollback(client, MODEL, to_version=GOOD_1, actor=ACTOR, reason="")
    with pytest.raises(PromotionRefusedError, match="has never been @champion"):
        rollback(client, MODEL, to_version=BAD, actor=ACTOR, reason="")
    with pytest.raises(NotFoundError, match="no version 42"):
        rollback(client, MODEL, to_version="42", actor=ACTOR, reason="")
    with pytest.raises(NotFoundError, match="no registered model"):
        rollback(client, "nope", actor=ACTOR, reason="")
    assert _aliases(client) == {"champion": GOOD_1}
    assert [e["action"] for e in _history(client)] == ["promote"]


def test_a_compare_and_set_rollback_refuses_when_the_champion_moved_and_records_it(store: tuple[Any, str]) -> None:
    """The deploy step's rollback: only while @champion still names the version it deployed."""
    client, _ = store
    _promote(client, GOOD_1, None)
    _promote(client, GOOD_2, GOOD_1)
    _promote(client, HAND, GOOD_2, forced=True)  # someone moved the alias after v2 was deployed
    with pytest.raises(PromotionConflictError, match=f"is v{HAND}, not v{GOOD_2}"):
        rollback(client, MODEL, to_version=GOOD_1, actor=ACTOR, reason="smoke", expected_champion=GOOD_2)
    assert _aliases(client) == {"champion": HAND, "previous": GOOD_2}
    assert (_history(client)[-1]["action"], _history(client)[-1]["to"]) == ("refused", GOOD_1)
    rollback(client, MODEL, to_version=GOOD_2, actor=ACTOR, reason="smoke", expected_champion=HAND)
    assert _aliases(client) == {"champion": GOOD_2, "previous": HAND}


# --- promote through the recorded gate ----------------------------------------------------------


def test_gated_promotion_rescores_both_models_on_the_recorded_test_rows(store: tuple[Any, str]) -> None:
    client, _ = store
    _promote(client, GOOD_1, None)

    result = request_promotion(client, MODEL, GOOD_2, actor=ACTOR, reason="weekly refresh")

    check = result["check"]
    assert check["verdict"]["decision"] == "promote"
    assert check["n_test"] == 80
    assert check["champion_metrics"] is not None and check["champion_metrics"]["f1"] > 0.7
    champion_rule = next(o for o in check["verdict"]["outcomes"] if o["kind"] == "champion")
    assert champion_rule["champion_value"] == check["champion_metrics"]["f1"]
    assert [o["kind"] for o in check["verdict"]["outcomes"]] == ["sample_size", "threshold", "champion"]
    assert _aliases(client) == {"champion": GOOD_2, "previous": GOOD_1}
    reason = client.get_model_version(MODEL, GOOD_2).tags["mlops.promotion_reason"]
    assert reason.startswith("weekly refresh; gate re-check: PROMOTE v2")


def test_gated_promotion_refuses_a_model_that_fails_the_rules(store: tuple[Any, str]) -> None:
    client, _ = store
    _promote(client, GOOD_1, None)

    with pytest.raises(PromotionRefusedError, match=r"gate refuses version 3 .*f1 0\.0000 is below the minimum 0\.7"):
        request_promotion(client, MODEL, BAD, actor=ACTOR)

    assert _aliases(client) == {"champion": GOOD_1}
    refusal = _history(client)[-1]
    assert (refusal["action"], refusal["from"], refusal["to"], refusal["forced"]) == ("refused", GOOD_1, BAD, False)


def test_gated_promotion_judges_every_slice_the_recorded_rules_name(store: tuple[Any, str]) -> None:
    client, _ = store
    _promote(client, SLICED_1, None)

    result = request_promotion(client, MODEL, SLICED_2, actor=ACTOR, reason="sliced refresh")

    check = result["check"]
    assert check["verdict"]["decision"] == "promote", check["verdict"]["summary"]
    by_metric = {(o["kind"], o["metric"]): o for o in check["verdict"]["outcomes"]}
    assert set(by_metric) == {
        ("sample_size", "n_test"),
        ("threshold", "f1[segment=a]"),
        ("threshold", "f1[segment=b]"),
        ("champion", "recall[segment=a]"),
        ("champion", "recall[segment=b]"),
    }, "one outcome per slice, and no 'no slice had enough test rows'"
    for segment in ("a", "b"):
        threshold = by_metric[("threshold", f"f1[segment={segment}]")]
        assert threshold["candidate_value"] == check["candidate_metrics"][f"f1[segment={segment}]"]
        champion = by_metric[("champion", f"recall[segment={segment}]")]
        assert champion["champion_value"] == check["champion_metrics"][f"recall[segment={segment}]"]
    assert check["slices_too_small"] == {"segment": {}}
    assert _aliases(client) == {"champion": SLICED_2, "previous": SLICED_1}


def test_version_without_recorded_gate_is_refused_with_a_pointer_to_force(store: tuple[Any, str]) -> None:
    client, _ = store
    _promote(client, GOOD_1, None)

    with pytest.raises(PromotionRefusedError, match=r"no recorded gate to re-apply .*--force"):
        request_promotion(client, MODEL, HAND, actor=ACTOR)

    assert _aliases(client) == {"champion": GOOD_1}
    assert _history(client)[-1]["action"] == "refused"


def test_forced_promotion_skips_the_gate_and_says_so(store: tuple[Any, str]) -> None:
    client, _ = store
    _promote(client, GOOD_1, None)

    result = request_promotion(client, MODEL, BAD, force=True, actor=ACTOR, reason="incident 42")

    assert "check" not in result and result["forced"] is True
    assert _aliases(client) == {"champion": BAD, "previous": GOOD_1}
    assert client.get_model_version(MODEL, BAD).tags["mlops.promotion_forced"] == "true"
    assert _history(client)[-1] == {
        **_history(client)[-1],
        "action": "promote",
        "forced": True,
        "reason": "incident 42",
    }


# --- lineage ------------------------------------------------------------------------------------


def test_lineage_gathers_the_whole_provenance_chain(store: tuple[Any, str]) -> None:
    client, _ = store
    _promote(client, GOOD_1, None)
    _promote(client, GOOD_2, GOOD_1)
    _promote(client, BAD, GOOD_2, forced=True)
    rollback(client, MODEL, actor=ACTOR, reason="bad")
    client.set_model_version_tag(MODEL, GOOD_1, "mlops.approval.by", "carol")

    info = lineage(client, MODEL, "champion")

    assert (info["version"], info["aliases"]) == (GOOD_2, ["champion"])
    assert info["model_aliases"] == {"champion": GOOD_2, "previous": BAD}
    assert info["data"] == {
        "repo": "/data",
        "path": "d.csv",
        "rev": "main",
        "commit": "c0ffee" * 6 + "beef",
        "md5": "a" * 32,
    }
    assert info["validation"] == {
        "success": True,
        "statistics": {"evaluated_expectations": 3, "successful_expectations": 3},
    }
    assert info["code"] == {"package_version": "0.1.0", "spec_file": "gov.yaml", "spec_sha256": "5" * 64}
    assert info["training"]["candidate"] == "logreg_c05" and info["training"]["params"]["C"] == 0.5
    assert info["training"]["run_params"]["estimator"] == "LogisticRegression"
    assert info["metrics"]["test"] == {"f1": 0.91, "accuracy": 0.9}
    assert info["metrics"]["run"]["train_f1"] == 0.9
    assert info["gate"]["decision"] == "promote"
    assert [o["reason"] for o in info["gate"]["outcomes"]] == [
        "f1 0.9100 is within bounds",
        "no champion yet; first_run policy is 'promote'",
    ]
    assert info["approval"] == {
        "status": "not required",
        "decision": None,
        "approver": None,
        "at": None,
        "reason": None,
        "tags": {},
    }
    assert info["promotion"]["promoted_by"] == ACTOR and info["promotion"]["forced"] is False
    assert (info["promotion"]["action"], info["promotion"]["promoted_from"]) == ("rollback", BAD)
    assert [(e["action"], e["from"], e["to"]) for e in info["history"]] == [
        ("promote", GOOD_1, GOOD_2),
        ("promote", GOOD_2, BAD),
        ("rollback", BAD, GOOD_2),
    ], "only the entries that moved this version"

    approved = lineage(client, MODEL, GOOD_1)
    assert approved["approval"]["approver"] == "carol"
    assert approved["aliases"] == []


def test_lineage_shows_who_approved_when_and_why(store: tuple[Any, str]) -> None:
    client, _ = store
    # The tags the approve task records and register copies onto the version (operators/approval.py).
    record = {"decision": "approved", "by": "alice", "at": "2026-11-22T19:49:55+00:00", "reason": "beats the floor"}
    for key, value in record.items():
        client.set_model_version_tag(MODEL, GOOD_1, f"mlops.approval.{key}", value)

    info = lineage(client, MODEL, GOOD_1)
    text = format_lineage(info)

    assert info["approval"] == {
        "status": "approved",
        "decision": "approved",
        "approver": "alice",
        "at": "2026-11-22T19:49:55+00:00",
        "reason": "beats the floor",
        "tags": record,
    }
    assert "approver    approved by alice at 2026-11-22T19:49:55+00:00\n              reason: beats the floor" in text


def test_lineage_of_a_hand_registered_version_says_what_is_missing(store: tuple[Any, str]) -> None:
    client, _ = store
    info = lineage(client, MODEL, HAND)

    text = format_lineage(info)

    assert info["data"]["commit"] is None and info["gate"]["decision"] is None
    for line in ("data        not recorded", "gate        not recorded", "approver    not required"):
        assert line in text
    assert "no promotions recorded" in text


def test_lineage_of_an_unknown_alias_is_a_clear_error(store: tuple[Any, str]) -> None:
    client, _ = store
    with pytest.raises(NotFoundError, match="gov_model has no alias @champion"):
        lineage(client, MODEL, "champion")


def test_format_lineage_prints_every_link(store: tuple[Any, str]) -> None:
    client, _ = store
    _promote(client, GOOD_1, None)

    text = format_lineage(lineage(client, MODEL, "champion"))

    for expected in (
        "gov_model v1  @champion",
        "registered",
        "d.csv @ main -> commit c0ffeec0ffee",
        "md5 " + "a" * 32,
        "validation  PASSED: 3/3 expectations met",
        "spec_sha256 " + "5" * 64,
        "package_version 0.1.0",
        "C=1.0",
        "test  f1 0.9100  accuracy 0.9000",
        "train f1 0.9000  accuracy 0.9100",
        "gate        PROMOTE logreg: 2/2 rules passed (no champion yet)",
        "ok  f1 0.9100 is within bounds",
        "approver    not required",
        "promoted    ",
        f"promote nothing -> v1 by {ACTOR}: because",
    ):
        assert expected in text, f"{expected!r} missing from:\n{text}"


def test_parse_model_ref() -> None:
    assert parse_model_ref("bc@champion") == ("bc", "champion")
    assert parse_model_ref("team/bc/12") == ("team/bc", "12")
    for bad in ("bc", "bc@", "@champion", "bc/v2"):
        with pytest.raises(argparse.ArgumentTypeError, match="MODEL@ALIAS or MODEL/VERSION"):
            parse_model_ref(bad)


# --- the commands in process (the integration tier runs them as subprocesses) -------------------


def test_cli_lineage_and_errors_are_one_line(store: tuple[Any, str], capsys: pytest.CaptureFixture[str]) -> None:
    client, uri = store
    _promote(client, GOOD_1, None)

    assert main(["lineage", f"{MODEL}@champion", "--tracking-uri", uri, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == GOOD_1

    assert main(["lineage", f"{MODEL}@nope", "--tracking-uri", uri]) == 1
    err = capsys.readouterr().err
    assert err == "airflow-mlops lineage: error: gov_model has no alias @nope\n"

    assert main(["promote", MODEL, BAD, "--tracking-uri", uri]) == 1
    err = capsys.readouterr().err
    assert err.startswith("airflow-mlops promote: error: the gate refuses version 3") and err.count("\n") == 1

    assert main(["rollback", MODEL, "--tracking-uri", uri]) == 1
    assert "no @previous" in capsys.readouterr().err
    assert _aliases(client) == {"champion": GOOD_1}


@pytest.mark.parametrize(
    "argv",
    [
        ["lineage", "no-ref-here"],
        ["promote", MODEL, "2", "--force"],
        ["rollback"],
        ["promote", "--from", "dev", "--environments", "e.yaml"],
        ["promote", MODEL, "2", "--from", "dev", "--to", "prod"],
        ["promote", MODEL, "2", "--approved-by", "alice"],
        ["promote", "--from", "dev", "--to", "prod", "--approved-by", "a", "--rejected-by", "b"],
    ],
    ids=[
        "bad-ref",
        "force-without-reason",
        "missing-model",
        "from-without-to",
        "both-spellings",
        "approval-without-environments",
        "approved-and-rejected",
    ],
)
def test_cli_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err
