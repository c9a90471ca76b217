"""Per-candidate resources, user training code, custom steps and notifications: spec and DAG shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_mlops.errors import PipelineConfigError
from airflow_mlops.factory.templates import build_dag
from airflow_mlops.spec.loader import load_pipeline_spec

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "dags" / "pipelines" / "breast_cancer.yaml"
ACME = ("sklearn.", "acme_ml.")


def _spec(tmp_path: Path, prefixes: tuple[str, ...] = ACME, **changes: Any) -> Any:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["validation"] = {"expectations": [{"expect_column_to_exist": {"column": "target"}}]}
    data.update(changes)
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_pipeline_spec(path, allowed_import_prefixes=prefixes)


def _issues(tmp_path: Path, prefixes: tuple[str, ...] = ACME, **changes: Any) -> list[str]:
    with pytest.raises(PipelineConfigError) as err:
        _spec(tmp_path, prefixes, **changes)
    return [f"{i.field}: {i.message}" for i in err.value.issues]


LOGREG = {"name": "logreg", "estimator": "sklearn.linear_model.LogisticRegression"}


def test_shared_resources_keep_one_mapped_train_task(tmp_path: Path) -> None:
    resources = {"queue": "training", "pool": "ml", "pool_slots": 2}
    models = [{**LOGREG, "resources": resources}, {**LOGREG, "name": "other", "resources": resources}]
    dag = build_dag(_spec(tmp_path, models=models))
    train = dag.get_task("train")
    assert type(train).__name__ == "MappedOperator"
    assert (train.queue, train.pool, train.pool_slots) == ("training", "ml", 2)


def test_different_resources_give_each_candidate_its_own_task(tmp_path: Path) -> None:
    models = [
        {**LOGREG, "resources": {"queue": "cpu"}},
        {
            "name": "gpu_net",
            "estimator": "sklearn.neural_network.MLPClassifier",
            "resources": {"queue": "gpu", "gpu": 1, "cpu": "4", "memory": "16Gi"},
        },
    ]
    dag = build_dag(_spec(tmp_path, models=models))
    assert "train" not in dag.task_ids
    cpu, gpu = dag.get_task("train_logreg"), dag.get_task("train_gpu_net")
    assert cpu.queue == "cpu" and not cpu.executor_config
    assert gpu.queue == "gpu"
    pod = gpu.executor_config["pod_override"]
    (container,) = pod.spec.containers
    assert container.name == "base"
    assert container.resources.limits == {"nvidia.com/gpu": "1", "cpu": "4", "memory": "16Gi"}
    assert container.resources.requests == {"cpu": "4", "memory": "16Gi"}
    assert pod.spec.tolerations[0].key == "nvidia.com/gpu"
    evaluate = dag.get_task("evaluate")
    assert {"train_logreg", "train_gpu_net"} <= evaluate.upstream_task_ids


def test_pod_override_survives_dag_serialization(tmp_path: Path) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    models = [LOGREG, {**LOGREG, "name": "big", "resources": {"memory": "32Gi"}}]
    dag = build_dag(_spec(tmp_path, models=models))
    restored = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    pod = restored.get_task("train_big").executor_config["pod_override"]
    assert pod.spec.containers[0].resources.limits == {"memory": "32Gi"}


def test_trainer_and_custom_steps_are_accepted_under_the_allowlist(tmp_path: Path) -> None:
    models = [
        {"name": "mine", "trainer": "acme_ml.training:train_scaled_logreg", "params": {"C": 0.5}},
        {**LOGREG, "preprocessing": {"steps": [{"transformer": "acme_ml.features.ClipExtremes"}]}},
    ]
    spec = _spec(tmp_path, models=models)
    assert spec.models[0].trainer == "acme_ml.training:train_scaled_logreg"
    assert spec.models[1].preprocessing.steps[0].transformer == "acme_ml.features.ClipExtremes"


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        ({"name": "x", "trainer": "acme_ml.training:train_scaled_logreg", "estimator": LOGREG["estimator"]},
         "models[0]: set exactly one of 'estimator' or 'trainer'"),
        ({"name": "x"}, "models[0]: set exactly one of 'estimator' or 'trainer'"),
        ({"name": "x", "trainer": "acme_ml.training:train_scaled_logreg", "preprocessing": {"scale": "none"}},
         "models[0].preprocessing: preprocessing does not apply to a trainer"),
        ({"name": "x", "trainer": "evil.module:run"}, "models[0].trainer: 'evil.module:run' is outside"),
        ({"name": "x", "trainer": "acme_ml.training"}, "models[0].trainer: must be an import path"),
        ({**LOGREG, "preprocessing": {"steps": [{"transformer": "os.system"}]}},
         "models[0].preprocessing.steps[0].transformer: 'os.system' is outside"),
        ({**LOGREG, "resources": {"memory": "lots"}},
         "models[0].resources.memory: 'lots' is not a Kubernetes quantity"),
        ({**LOGREG, "resources": {"gpu": 1, "executor_config": {"pod_override": {}}}},
         "models[0].resources.executor_config: pod_override is built from gpu/cpu/memory"),
    ],
)  # fmt: skip
def test_custom_code_and_resource_errors(tmp_path: Path, candidate: dict[str, Any], expected: str) -> None:
    issues = _issues(tmp_path, models=[candidate])
    assert any(issue.startswith(expected) for issue in issues), issues


def test_notifiers_from_providers_or_the_allowlist_only(tmp_path: Path) -> None:
    smtp = {"notifier": "airflow.providers.smtp.notifications.smtp.SmtpNotifier", "params": {"to": "a@b.c"}}
    spec = _spec(tmp_path, prefixes=("sklearn.",), notifications={"on_failure": [smtp]})
    dag = build_dag(spec)
    (callback,) = dag.on_failure_callback
    assert callback.notifier.endswith("SmtpNotifier") and callback.params == {"to": "a@b.c"}
    issues = _issues(tmp_path, prefixes=("sklearn.",), notifications={"on_success": [{"notifier": "acme_ml.n.X"}]})
    assert issues[0].startswith("notifications.on_success[0].notifier: 'acme_ml.n.X' is outside")


def test_timeouts_per_step_and_unknown_steps(tmp_path: Path) -> None:
    dag = build_dag(_spec(tmp_path, timeouts={"default": 30, "train": 240}))
    assert dag.get_task("train").execution_timeout.total_seconds() == 240 * 60
    assert dag.get_task("gate").execution_timeout.total_seconds() == 30 * 60
    issues = _issues(tmp_path, timeouts={"trian": 10})
    assert issues == ["timeouts.trian: unknown step 'trian'"]


def test_several_triggers_mean_any_of_them(tmp_path: Path) -> None:
    from airflow.sdk import Asset, AssetAny

    dag = build_dag(_spec(tmp_path, schedule=[{"on": "drift_detected"}, {"on": "new_data_version"}]))
    condition = dag.timetable.asset_condition
    assert isinstance(condition, AssetAny)
    assert sorted(a.uri for a in condition.objects if isinstance(a, Asset)) == [
        "mlops://data/dvc_default/data/breast_cancer.csv",
        "mlops://drift/breast_cancer_classifier",
    ]
    single = build_dag(_spec(tmp_path, schedule={"on": "champion_changed"}))
    assert single.timetable.asset_condition.uri == "mlflow://models/breast_cancer_classifier"


def test_tuning_workers_add_a_mapped_tune_task_upstream_of_the_candidates_train_and_cv_n_jobs_reaches_train(
    tmp_path: Path,
) -> None:
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    tuning = {"space": {"C": {"type": "float", "low": 0.01, "high": 10, "log": True}}, "n_trials": 5, "workers": 3}
    gpu = {"queue": "gpu"}
    models = [{**LOGREG, "tuning": tuning}, {**LOGREG, "name": "solo", "tuning": {**tuning, "workers": 1}}]
    dag = build_dag(_spec(tmp_path, models=models, cross_validation={"folds": 3, "n_jobs": 2}))
    assert dag.get_task("train").partial_kwargs["cv_n_jobs"] == 2  # cross_validation.n_jobs: folds in threads
    tune = dag.get_task("tune_logreg")
    assert isinstance(tune, MappedOperator) and tune.expand_input.value["worker"] == [0, 1, 2]
    assert tune.partial_kwargs["candidate"]["tuning"]["metric"] == "f1"  # select_by, resolved as for train
    assert tune.upstream_task_ids == {"prepare_data"} and "train" in tune.downstream_task_ids
    assert "tune_solo" not in dag.task_ids  # one worker: the trials run in its train task
    # candidates on different resources: each tune task feeds only its own candidate's train task
    split = build_dag(_spec(tmp_path, models=[{**models[0], "resources": gpu}, models[1]]))
    assert split.get_task("tune_logreg").downstream_task_ids == {"train_logreg"}
    assert split.get_task("tune_logreg").partial_kwargs["queue"] == "gpu"


def test_more_tuning_workers_than_trials_is_refused_at_its_line(tmp_path: Path) -> None:
    tuning = {"space": {"C": {"type": "float", "low": 0.01, "high": 10}}, "n_trials": 2, "workers": 3}
    with pytest.raises(PipelineConfigError) as err:
        _spec(tmp_path, models=[{**LOGREG, "tuning": tuning}])
    [issue] = err.value.issues
    assert issue.field == "models[0].tuning" and issue.line is not None and issue.line > 1
    assert "workers (3) is more than n_trials (2)" in issue.message and "lower workers to at most 2" in issue.hint
