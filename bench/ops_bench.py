"""Operator overhead: each operator's ``execute()`` against a plain script doing the same job.

Both variants run the example retraining chain (two candidates, nine-rule suite, breast cancer
data v1, first run so the gate promotes) on the real embedded stack in a fresh folder: a
sqlite MLflow store, a local git + DVC repository with a folder remote.

The plain script is what a careful engineer would write inline in a PythonOperator: the same
libraries, the same reads, the same model and the same records in MLflow (runs, params,
metrics, artifacts, model with pinned requirements, registered version, tags, aliases). It
leaves out what our operators add on top: the connection/hook layer, idempotency look-ups
(find the run or version a retry already made), availability probes and md5 re-checks,
the compare-and-set of the alias under the promotion lock, and ObjectStoragePath for the
splits. Step caching is off in this chain (``cache=False`` on every step that has it), as the
plain script has none.

Not timed, and done the same way for both: creating the data repository, importing the
libraries (mlflow, GX, sklearn, dvc, pandas, airflow.sdk), opening the MLflow store once (a
pre-migrated copy) and an untimed pass over a second pipeline (see ``children.measure_ops``). A real task process
pays those too, equally for either variant.

The step cache bench (``children.measure_cache``) runs the same chain of ours with caching on
(``run_operators(caching=True)``) three times on one store, and has no plain variant.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

RUN_ID = "manual__2026-01-01T00:00:00+00:00"
DATA_PATH = "data/breast_cancer.csv"


class EmbeddedStack:
    """A throwaway embedded-default deployment in ``root`` (what ``make demo`` uses)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
        self.artifact_location = str(root / "mlflow-artifacts")
        self.repo = root / "data-repo"
        self.spec: Any = None
        self.warmup_spec: Any = None

    def setup(
        self,
        *,
        data_repo: bool = True,
        libraries: tuple[str, ...] | None = None,
        trees: int = 200,
        mlflow_db: str | None = None,
    ) -> None:
        """``mlflow_db``: an empty, migrated MLflow database to copy instead of migrating a new one (~6 s)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if mlflow_db:
            shutil.copyfile(mlflow_db, self.root / "mlflow.db")
        os.environ.update(
            {
                "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps(
                    {
                        "conn_type": "mlflow",
                        "extra": {
                            "tracking_uri": self.tracking_uri,
                            "artifact_location": self.artifact_location,
                            "create_store": True,
                        },
                    }
                ),
                "AIRFLOW_CONN_DVC_DEFAULT": json.dumps({"conn_type": "dvc", "extra": {"repo": str(self.repo)}}),
                "AIRFLOW__MLOPS__ARTIFACT_ROOT": f"file://{self.root / 'artifacts'}",
                "DVC_SITE_CACHE_DIR": str(self.root / "dvc-site-cache"),
                "GX_ANALYTICS_ENABLED": "False",
                "DVC_NO_ANALYTICS": "1",
                "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
            }
        )
        preimport(libraries or LIBRARIES)
        if data_repo:
            from airflow_mlops.demo.data_repo import commit_data_version, create_data_repo
            from airflow_mlops.demo.datasets import data_versions, to_csv_bytes

            create_data_repo(self.repo, self.root / "dvc-remote")
            v1, _ = data_versions()
            commit_data_version(self.repo, DATA_PATH, to_csv_bytes(v1), "data v1")
        self.spec = load_bench_spec(self.root / "spec", 0, trees)
        self.warmup_spec = load_bench_spec(self.root / "spec", 1, trees)
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        client.search_experiments(max_results=1)  # creates (or checks) the sqlite schema, outside the timings
        client.search_registered_models(max_results=1)


def create_mlflow_db(path: Path) -> None:
    """An empty MLflow sqlite store with its schema migrated, for the runs to copy."""
    from mlflow import MlflowClient

    path.parent.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(tracking_uri=f"sqlite:///{path}")
    client.search_experiments(max_results=1)
    client.search_registered_models(max_results=1)


LIBRARIES = (
    "airflow.sdk",
    "pandas",
    "numpy",
    "pyarrow.parquet",
    "sklearn.compose",
    "sklearn.ensemble",
    "sklearn.impute",
    "sklearn.linear_model",
    "sklearn.metrics",
    "sklearn.model_selection",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "skops.io",
    "mlflow",
    "mlflow.sklearn",
    "mlflow.models",
    "great_expectations",
    "great_expectations.expectations",
    "dvc.api",
    "dvc.repo",
)
MODEL_LIBRARIES = ("pandas", "sklearn.compose", "sklearn.impute", "sklearn.linear_model", "sklearn.pipeline",
                   "sklearn.preprocessing", "skops.io", "mlflow", "mlflow.sklearn", "mlflow.models")  # fmt: skip


def preimport(names: tuple[str, ...]) -> None:
    for name in names:
        importlib.import_module(name)


def load_bench_spec(folder: Path, index: int, trees: int = 200) -> Any:
    """A bench pipeline (generate.py's template) validated by the factory's own loader."""
    from generate import SUITE, dag_id, pipeline_yaml

    from airflow_mlops.spec.loader import load_pipeline_spec

    (folder / "suites").mkdir(parents=True, exist_ok=True)
    (folder / "suites" / "breast_cancer.yaml").write_text(SUITE)
    path = folder / f"{dag_id(index)}.yaml"
    path.write_text(pipeline_yaml(index, trees))
    return load_pipeline_spec(path, defaults_root=folder)


class _Timer:
    def __init__(self) -> None:
        self.steps: dict[str, float] = {}
        self.skipped: list[str] = []

    def run(self, step: str, fn: Any, *args: Any) -> Any:
        """A step that skips (register on an unchanged verdict) took its time all the same; it returns None."""
        from airflow.sdk.exceptions import AirflowSkipException

        t0 = time.perf_counter()
        try:
            result = fn(*args)
        except AirflowSkipException:
            self.skipped.append(step)
            result = None
        self.steps[step] = self.steps.get(step, 0.0) + time.perf_counter() - t0
        return result

    def not_started(self, step: str) -> None:
        """A step downstream of a skip: Airflow skips it without starting it (trigger rule all_success)."""
        self.steps.setdefault(step, 0.0)
        self.skipped.append(step)


# -- ours -------------------------------------------------------------------------------------


def run_operators(
    stack: EmbeddedStack, spec: Any, *, run_id: str = RUN_ID, caching: bool = False, serve: bool = True
) -> tuple[dict[str, float], dict[str, Any]]:
    """Every operator built as factory/retraining.py builds it, then ``execute()`` timed alone.

    ``caching=True`` is the chain as a pipeline with step caching runs it: prepare_data gets the
    pipeline's experiment and registry model (without them it neither looks up nor files a split),
    the context carries the DAG's params, and the chain ends at promote. The serving check and the
    rollout need a model server, and an unchanged verdict skips them anyway. The cache never reuses
    a result of the same DAG run, so each run that should reuse one needs its own ``run_id``.
    ``serve=False`` leaves them out of an uncached chain too (the warm-up pass: see children.measure_ops).
    """
    from airflow_mlops.assets import champion_asset
    from airflow_mlops.factory.retraining import _serving_check_args
    from airflow_mlops.operators.data import ResolveDataVersionOperator
    from airflow_mlops.operators.gate import EvaluationGateOperator
    from airflow_mlops.operators.registry import PromoteModelOperator, RegisterModelOperator
    from airflow_mlops.operators.serving_check import ServingCheckOperator

    context = task_context(spec, run_id=run_id, caching=caching)
    mlflow = {"mlflow_conn_id": spec.mlflow_conn_id}
    lineage = spec_lineage_of(spec)
    timer = _Timer()

    resolve = ResolveDataVersionOperator(
        task_id="resolve_data", path=spec.data.path, rev=spec.data.rev, repo=spec.data.repo,
        dvc_conn_id=spec.data.dvc_conn_id,
    )  # fmt: skip
    ref = timer.run("resolve_data", resolve.execute, context)
    validation = timer.run("validate_data", validate_operator(spec, ref, caching=caching).execute, context)
    dataset = timer.run("prepare_data", prepare_operator(spec, ref, caching=caching).execute, context)
    # Without caching (the ops rows), no step looks up or files a result: the plain script has no
    # cache, and what the cache costs and saves is what the cache rows measure.
    trained = [
        timer.run("train", train_operator(spec, dataset, candidate.model_dump(), caching=caching).execute, context)
        for candidate in spec.models
    ]
    evaluate = evaluate_operator(spec, dataset, trained, caching=caching)
    evaluation = timer.run("evaluate", evaluate.execute, context)
    gate_op = EvaluationGateOperator(
        task_id="gate", evaluation=evaluation, rules=[r.model_dump(exclude_none=True) for r in spec.gate.metrics],
        select_by=spec.select_by, problem=spec.problem, first_run=spec.gate.first_run, on_reject=spec.gate.on_reject,
        min_test_rows=spec.gate.min_test_rows, **mlflow,
    )  # fmt: skip
    gate = timer.run("gate", gate_op.execute, context)
    serving = None
    serve = serve and not caching
    if serve:
        # Timed as a step of its own: the plain script has no model server, so it is reported as the
        # seconds it adds to a run, outside the chain's ratio (run.py, SERVING_CHECK_STEP).
        serving_op = ServingCheckOperator(
            task_id="serving_check", gate=gate, dataset=dataset, **_serving_check_args(spec)
        )
        serving = timer.run("serving_check", serving_op.execute, context)
    register = RegisterModelOperator(
        task_id="register", gate=gate, data=ref, validation=validation, approval=None, serving_check=serving,
        model_name=spec.registry.model_name, lineage=lineage, **mlflow,
    )  # fmt: skip
    registered = timer.run("register", register.execute, context)
    promoted = None
    if registered is None:
        timer.not_started("promote")
    else:
        promote = PromoteModelOperator(
            task_id="promote", registered=registered, gate=gate, model_name=spec.registry.model_name,
            alias=spec.registry.alias, previous_alias=spec.registry.previous_alias,
            on_conflict=spec.registry.on_conflict, outlets=[champion_asset(spec.registry.model_name)], **mlflow,
        )  # fmt: skip
        promoted = timer.run("promote", promote.execute, context)
    if serve:
        # The rollout, timed alone like the serving check: the new champion served at a local endpoint.
        stack.endpoint_latency = timer.run("deploy", deploy_and_time_requests, stack, spec, dataset)
    outcome = {
        "rows": validation["rows"],
        "validation_success": validation["success"],
        "best": gate["candidate"]["candidate"],
        "decision": gate["verdict"]["decision"],
        "version": registered["version"] if registered else None,
        "champion": promoted["version"] if promoted else None,
    }
    if caching:  # only here: the plain script's outcome has to equal the uncached chain's
        outcome |= {
            "skipped": timer.skipped,
            "cache": cache_outcomes(stack, evaluation["mlflow_run_id"]),
        }
    return timer.steps, outcome


def task_context(spec: Any, *, run_id: str = RUN_ID, caching: bool = False) -> Any:
    """The context ``execute()`` gets: what a scheduled run of a factory DAG carries, and no more."""
    from collections import defaultdict
    from types import SimpleNamespace

    from airflow_mlops.operators.base import NO_CACHE_PARAM

    dag_id = spec.pipeline
    return {
        "dag_run": SimpleNamespace(dag_id=dag_id, run_id=run_id),
        "ti": SimpleNamespace(dag_id=dag_id, run_id=run_id, map_index=-1, try_number=1),
        "outlet_events": defaultdict(SimpleNamespace),
        # what a scheduled run of a factory DAG carries (factory.retraining.run_params)
        "params": {NO_CACHE_PARAM: False} if caching else {},
    }


def spec_lineage_of(spec: Any) -> dict[str, str]:
    from airflow_mlops.factory.common import spec_lineage

    return spec_lineage(spec, f"pipelines/{spec.pipeline}.yaml")


# Each operator built as factory/retraining.py builds it; run_operators and the scale bench
# (scale_bench.py, one step per process) share these.


def validate_operator(spec: Any, ref: Any, *, caching: bool = False) -> Any:
    from airflow_mlops.operators.validation import ValidateDataOperator

    return ValidateDataOperator(
        task_id="validate_data", data=ref, expectations=[e.model_dump() for e in spec.validation.expectations],
        experiment=spec.experiment_name, on_failure=spec.validation.on_failure, dvc_conn_id=spec.data.dvc_conn_id,
        cache=caching, mlflow_conn_id=spec.mlflow_conn_id,
    )  # fmt: skip


def prepare_operator(spec: Any, ref: Any, *, caching: bool = False) -> Any:
    from airflow_mlops.factory.retraining import _contract_args
    from airflow_mlops.operators.prepare import PrepareDatasetOperator

    return PrepareDatasetOperator(
        task_id="prepare_data", data=ref, target=spec.data.target, features=spec.data.features,
        test_size=spec.data.split.test_size, seed=spec.data.split.seed, stratify=spec.data.split.stratify,
        dvc_conn_id=spec.data.dvc_conn_id, **(_contract_args(spec) if caching else {}),
    )  # fmt: skip


def train_operator(spec: Any, dataset: Any, candidate: dict[str, Any], *, caching: bool = False) -> Any:
    from airflow_mlops.operators.train import TrainCandidateOperator

    return TrainCandidateOperator(
        task_id="train", dataset=dataset, candidate=candidate, experiment=spec.experiment_name,
        problem=spec.problem, lineage=spec_lineage_of(spec), cache=caching, mlflow_conn_id=spec.mlflow_conn_id,
    )  # fmt: skip


def evaluate_operator(spec: Any, dataset: Any, trained: list[Any], *, caching: bool = False) -> Any:
    from airflow_mlops.factory.retraining import _slices
    from airflow_mlops.operators.evaluate import EvaluateCandidatesOperator

    return EvaluateCandidatesOperator(
        task_id="evaluate", dataset=dataset, trained=trained, experiment=spec.experiment_name,
        model_name=spec.registry.model_name, alias=spec.registry.alias, problem=spec.problem, slices=_slices(spec),
        prediction_rows=spec.serving_check.rows, cache=caching, mlflow_conn_id=spec.mlflow_conn_id,
    )  # fmt: skip


def cache_outcomes(stack: EmbeddedStack, pipeline_run_id: str) -> dict[str, dict[str, Any]]:
    """What each caching step recorded on the pipeline run (``mlops.cache.outcome.<step>``): hit or why not.

    Read after the chain, outside every timing; it is the record the run summary and the UI show.
    """
    from mlflow import MlflowClient

    from airflow_mlops.record import tag
    from airflow_mlops.record.cache import CacheOutcome

    tags = MlflowClient(tracking_uri=stack.tracking_uri).get_run(pipeline_run_id).data.tags
    return {
        name.removeprefix(tag.CACHE_OUTCOME_PREFIX): CacheOutcome.from_json(value).record()
        for name, value in sorted(tags.items())
        if name.startswith(tag.CACHE_OUTCOME_PREFIX)
    }


#: The candidate run C of the cache bench changes, and how: the same work as before (200 trees on
#: the full run), so C's time against the full run's is what the cache saves and nothing else.
CHANGED_CANDIDATE = "forest"
CHANGED_PARAMS = {"random_state": 1}


def one_candidate_changed(spec: Any) -> Any:
    """The spec with one candidate's params edited, as a person editing that one model in the YAML would."""
    if CHANGED_CANDIDATE not in {m.name for m in spec.models}:
        raise ValueError(f"the bench spec has no candidate {CHANGED_CANDIDATE!r} to change")
    models = [
        m.model_copy(update={"params": {**m.params, **CHANGED_PARAMS}}) if m.name == CHANGED_CANDIDATE else m
        for m in spec.models
    ]
    return spec.model_copy(update={"models": models})


def deploy_and_time_requests(stack: EmbeddedStack, spec: Any, dataset: Any, requests: int = 200) -> dict[str, Any]:
    """Deploy ``@champion`` to the local target, time single-row requests to it and to ``predict()`` in-process.

    The endpoint is stopped before returning (its processes outlive nothing of the bench). The
    request timings run inside the ``deploy`` step's time; run.py subtracts them.
    """
    from airflow_mlops import artifacts
    from airflow_mlops.deploy.endpoint import http_call
    from airflow_mlops.deploy.local import LocalEndpoints
    from airflow_mlops.hooks.mlflow import MlflowHook
    from airflow_mlops.ml.flavors import load_predictor
    from airflow_mlops.ml.serving_requests import single_row_bodies

    endpoints = LocalEndpoints(str(stack.root / "endpoints"))
    uri = f"models:/{spec.registry.model_name}@{spec.registry.alias}"
    started = time.perf_counter()
    with MlflowHook(spec.mlflow_conn_id).session():
        deployment = endpoints.deploy("bench", uri)
        rollout = time.perf_counter() - started
        model = load_predictor(uri)
    try:
        rows = artifacts.read_parquet(dataset["test_uri"]).drop(columns=[dataset["target"]])
        bodies = single_row_bodies(rows, requests)
        served, local = [], []
        for i, body in enumerate(bodies):
            t0 = time.perf_counter()
            status, _ = http_call(deployment["port"], "POST", "/invocations", body, timeout=30)
            served.append((time.perf_counter() - t0) * 1000)
            if status != 200:
                raise RuntimeError(f"the local endpoint answered {status}")
            row = rows.iloc[[i % len(rows)]]
            t0 = time.perf_counter()
            model.predict(row)
            local.append((time.perf_counter() - t0) * 1000)
    finally:
        endpoints.delete("bench")
    return {"rollout_seconds": rollout, "endpoint_ms": served, "predict_ms": local}


# -- plain ------------------------------------------------------------------------------------


def _plain_resolve(stack: EmbeddedStack, path: str, rev: str) -> dict[str, Any]:
    import dvc.api
    from dvc.api import DVCFileSystem

    fs = DVCFileSystem(str(stack.repo), rev=rev)
    commit = fs.repo.get_rev()
    md5 = fs.info(path)["dvc_info"]["md5"]
    url = dvc.api.get_url(path, repo=str(stack.repo), rev=commit)
    return {"repo": str(stack.repo), "path": path, "rev": rev, "commit": commit, "md5": md5, "remote_url": url}


def _plain_read(ref: dict[str, Any]) -> Any:
    import dvc.api
    import pandas as pd

    data = io.BytesIO(dvc.api.read(ref["path"], repo=ref["repo"], rev=ref["commit"], mode="rb"))
    return pd.read_parquet(data) if ref["path"].endswith(".parquet") else pd.read_csv(data)


def _gx_class(type_name: str) -> str:
    return "".join(part.capitalize() for part in type_name.split("_"))


def _plain_experiment(client: Any, stack: EmbeddedStack, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    return str(client.create_experiment(name, artifact_location=f"{stack.artifact_location}/{name}"))


def _plain_validate(stack: EmbeddedStack, ref: dict[str, Any], spec: Any) -> dict[str, Any]:
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from mlflow import MlflowClient

    frame = _plain_read(ref)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("pandas")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("all")
    )
    suite = context.suites.add(gx.ExpectationSuite(name="validation"))
    for item in (e.model_dump() for e in spec.validation.expectations):
        suite.add_expectation(getattr(gxe, _gx_class(item["type"]))(**item["kwargs"]))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name="validation", data=batch, suite=suite))
    result = definition.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")
    client = MlflowClient(tracking_uri=stack.tracking_uri)
    dag_id = spec.pipeline
    experiment_id = _plain_experiment(client, stack, dag_id)
    run = client.create_run(experiment_id, run_name=f"{dag_id} {RUN_ID}", tags={"mlops.dag_id": dag_id})
    parent = run.info.run_id
    client.log_text(parent, json.dumps(result.to_json_dict(), indent=2, default=str), "validation/result.json")
    for key in ("repo", "path", "rev", "commit", "md5"):
        client.log_param(parent, f"data.{key}", ref[key])
    client.set_tag(parent, "mlops.validation.success", str(result.success).lower())
    client.log_metric(parent, "validation_success_percent", float(result.statistics["success_percent"] or 0.0))
    return {
        "success": bool(result.success), "rows": len(frame), "mlflow_run_id": parent, "experiment_id": experiment_id,
        "dag_id": dag_id,
    }  # fmt: skip


def _plain_prepare(stack: EmbeddedStack, ref: dict[str, Any], spec: Any) -> dict[str, Any]:
    from sklearn.model_selection import train_test_split

    frame = _plain_read(ref)
    split = spec.data.split
    train, test = train_test_split(
        frame, test_size=split.test_size, random_state=split.seed, stratify=frame[spec.data.target]
    )
    folder = stack.root / "plain-artifacts" / spec.pipeline
    folder.mkdir(parents=True, exist_ok=True)
    train.to_parquet(folder / "train.parquet", index=False)
    test.to_parquet(folder / "test.parquet", index=False)
    return {"train": str(folder / "train.parquet"), "test": str(folder / "test.parquet"), "target": spec.data.target}


def _plain_pipeline(candidate: dict[str, Any], columns: list[str], categorical: list[str] | None = None) -> Any:
    """Numbers imputed (and scaled); text columns (``categorical``, the scale bench has some) one-hot encoded."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    module, _, name = candidate["estimator"].rpartition(".")
    estimator = getattr(importlib.import_module(module), name)(**candidate["params"])
    steps: list[tuple[str, Any]] = [
        ("impute", SimpleImputer(strategy=candidate["preprocessing"].get("impute", "median")))
    ]
    if candidate["preprocessing"].get("scale", "standard") == "standard":
        steps.append(("scale", StandardScaler()))
    text = categorical or []
    numbers = [c for c in columns if c not in text]
    transformers: list[tuple[str, Any, list[str]]] = [("numeric", Pipeline(steps), numbers)]
    if text:
        one_hot = OneHotEncoder(handle_unknown="ignore")
        transformers.append(
            ("categorical", Pipeline([("impute", SimpleImputer(strategy="most_frequent")), ("one_hot", one_hot)]), text)
        )
    return Pipeline([("preprocess", ColumnTransformer(transformers)), ("model", estimator)])


def _plain_metrics(model: Any, features: Any, labels: Any) -> dict[str, float]:
    from sklearn import metrics as skm

    predicted = model.predict(features)
    probabilities = model.predict_proba(features)
    proba = probabilities[:, 1]
    return {
        "accuracy": float(skm.accuracy_score(labels, predicted)),
        "precision": float(skm.precision_score(labels, predicted, zero_division=0)),
        "recall": float(skm.recall_score(labels, predicted, zero_division=0)),
        "f1": float(skm.f1_score(labels, predicted, zero_division=0)),
        "roc_auc": float(skm.roc_auc_score(labels, proba)),
        "log_loss": float(skm.log_loss(labels, probabilities)),
    }


def _plain_train(
    stack: EmbeddedStack,
    prepared: dict[str, Any],
    candidate: dict[str, Any],
    ref: dict[str, Any],
    parent: dict[str, Any],
) -> dict[str, Any]:
    from importlib.metadata import version

    import mlflow
    import mlflow.sklearn
    import pandas as pd
    import skops.io
    from mlflow.models import infer_signature

    train = pd.read_parquet(prepared["train"])
    features, labels = train.drop(columns=[prepared["target"]]), train[prepared["target"]]
    text = [c for c in features.columns if features[c].dtype.kind not in "biuf"]
    pipeline = _plain_pipeline(candidate, list(features.columns), text)
    mlflow.set_tracking_uri(stack.tracking_uri)
    tags = {
        "mlops.dag_id": parent["dag_id"], "mlops.run_id": RUN_ID, "mlops.role": "candidate",
        "mlops.candidate": candidate["name"],
        "mlflow.parentRunId": parent["mlflow_run_id"], "mlops.data.commit": ref["commit"], "mlops.data.md5": ref["md5"],
    }  # fmt: skip
    with mlflow.start_run(experiment_id=parent["experiment_id"], run_name=candidate["name"], tags=tags) as run:
        mlflow.log_params(
            {
                "estimator": candidate["estimator"],
                "preprocessing": json.dumps(candidate["preprocessing"], sort_keys=True),
                **{f"param.{k}": json.dumps(v) for k, v in candidate["params"].items()},
                "data.rev": ref["rev"],
                "data.commit": ref["commit"],
                "data.md5": ref["md5"],
                "n_train": len(train),
            }
        )
        pipeline.fit(features, labels)
        mlflow.log_metrics({f"train_{k}": v for k, v in _plain_metrics(pipeline, features, labels).items()})
        example = features.head(3)
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=infer_signature(example, pipeline.predict(example)),
            input_example=example,
            pip_requirements=[f"{d}=={version(d)}" for d in ("scikit-learn", "pandas", "numpy", "scipy", "skops")],
            skops_trusted_types=sorted(skops.io.get_untrusted_types(data=skops.io.dumps(pipeline))),
        )
        mlflow.set_tags({"mlops.model_uri": info.model_uri, "mlops.model_id": str(info.model_id)})
    return {"candidate": candidate["name"], "mlflow_run_id": run.info.run_id, "model_uri": info.model_uri}


def _plain_evaluate(
    stack: EmbeddedStack, prepared: dict[str, Any], trained: list[dict[str, Any]], parent: dict[str, Any], name: str
) -> dict[str, Any]:
    import mlflow.sklearn
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    test = pd.read_parquet(prepared["test"])
    features, labels = test.drop(columns=[prepared["target"]]), test[prepared["target"]]
    mlflow.set_tracking_uri(stack.tracking_uri)  # models:/m-<id> resolves there (set already when train ran here)
    client = MlflowClient(tracking_uri=stack.tracking_uri)
    scored = []
    for candidate in trained:
        metrics = _plain_metrics(mlflow.sklearn.load_model(candidate["model_uri"]), features, labels)
        for key, value in metrics.items():
            client.log_metric(candidate["mlflow_run_id"], f"test_{key}", value)
        scored.append({**candidate, "metrics": metrics})
    try:
        champion = client.get_model_version_by_alias(name, "champion")
    except MlflowException:
        champion = None
    result = {"n_test": len(test), "candidates": scored, "champion": champion}
    client.log_text(parent["mlflow_run_id"], json.dumps(result, indent=2, default=str), "evaluation/result.json")
    return result


def _plain_gate(stack: EmbeddedStack, evaluation: dict[str, Any], parent: dict[str, Any], spec: Any) -> dict[str, Any]:
    from mlflow import MlflowClient

    best = max(evaluation["candidates"], key=lambda c: c["metrics"][spec.select_by])
    reasons, passed = [], True
    for rule in spec.gate.metrics:
        if getattr(rule, "compare_to", None) == "champion":
            if evaluation["champion"] is None:
                reasons.append(f"{rule.metric}: no champion yet, first run promotes")
            continue
        ok = best["metrics"][rule.metric] >= rule.min
        passed &= ok
        reasons.append(f"{rule.metric} {best['metrics'][rule.metric]:.4f} >= {rule.min}: {ok}")
    decision = "promote" if passed else "reject"
    verdict = {"decision": decision, "candidate": best["candidate"], "reasons": reasons}
    client = MlflowClient(tracking_uri=stack.tracking_uri)
    rules = {"rules": [r.model_dump(exclude_none=True) for r in spec.gate.metrics], "select_by": spec.select_by}
    client.log_text(parent["mlflow_run_id"], json.dumps(rules, indent=2), "gate/rules.json")
    for run_id in (parent["mlflow_run_id"], best["mlflow_run_id"]):
        client.log_text(run_id, json.dumps(verdict, indent=2), "gate/verdict.json")
        client.set_tag(run_id, "mlops.gate.decision", decision)
        client.set_tag(run_id, "mlops.gate.summary", "; ".join(reasons))
    client.set_tag(parent["mlflow_run_id"], "mlops.gate.candidate", best["candidate"])
    return {"verdict": verdict, "candidate": best}


def _plain_register(stack: EmbeddedStack, gate: dict[str, Any], ref: dict[str, Any], spec: Any) -> str:
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_registry_uri(stack.tracking_uri)
    best, dag_id, name = gate["candidate"], spec.pipeline, spec.registry.model_name
    tags = {
        "mlops.dag_id": dag_id, "mlops.run_id": RUN_ID,
        **{f"mlops.data.{k}": str(ref[k]) for k in ("repo", "path", "rev", "commit", "md5")},
        "mlops.gate.decision": gate["verdict"]["decision"], "mlops.gate.verdict": json.dumps(gate["verdict"]),
        "mlops.candidate": best["candidate"], "mlops.training.run_id": best["mlflow_run_id"],
        "mlops.metrics": json.dumps(best["metrics"], sort_keys=True),
    }  # fmt: skip
    registered = mlflow.register_model(best["model_uri"], name, tags=tags)
    MlflowClient(tracking_uri=stack.tracking_uri).update_model_version(
        name, registered.version, description=f"{dag_id} {RUN_ID}: {gate['verdict']['decision']}"
    )
    return str(registered.version)


def _plain_promote(stack: EmbeddedStack, spec: Any, version: str, reason: str) -> str:
    from datetime import UTC, datetime

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=stack.tracking_uri)
    name = spec.registry.model_name
    now = datetime.now(UTC).isoformat(timespec="seconds")
    actor = f"airflow:{spec.pipeline}/{RUN_ID}"
    client.set_registered_model_alias(name, "champion", version)
    audit = {
        "mlops.promoted_at": now, "mlops.promoted_by": actor, "mlops.promoted_from": "",
        "mlops.promotion_reason": reason, "mlops.promotion_forced": "false", "mlops.promotion_action": "promote",
    }  # fmt: skip
    for key, value in audit.items():
        client.set_model_version_tag(name, version, key, value)
    history = [{"at": now, "actor": actor, "action": "promote", "from": None, "to": version, "reason": reason}]
    client.set_registered_model_tag(name, "mlops.promotion_history", json.dumps(history))
    return version


def run_plain(stack: EmbeddedStack, spec: Any) -> tuple[dict[str, float], dict[str, Any]]:
    name = spec.registry.model_name
    timer = _Timer()
    ref = timer.run("resolve_data", _plain_resolve, stack, spec.data.path, spec.data.rev)
    parent = timer.run("validate_data", _plain_validate, stack, ref, spec)
    prepared = timer.run("prepare_data", _plain_prepare, stack, ref, spec)
    trained = [timer.run("train", _plain_train, stack, prepared, m.model_dump(), ref, parent) for m in spec.models]
    evaluation = timer.run("evaluate", _plain_evaluate, stack, prepared, trained, parent, name)
    gate = timer.run("gate", _plain_gate, stack, evaluation, parent, spec)
    version = timer.run("register", _plain_register, stack, gate, ref, spec)
    champion = timer.run("promote", _plain_promote, stack, spec, version, "; ".join(gate["verdict"]["reasons"]))
    outcome = {
        "rows": parent["rows"],
        "validation_success": parent["success"],
        "best": gate["candidate"]["candidate"],
        "decision": gate["verdict"]["decision"],
        "version": version,
        "champion": champion,
    }
    return timer.steps, outcome


# -- log_model: explicit vs inferred requirements -------------------------------------------


def time_log_model(stack: EmbeddedStack, *, explicit: bool) -> float:
    """One ``mlflow.sklearn.log_model`` of the fitted logreg candidate, requirements given or inferred."""
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    from airflow_mlops.demo.datasets import breast_cancer_frame
    from airflow_mlops.ml.flavors import pip_requirements, skops_trusted_types

    frame = breast_cancer_frame()
    features, labels = frame.drop(columns=["target"]), frame["target"]
    candidate = stack.spec.models[0].model_dump()
    pipeline = _plain_pipeline(candidate, list(features.columns)).fit(features, labels)
    example = features.head(3)
    signature = infer_signature(example, pipeline.predict(example))
    trusted = skops_trusted_types(pipeline)
    requirements = pip_requirements("sklearn") if explicit else None
    mlflow.set_tracking_uri(stack.tracking_uri)
    experiment_id = mlflow.create_experiment("log_model", artifact_location=f"{stack.artifact_location}/log_model")
    with mlflow.start_run(experiment_id=experiment_id):
        t0 = time.perf_counter()
        mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=signature,
            input_example=example,
            pip_requirements=requirements,
            skops_trusted_types=trusted,
        )
        return time.perf_counter() - t0
