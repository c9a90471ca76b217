"""prepare_data and train reuse an earlier DAG run's result under the same key, and only then.

Real operators against a real sqlite MLflow store and DVC repository: each test makes its own DAG
runs in its own experiment, so no test finds another's results.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from airflow_mlops.record import paths, tag
from airflow_mlops.record.cache import CacheOutcome, miss_reason

from .conftest import CANDIDATES, DVC_CONN, MLFLOW_CONN, Stack, context, resolve


def _prepare(data: Any, experiment: str, run_id: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """prepare_data of DAG run ``run_id`` (of DAG ``d``) recording to ``experiment``; ``params`` are the run's."""
    from airflow_mlops.operators.prepare import PrepareDatasetOperator

    op = PrepareDatasetOperator(
        task_id="prepare_data", data=data, target="target", test_size=0.25, seed=7, dvc_conn_id=DVC_CONN,
        experiment=experiment, mlflow_conn_id=MLFLOW_CONN, **kwargs,
    )  # fmt: skip
    return op.execute(_context("d", run_id, params))


def _train(dataset: Any, candidate: dict[str, Any], experiment: str, run_id: str, **kwargs: Any) -> Any:
    from airflow_mlops.operators.train import TrainCandidateOperator

    params = kwargs.pop("params", None)
    op = TrainCandidateOperator(
        task_id="train", dataset=dataset, candidate=candidate, experiment=experiment, mlflow_conn_id=MLFLOW_CONN,
        **kwargs,
    )  # fmt: skip
    return op.execute(_context("d", run_id, params))


def _context(dag_id: str, run_id: str, params: dict[str, Any] | None) -> Any:
    found = context(dag_id, run_id)
    found["params"] = params or {}
    return found


def _outcome(stack: Stack, experiment: str, run_id: str, step: str) -> CacheOutcome:
    hook = stack.hook
    experiment_id = hook.get_or_create_experiment(experiment)
    parent = stack.client().get_run(hook.get_or_create_pipeline_run(experiment_id, "d", run_id))
    return CacheOutcome.from_json(parent.data.tags[tag.cache_outcome(step)])


def test_a_second_run_reuses_the_split_and_the_model_and_records_where_from(stack: Stack) -> None:
    data = resolve(stack, "d", "c1")
    first = _prepare(data, "cache_reuse", "c1")
    trained = _train(first, CANDIDATES[0], "cache_reuse", "c1")
    assert _outcome(stack, "cache_reuse", "c1", "prepare_data").reason == "no earlier run of this pipeline computed it"
    assert not _outcome(stack, "cache_reuse", "c1", "train.logreg").hit

    second = _prepare(resolve(stack, "d", "c2"), "cache_reuse", "c2")
    assert (second["train_uri"], second["cache_key"], second["reused_from"]) == (
        first["train_uri"], first["cache_key"], "c1",
    )  # fmt: skip
    again = _train(second, CANDIDATES[0], "cache_reuse", "c2")
    assert again["model_uri"] == trained["model_uri"]
    assert again["reused_from"] == "c1"
    assert again["mlflow_run_id"] != trained["mlflow_run_id"]  # a run of this DAG run, the earlier one untouched
    run = stack.client().get_run(again["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags[tag.CACHE_SOURCE_RUN] == trained["mlflow_run_id"]
    assert run.data.tags[tag.RUN_ID] == "c2"
    assert run.data.params["param.max_iter"] == "500"
    assert run.data.metrics["train_f1"] == stack.client().get_run(trained["mlflow_run_id"]).data.metrics["train_f1"]
    for step in ("prepare_data", "train.logreg"):
        outcome = _outcome(stack, "cache_reuse", "c2", step)
        assert (outcome.hit, outcome.source_dag_run) == (True, "c1")


def test_changing_one_candidate_retrains_that_candidate_alone(stack: Stack) -> None:
    dataset = _prepare(resolve(stack, "d", "o1"), "cache_one", "o1")
    first = {c["name"]: _train(dataset, c, "cache_one", "o1") for c in CANDIDATES}
    changed = [CANDIDATES[0], {**CANDIDATES[1], "params": {"max_depth": 4, "random_state": 0}}]
    dataset = _prepare(resolve(stack, "d", "o2"), "cache_one", "o2")
    second = {c["name"]: _train(dataset, c, "cache_one", "o2") for c in changed}
    assert second["logreg"]["model_uri"] == first["logreg"]["model_uri"]
    assert second["tree"]["model_uri"] != first["tree"]["model_uri"]
    assert "reused_from" not in second["tree"]
    tree = _outcome(stack, "cache_one", "o2", "train.tree")
    assert not tree.hit
    assert tree.reason == "since o1: spec.params.max_depth: 3 -> 4"


def test_resources_place_a_candidate_but_do_not_change_its_key(stack: Stack) -> None:
    dataset = _prepare(resolve(stack, "d", "p1"), "cache_resources", "p1")
    first = _train(dataset, CANDIDATES[0], "cache_resources", "p1")
    moved = {**CANDIDATES[0], "resources": {"queue": "gpu"}}
    again = _train(_prepare(resolve(stack, "d", "p2"), "cache_resources", "p2"), moved, "cache_resources", "p2")
    assert again["model_uri"] == first["model_uri"]


def test_a_deleted_model_or_split_is_a_miss_and_the_step_runs(stack: Stack) -> None:
    dataset = _prepare(resolve(stack, "d", "x1"), "cache_deleted", "x1")
    first = _train(dataset, CANDIDATES[0], "cache_deleted", "x1")
    model = stack.client().get_logged_model(first["model_id"])
    shutil.rmtree(urlparse(model.artifact_location).path)
    Path(urlparse(dataset["test_uri"]).path).unlink()

    again = _prepare(resolve(stack, "d", "x2"), "cache_deleted", "x2")
    assert "reused_from" not in again
    assert again["cache_key"] == dataset["cache_key"]  # the same content: the same key, computed afresh
    reason = _outcome(stack, "cache_deleted", "x2", "prepare_data").reason
    assert reason == f"the result of x1 cannot be reused: the test split {dataset['test_uri']} is gone"
    retrained = _train(again, CANDIDATES[0], "cache_deleted", "x2")
    assert retrained["model_uri"] != first["model_uri"]
    reason = _outcome(stack, "cache_deleted", "x2", "train.logreg").reason
    assert reason.startswith("the result of x1 cannot be reused: its model ")
    assert reason.endswith("(deleted)")


def test_a_rewritten_split_is_a_miss(stack: Stack) -> None:
    dataset = _prepare(resolve(stack, "d", "w1"), "cache_rewritten", "w1")
    Path(urlparse(dataset["train_uri"]).path).write_bytes(b"not the split")
    _prepare(resolve(stack, "d", "w2"), "cache_rewritten", "w2")
    assert "changed since it was written" in _outcome(stack, "cache_rewritten", "w2", "prepare_data").reason


def test_a_record_edited_by_hand_is_a_miss_never_a_wrong_hit(stack: Stack) -> None:
    dataset = _prepare(resolve(stack, "d", "e1"), "cache_edited", "e1")
    first = _train(dataset, CANDIDATES[0], "cache_edited", "e1")
    hook = stack.hook
    entry: Any = hook.read_json(first["mlflow_run_id"], paths.cache_entry("train.logreg"))
    entry["key"]["spec"]["params"]["max_iter"] = 1  # the model under this digest now claims other params
    hook.log_json(first["mlflow_run_id"], entry, paths.cache_entry("train.logreg"))
    again = _train(_prepare(resolve(stack, "d", "e2"), "cache_edited", "e2"), CANDIDATES[0], "cache_edited", "e2")
    assert again["model_uri"] != first["model_uri"]
    reason = _outcome(stack, "cache_edited", "e2", "train.logreg").reason
    assert reason == (
        "the result of e1 cannot be reused: its cache entry does not match the key it is filed under "
        "(the record was edited)"
    )


def test_no_cache_reuses_nothing_but_files_its_results(stack: Stack) -> None:
    data = resolve(stack, "d", "n1")
    dataset = _prepare(data, "cache_off", "n1")
    first = _train(dataset, CANDIDATES[0], "cache_off", "n1")
    off = {"no_cache": True}
    again = _prepare(resolve(stack, "d", "n2"), "cache_off", "n2", params=off)
    assert again["train_uri"] != dataset["train_uri"]
    retrained = _train(again, CANDIDATES[0], "cache_off", "n2", params=off)
    assert retrained["model_uri"] != first["model_uri"]
    for step in ("prepare_data", "train.logreg"):
        assert _outcome(stack, "cache_off", "n2", step).reason == "caching is off for this run (params.no_cache)"
    third = _train(_prepare(resolve(stack, "d", "n3"), "cache_off", "n3"), CANDIDATES[0], "cache_off", "n3")
    assert third["model_uri"] == retrained["model_uri"]  # the newest result under the key


def test_a_result_older_than_expire_after_is_a_miss(stack: Stack) -> None:
    dataset = _prepare(resolve(stack, "d", "a1"), "cache_age", "a1")
    first = _train(dataset, CANDIDATES[0], "cache_age", "a1")
    again = _train(dataset, CANDIDATES[0], "cache_age", "a2", cache_expire_after_seconds=0.0)
    assert again["model_uri"] != first["model_uri"]
    assert "expired" in _outcome(stack, "cache_age", "a2", "train.logreg").reason


def test_a_step_with_caching_off_neither_reads_nor_files(stack: Stack) -> None:
    dataset = _prepare(resolve(stack, "d", "f1"), "cache_disabled", "f1", cache=False)
    assert "cache_key" in dataset  # downstream keys still need it
    first = _train(dataset, CANDIDATES[0], "cache_disabled", "f1", cache=False)
    run = stack.client().get_run(first["mlflow_run_id"])
    assert tag.cache_key("train.logreg") not in run.data.tags
    again = _train(dataset, CANDIDATES[0], "cache_disabled", "f2")
    assert again["model_uri"] != first["model_uri"]


def test_editing_a_trainer_module_changes_the_key(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_mlops.operators.train import TrainCandidateOperator

    package = tmp_path / "team_code"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "trainers.py").write_text("def fit(features, labels, **params):\n    return None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    candidate = {"name": "custom", "trainer": "team_code.trainers.fit", "params": {}}
    dataset = {"cache_key": "k" * 64}

    def key() -> Any:
        op = TrainCandidateOperator(task_id="t", dataset=dataset, candidate=candidate, experiment="e")
        return op.cache_key()

    before = key()
    (package / "trainers.py").write_text("def fit(features, labels, **params):\n    return 1\n")
    after = key()
    assert before.digest != after.digest
    assert "versions.team_code.trainers: " in miss_reason(before, after)
    sys.modules.pop("team_code", None)


def test_a_library_upgrade_changes_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    from airflow_mlops.ml.code_versions import installed_version
    from airflow_mlops.operators.prepare import PrepareDatasetOperator

    data = {"repo": "r", "path": "p", "rev": "main", "commit": "c" * 40, "md5": "m" * 32}
    op = PrepareDatasetOperator(task_id="p", data=data, target="target")
    before = op.cache_key()
    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: "99.0" if name == "pandas" else real(name))
    # Versions are read once per process (an upgrade reaches a running task only in a new process).
    installed_version.cache_clear()
    after = op.cache_key()
    installed_version.cache_clear()
    assert before.digest != after.digest
    assert json.dumps(after.versions["pandas"]) == '"99.0"'


def test_tuning_workers_run_no_trials_when_train_will_reuse_the_model(stack: Stack) -> None:
    from airflow_mlops.operators.tune import TuneTrialsOperator
    from airflow_mlops.spec.models_tuning import TuningSpec

    space = {"C": {"type": "float", "low": 0.01, "high": 10, "log": True}}
    tuning = TuningSpec.model_validate({"space": space, "metric": "f1", "n_trials": 2, "workers": 2}).model_dump()
    candidate = {"name": "spread", "estimator": "sklearn.linear_model.LogisticRegression",
                 "params": {"max_iter": 500}, "tuning": tuning}  # fmt: skip

    def tune(dataset: Any, run_id: str) -> Any:
        op = TuneTrialsOperator(task_id="tune_spread", worker=0, dataset=dataset, candidate=candidate,
                                experiment="cache_tune", mlflow_conn_id=MLFLOW_CONN, cv_folds=2)  # fmt: skip
        return op.execute(_context("d", run_id, None))

    dataset = _prepare(resolve(stack, "d", "u1"), "cache_tune", "u1")
    assert tune(dataset, "u1")["ran"] == [0]
    first = _train(dataset, candidate, "cache_tune", "u1", cv_folds=2)
    again = _prepare(resolve(stack, "d", "u2"), "cache_tune", "u2")
    assert tune(again, "u2")["ran"] == []
    assert _train(again, candidate, "cache_tune", "u2", cv_folds=2)["model_uri"] == first["model_uri"]


def test_a_reused_split_must_fit_the_current_champion(tmp_path: Path) -> None:
    """The champion is not in the split's key; a champion that saw other columns or types is a miss."""
    import pandas as pd

    from airflow_mlops import artifacts
    from airflow_mlops.data_contract.model import DataContract
    from airflow_mlops.operators.prepare import _fits

    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"], "target": [0, 1]})
    result: dict[str, Any] = {"contract": DataContract.from_frame(frame, "target").to_json()}
    for side in ("train", "test"):
        result[f"{side}_uri"], result[f"{side}_md5"] = artifacts.write_parquet_hashed(frame, str(tmp_path / side))

    def signature(**types: str) -> tuple[str, DataContract]:
        return "3", DataContract.from_signature([{"name": n, "type": t} for n, t in types.items()])

    assert _fits(None)(result) is None
    assert _fits(signature(a="double", b="string"))(result) is None
    assert _fits(signature(a="double", b="string", c="long"))(result) == (
        "the champion (version 3) saw other columns than the split was cut with: ['a', 'b'] -> ['a', 'b', 'c']"
    )
    assert _fits(signature(a="string", b="string"))(result) == (
        "the champion (version 3) saw other columns than the split was cut with: a: float -> string"
    )
    (tmp_path / "test").unlink()
    assert "is gone" in str(_fits(signature(a="double", b="string"))(result))
