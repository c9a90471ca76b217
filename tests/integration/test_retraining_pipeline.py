"""The retraining pipeline end to end through dag.test(), against real DVC, GX, sklearn and MLflow.

One deployment is shared by the module (migrating an Airflow DB costs seconds); each test
uses its own pipeline and, where it must not interfere, its own registered model.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_mlops.demo.datasets import data_versions, to_csv_bytes
from tests.integration.harness import PipelineEnv
from tests.statsd_capture import StatsdListener

MODEL = "bc_model"
LINEAGE_TAGS = (
    "mlops.dag_id",
    "mlops.run_id",
    "mlops.data.rev",
    "mlops.data.commit",
    "mlops.data.md5",
    "mlops.validation.success",
    "mlops.gate.decision",
    "mlops.gate.verdict",
    "mlops.training.estimator",
    "mlops.training.params",
    "mlops.metrics",
    "mlops.code.spec_sha256",
    "mlops.code.package_version",
)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> PipelineEnv:
    return PipelineEnv(tmp_path_factory.mktemp("deployment"))


@pytest.fixture(scope="module")
def statsd() -> Iterator[StatsdListener]:
    udp = StatsdListener()
    yield udp
    udp.close()


@pytest.fixture(scope="module")
def two_runs(deployment: PipelineEnv, statsd: StatsdListener) -> dict[str, Any]:
    """Data v1 -> run 1 (first champion), data v2 -> run 2 (challenger vs champion).

    Airflow's StatsD backend sends every run's metrics to a real UDP socket; each run's are kept.
    """
    deployment.env.update(
        AIRFLOW__METRICS__STATSD_ON="True",
        AIRFLOW__METRICS__STATSD_HOST="127.0.0.1",
        AIRFLOW__METRICS__STATSD_PORT=str(statsd.port),
    )
    v1, v2 = data_versions()
    deployment.write_pipeline(
        "bc_retrain",
        registry={"model_name": MODEL},
        gate={"metrics": [{"metric": "f1", "min": 0.8}, {"metric": "f1", "compare_to": "champion", "max_drop": 0.05}]},
    )
    deployment.commit_data(to_csv_bytes(v1), "v1", "data-v1")
    first = deployment.run("bc_retrain")
    first["metrics"] = statsd.named("airflow.mlops.")
    statsd.received.clear()
    aliases_after_first = _aliases(deployment)
    commit_v2 = deployment.commit_data(to_csv_bytes(v2), "v2", "data-v2")
    second = deployment.run("bc_retrain")
    second["metrics"] = statsd.named("airflow.mlops.")
    return {"first": first, "second": second, "aliases_after_first": aliases_after_first, "commit_v2": commit_v2}


def _aliases(deployment: PipelineEnv, model: str = MODEL) -> dict[str, str]:
    client = deployment.client()
    try:
        return {k: str(v) for k, v in client.get_registered_model(model).aliases.items()}
    except Exception:
        return {}


def _versions(deployment: PipelineEnv, model: str) -> list[Any]:
    return list(deployment.client().search_model_versions(f"name = '{model}'"))


def _pipeline_run_tags(deployment: PipelineEnv, dag_id: str, run_id: str) -> dict[str, str]:
    client = deployment.client()
    experiment = client.get_experiment_by_name(dag_id)
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`mlops.run_id` = '{run_id}' and tags.`mlops.role` = 'pipeline'",
    )
    assert len(runs) == 1, f"expected one pipeline run record for {run_id}, found {len(runs)}"
    return dict(runs[0].data.tags)


def test_first_run_promotes_a_champion(two_runs: dict[str, Any]) -> None:
    first = two_runs["first"]
    assert first["state"] == "success", first["log"][-3000:]
    assert first["tasks"]["register"] == "success"
    assert first["tasks"]["promote"] == "success"
    assert {"train[logreg]", "train[forest]"} <= set(first["tasks"])
    assert two_runs["aliases_after_first"] == {"champion": "1"}


def test_passing_challenger_moves_champion_and_keeps_previous(
    deployment: PipelineEnv, two_runs: dict[str, Any]
) -> None:
    second = two_runs["second"]
    assert second["state"] == "success", second["log"][-3000:]
    assert _aliases(deployment) == {"champion": "2", "previous": "1"}
    version = deployment.client().get_model_version(MODEL, "2")
    verdict = json.loads(version.tags["mlops.gate.verdict"])
    assert verdict["decision"] == "promote"
    assert verdict["champion_version"] == "1"
    champion_outcomes = [o for o in verdict["outcomes"] if o["kind"] == "champion"]
    assert champion_outcomes and champion_outcomes[0]["champion_value"] is not None
    assert version.tags["mlops.promoted_from"] == "1"
    assert version.tags["mlops.promoted_by"] == f"airflow:bc_retrain/{second['run_id']}"
    old = deployment.client().get_model_version(MODEL, "1")
    assert "mlops.demoted_at" in old.tags


def test_every_version_carries_lineage(deployment: PipelineEnv, two_runs: dict[str, Any]) -> None:
    versions = {str(v.version): v for v in _versions(deployment, MODEL)}
    assert sorted(versions) == ["1", "2"]
    for number, run in (("1", two_runs["first"]), ("2", two_runs["second"])):
        tags = deployment.client().get_model_version(MODEL, number).tags
        missing = [t for t in LINEAGE_TAGS if not tags.get(t)]
        assert not missing, f"version {number} lacks {missing}"
        assert tags["mlops.dag_id"] == "bc_retrain"
        assert tags["mlops.run_id"] == run["run_id"]
        assert tags["mlops.data.rev"] == "main"
        assert tags["mlops.validation.success"] == "true"
        assert tags["mlops.gate.decision"] == "promote"
        params = json.loads(tags["mlops.training.params"])
        assert params in ({"C": 1.0, "max_iter": 5000}, {"n_estimators": 25, "random_state": 0})
    # The md5 recorded is the md5 DVC stored for the exact bytes of that data version.
    v2_tags = deployment.client().get_model_version(MODEL, "2").tags
    assert v2_tags["mlops.data.commit"] == two_runs["commit_v2"]
    _, v2 = data_versions()
    assert v2_tags["mlops.data.md5"] == hashlib.md5(to_csv_bytes(v2)).hexdigest()


def test_each_run_sends_its_metrics_through_airflows_statsd_client(
    deployment: PipelineEnv, two_runs: dict[str, Any]
) -> None:
    client = deployment.client()
    for run, number in ((two_runs["first"], "1"), (two_runs["second"], "2")):
        got = run["metrics"]
        assert got["airflow.mlops.gate.passed.bc_retrain"] == 1.0
        assert got["airflow.mlops.gate.decisions.bc_retrain.promote"] == 1.0
        assert got["airflow.mlops.validation.success_percent.bc_retrain"] == 100.0
        assert got["airflow.mlops.registry.promotions.bc_model"] == 1.0
        promoted_at = client.get_model_version(MODEL, number).tags["mlops.promoted_at"]
        assert (
            got["airflow.mlops.champion.promoted_timestamp.bc_model"] == datetime.fromisoformat(promoted_at).timestamp()
        )
        # Each candidate's test metrics are the ones its MLflow run recorded.
        evaluation = json.loads(client.get_model_version(MODEL, number).tags["mlops.metrics"])
        winner = client.get_model_version(MODEL, number).tags["mlops.candidate"]
        for metric in ("f1", "roc_auc", "accuracy", "log_loss"):
            assert got[f"airflow.mlops.candidate.test.bc_retrain.{winner}.{metric}"] == pytest.approx(
                evaluation[metric]
            )
        assert {k.split(".")[-2] for k in got if k.startswith("airflow.mlops.candidate.test.")} == {"logreg", "forest"}
        assert not any("[" in k for k in got)
    # Only the second run had a champion to score on the same rows, and an age to report.
    assert not any(k.startswith("airflow.mlops.champion.test.") for k in two_runs["first"]["metrics"])
    champion_f1 = two_runs["second"]["metrics"]["airflow.mlops.champion.test.bc_retrain.f1"]
    verdict = json.loads(client.get_model_version(MODEL, "2").tags["mlops.gate.verdict"])
    (champion_rule,) = [o for o in verdict["outcomes"] if o["kind"] == "champion"]
    assert champion_f1 == pytest.approx(champion_rule["champion_value"])
    assert two_runs["second"]["metrics"]["airflow.mlops.champion.age_seconds.bc_model"] >= 0


def test_every_version_has_a_model_card_on_its_run(deployment: PipelineEnv, two_runs: dict[str, Any]) -> None:
    client = deployment.client()
    for version in _versions(deployment, MODEL):
        folder = Path(
            client.download_artifacts(version.run_id, "model_card", str(deployment.root / f"card{version.version}"))
        )
        markdown = (folder / "model_card.md").read_text()
        assert markdown.startswith(f"# Model card: bc\\_model version {version.version}\n")
        assert version.tags["mlops.data.commit"] in markdown
        assert "## Gate and approval" in markdown and "promote" in markdown
        assert "<h2>Model card: bc_model v" in (folder / "model_card.html").read_text()
        card = json.loads((folder / "model_card.json").read_text())
        assert card["version"] == str(version.version) and card["metrics"]["f1"] > 0.8


def test_candidate_runs_record_params_metrics_and_a_model_with_signature(
    deployment: PipelineEnv, two_runs: dict[str, Any]
) -> None:
    import mlflow
    import mlflow.pyfunc
    from mlflow.artifacts import download_artifacts

    from airflow_mlops.ml.flavors import pip_requirements

    client = deployment.client()
    experiment = client.get_experiment_by_name("bc_retrain")
    run_id = two_runs["first"]["run_id"]
    candidates = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`mlops.run_id` = '{run_id}' and tags.`mlops.role` = 'candidate'",
    )
    assert sorted(r.data.tags["mlops.candidate"] for r in candidates) == ["forest", "logreg"]
    parent = _pipeline_run_tags(deployment, "bc_retrain", run_id)
    expected_params = {"logreg": {"param.C": "1.0", "param.max_iter": "5000"}, "forest": {"param.n_estimators": "25"}}
    mlflow.set_tracking_uri(deployment.tracking_uri)
    for run in candidates:
        name, params, metrics = run.data.tags["mlops.candidate"], run.data.params, run.data.metrics
        assert run.info.status == "FINISHED"
        assert expected_params[name].items() <= params.items(), params
        assert params["data.rev"] == "main" and params["data.commit"] == run.data.tags["mlops.data.commit"]
        assert int(params["n_train"]) > 0
        for metric in ("f1", "accuracy", "roc_auc"):
            assert 0.0 <= metrics[f"train_{metric}"] <= 1.0 and 0.0 <= metrics[f"test_{metric}"] <= 1.0, metrics
        assert run.data.tags["mlflow.parentRunId"]
        model_uri = run.data.tags["mlops.model_uri"]
        info = mlflow.models.get_model_info(model_uri)
        assert info.signature is not None
        assert info.signature.inputs.input_names() == [c for c in data_versions()[0].columns if c != "target"]
        requirements = Path(mlflow.pyfunc.get_model_dependencies(model_uri)).read_text().split()
        assert sorted(r for r in requirements if not r.startswith("mlflow")) == sorted(pip_requirements("sklearn"))
    # The full Great Expectations result is on the DAG run's pipeline run, not only its summary.
    pipeline_runs = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`mlops.run_id` = '{run_id}' and tags.`mlops.role` = 'pipeline'"
    )
    result = json.loads(
        Path(
            download_artifacts(
                run_id=pipeline_runs[0].info.run_id,
                artifact_path="validation/result.json",
                tracking_uri=deployment.tracking_uri,
            )
        ).read_text()
    )
    assert result["success"] is True and parent["mlops.validation.success"] == "true"
    assert result["statistics"]["evaluated_expectations"] == len(result["results"]) > 0
    assert all(r["success"] for r in result["results"])


def test_datasets_move_by_reference(deployment: PipelineEnv, two_runs: dict[str, Any]) -> None:
    run_dirs = list((deployment.root / "artifacts" / "bc_retrain").iterdir())
    assert len(run_dirs) == 2
    for run_dir in run_dirs:
        assert (run_dir / "train.parquet").stat().st_size > 0
        assert (run_dir / "test.parquet").stat().st_size > 0


def test_failing_gate_leaves_champion_untouched(deployment: PipelineEnv, two_runs: dict[str, Any]) -> None:
    before = _aliases(deployment)
    deployment.write_pipeline(
        "bc_strict",
        data={"rev": "data-v2"},
        registry={"model_name": MODEL},
        gate={"metrics": [{"metric": "f1", "compare_to": "champion", "min_gain": 0.5}]},
    )
    outcome = deployment.run("bc_strict")
    assert outcome["state"] == "success", "a rejection is a normal outcome, not a failed run"
    assert outcome["tasks"]["gate"] == "success"
    assert outcome["tasks"]["register"] == "skipped"
    assert outcome["tasks"]["promote"] == "skipped"
    assert _aliases(deployment) == before == {"champion": "2", "previous": "1"}
    assert len(_versions(deployment, MODEL)) == 2
    tags = _pipeline_run_tags(deployment, "bc_strict", outcome["run_id"])
    assert tags["mlops.gate.decision"] == "reject"
    assert "misses" in tags["mlops.gate.summary"]


def test_gate_can_be_asked_to_fail_the_run(deployment: PipelineEnv, two_runs: dict[str, Any]) -> None:
    deployment.write_pipeline(
        "bc_strict_fail",
        data={"rev": "data-v2"},
        registry={"model_name": MODEL},
        gate={"metrics": [{"metric": "f1", "min": 0.999}], "on_reject": "fail"},
    )
    outcome = deployment.run("bc_strict_fail")
    assert outcome["state"] == "failed"
    assert outcome["tasks"]["gate"] == "failed"
    assert outcome["tasks"]["promote"] in ("upstream_failed", "skipped")
    assert "GateRejectedError" in outcome["log"] or "gate rejected" in outcome["log"]
    assert _aliases(deployment) == {"champion": "2", "previous": "1"}


def test_bad_data_stops_the_run_before_training(
    deployment: PipelineEnv, two_runs: dict[str, Any], statsd: StatsdListener
) -> None:
    _, v2 = data_versions()
    bad = v2.copy()
    bad.loc[:40, "target"] = None  # unlabelled rows
    bad.loc[:5, "mean_radius"] = 900.0  # impossible measurements
    deployment.commit_data(to_csv_bytes(bad), "corrupt export", "data-bad")
    deployment.commit_data(to_csv_bytes(v2), "restore v2")
    deployment.write_pipeline("bc_bad", data={"rev": "data-bad"}, registry={"model_name": "bc_bad_model"})
    outcome = deployment.run("bc_bad")
    assert outcome["state"] == "failed"
    assert outcome["tasks"]["validate_data"] == "failed"
    trained = {k: v for k, v in outcome["tasks"].items() if k.startswith("train")}
    assert trained and all(state in ("upstream_failed", "None") for state in trained.values()), trained
    assert outcome["tasks"]["prepare_data"] == "upstream_failed"
    assert "DataValidationError" in outcome["log"]
    assert _versions(deployment, "bc_bad_model") == []
    assert _aliases(deployment) == {"champion": "2", "previous": "1"}
    # The failed validation is on record, with what failed.
    tags = _pipeline_run_tags(deployment, "bc_bad", outcome["run_id"])
    assert tags["mlops.validation.success"] == "false"
    # ... and on the metrics the validation alert reads, sent before the task failed.
    sent = statsd.named("airflow.mlops.validation.success_percent.bc_bad")
    assert 0 <= sent["airflow.mlops.validation.success_percent.bc_bad"] < 100
    assert not any(k.startswith("airflow.mlops.gate.") and "bc_bad" in k for k in statsd.named("airflow.mlops."))


def _with_region(frame: Any) -> Any:
    """The data with a categorical column to slice on: two regions, and a rare third too small to judge."""
    regions = ["unknown" if i % 50 == 0 else ("north" if i % 2 else "south east") for i in range(len(frame))]
    return frame.assign(region=regions)


def test_slice_rules_judge_every_region_in_a_real_run(deployment: PipelineEnv) -> None:
    _, v2 = data_versions()
    deployment.commit_data(to_csv_bytes(_with_region(v2)), "v2 with regions", "data-regions")
    deployment.commit_data(to_csv_bytes(v2), "restore v2")
    deployment.write_pipeline(
        "bc_sliced",
        data={"rev": "data-regions"},
        registry={"model_name": "bc_sliced_model"},
        gate={
            "metrics": [
                {"metric": "f1", "min": 0.8},
                {"metric": "recall", "min": 0.8, "slice_by": "region"},
                {"metric": "recall", "compare_to": "champion", "max_drop": 0.05, "slice_by": "region"},
                {"metric": "recall", "slice_by": "region", "max_slice_gap": 0.5},
            ]
        },
    )
    outcome = deployment.run("bc_sliced")
    assert outcome["state"] == "success", outcome["log"][-3000:]
    assert outcome["tasks"]["evaluate"] == "success"
    assert outcome["tasks"]["promote"] == "success"
    client = deployment.client()
    experiment = client.get_experiment_by_name("bc_sliced")
    parent = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`mlops.run_id` = '{outcome['run_id']}' and tags.`mlops.role` = 'pipeline'",
    )[0]
    evaluation = json.loads(
        Path(client.download_artifacts(parent.info.run_id, "evaluation/result.json", str(deployment.root))).read_text()
    )

    # XCom and the evaluation record keep the slice keys the rules are written against ...
    assert evaluation["slice_metric_names"] == {
        f"{metric}[region={region}]": f"test_slice/{metric}/region/{escaped}"
        for metric in ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
        for region, escaped in (("north", "north"), ("south east", "south.20east"))
    }
    assert evaluation["slices"] == [{"column": "region", "min_rows": 10, "too_small": {"unknown": 3}}]
    # ... and each candidate's MLflow run has every one of them under its MLflow-safe name.
    for candidate in evaluation["candidates"]:
        logged = client.get_run(candidate["mlflow_run_id"]).data.metrics
        for key, name in evaluation["slice_metric_names"].items():
            assert logged[name] == pytest.approx(candidate["metrics"][key]), (candidate["candidate"], key)
        assert logged["test_recall"] == pytest.approx(candidate["metrics"]["recall"])
        assert not any("[" in name for name in logged)

    # The verdict judged each region on its own, with a reason per region.
    version = client.get_model_version_by_alias("bc_sliced_model", "champion")
    verdict = json.loads(version.tags["mlops.gate.verdict"])
    assert verdict["decision"] == "promote"
    sliced = {(o["kind"], o["metric"]): o["reason"] for o in verdict["outcomes"] if "[" in o["metric"]}
    assert set(sliced) == {
        ("threshold", "recall[region=north]"),
        ("threshold", "recall[region=south east]"),
        ("champion", "recall[region=north]"),
        ("champion", "recall[region=south east]"),
    }
    assert re.fullmatch(
        r"recall\[region=south east\] 0\.\d{4} is within bounds", sliced[("threshold", "recall[region=south east]")]
    )
    assert sliced[("champion", "recall[region=north]")] == "no champion yet; first_run policy is 'promote'"
    assert not any("unknown" in o["metric"] for o in verdict["outcomes"]), "a slice too small is reported, not judged"
    (gap,) = [o for o in verdict["outcomes"] if o["kind"] == "slice_gap"]
    assert gap["passed"] and re.match(r"recall gap 0\.\d{4} between region=", gap["reason"]), gap

    # The version's model card shows every region's metrics and the gap the rule bounded.
    card = json.loads(
        Path(client.download_artifacts(version.run_id, "model_card/model_card.json", str(deployment.root))).read_text()
    )
    (table,) = card["slices"]
    assert table["column"] == "region" and [row[0] for row in table["rows"]] == ["north", "south east"]
    recall_gap = next(g for g in card["gaps"] if g["metric"] == "recall")
    assert recall_gap["gap"] == pytest.approx(gap["candidate_value"])
    assert {recall_gap["worst"], recall_gap["best"]} == {"north", "south east"}
