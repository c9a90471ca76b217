"""The ``retraining`` template: data -> validation -> training -> gate -> registry.

```
resolve_data >> validate_data >> prepare_data >> [tune_<candidate>[worker...]] >> train[candidate...]
    >> evaluate >> gate
    >> serving_check (unless serving_check.enabled is false) >> approve (approval: manual) >> register >> promote
    >> deploy (only with a deployment: section)
(every task) >> close_runs   (a teardown: ends this DAG run's MLflow runs, FINISHED or FAILED)
(every task) >> check_champion_age   (a teardown, with sla.max_champion_age_days: alerts on an old champion)
```
With ``sla.run_deadline`` the DAG carries an Airflow deadline alert (factory/common.py, run_deadline).
``tune_<candidate>`` exists only for a candidate with ``tuning.workers`` > 1: one task mapped over its workers.
Only thin operators are built here; nothing heavy is imported, because this runs on every
DAG parse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG, Param

from airflow_mlops.assets import champion_asset
from airflow_mlops.factory.common import (
    champion_age_task,
    close_runs_task,
    dag_kwargs,
    resolve_data_task,
    spec_lineage,
    step_args,
)
from airflow_mlops.factory.resources import task_resources
from airflow_mlops.gates.metrics import slice_specs
from airflow_mlops.operators.base import NO_CACHE_PARAM, form_param
from airflow_mlops.operators.deploy import DeployModelOperator
from airflow_mlops.operators.evaluate import EvaluateCandidatesOperator
from airflow_mlops.operators.gate import EvaluationGateOperator
from airflow_mlops.operators.prepare import PrepareDatasetOperator
from airflow_mlops.operators.registry import PromoteModelOperator, RegisterModelOperator
from airflow_mlops.operators.serving_check import ServingCheckOperator
from airflow_mlops.operators.train import TrainCandidateOperator
from airflow_mlops.operators.tune import TuneTrialsOperator
from airflow_mlops.operators.validation import ValidateDataOperator

if TYPE_CHECKING:
    from airflow_mlops.spec.models import RetrainingPipelineSpec
    from airflow_mlops.spec.models_cache import CacheableStep
    from airflow_mlops.spec.models_training import CandidateSpec


def _cache_args(spec: RetrainingPipelineSpec, step: CacheableStep) -> dict[str, Any]:
    """The step's ``cache:`` settings as operator arguments: only what differs from the defaults (on, no age limit)."""
    enabled, expire = spec.cache.for_step(step)
    args: dict[str, Any] = {}
    if not enabled:
        args["cache"] = False
    if expire is not None:
        args["cache_expire_after_seconds"] = expire
    return args


def run_params() -> dict[str, Param]:
    """What a person may set when triggering a run by hand (the trigger form, or ``--conf``)."""
    return {
        NO_CACHE_PARAM: form_param(
            False,
            type="boolean",
            description="Compute every step afresh, reusing no earlier result (its results are still recorded "
            "for later runs to reuse).",
        )
    }


def _train_tasks(spec: RetrainingPipelineSpec, dataset: Any, lineage: dict[str, str], mlflow: dict[str, str]) -> Any:
    """One mapped ``train`` task when candidates share resources, else ``train_<name>`` each.

    A mapped task has one queue, pool and executor_config for all its instances, so
    candidates that must run in different places (a GPU pod, a high-memory queue) each get
    their own task. Returns what ``evaluate`` reads: the mapped output or a list of outputs.
    """
    common = {
        "dataset": dataset,
        "experiment": spec.experiment_name,
        "problem": spec.problem,
        "average": spec.averaging,
        **_cv_args(spec),
        "lineage": lineage,
        "on_failure": spec.candidates.on_failure,
        **_cache_args(spec, "train"),
        **mlflow,
    }
    tuners = _tune_tasks(spec, common)
    profiles = {m.resources.model_dump_json() for m in spec.models}
    if len(profiles) == 1:
        mapped = TrainCandidateOperator.partial(
            task_id="train",
            **step_args(spec, "train"),
            **task_resources(spec.models[0].resources),
            map_index_template="{{ task.candidate['name'] }}",
            **common,
        ).expand(candidate=[_candidate(spec, m) for m in spec.models])
        for tuner in tuners.values():
            tuner >> mapped  # one mapped train task: it waits for every candidate's tuning
        return mapped.output
    outputs = []
    for m in spec.models:
        train = TrainCandidateOperator(
            task_id=f"train_{m.name}",
            **step_args(spec, "train"),
            **task_resources(m.resources),
            candidate=_candidate(spec, m),
            **common,
        )
        if m.name in tuners:
            tuners[m.name] >> train
        outputs.append(train.output)
    return outputs


def _tune_tasks(spec: RetrainingPipelineSpec, common: dict[str, Any]) -> dict[str, Any]:
    """A ``tune_<name>`` task mapped over ``tuning.workers`` for each candidate that spreads its trials.

    Each instance runs a fixed share of the trials (operators/tune.py); the candidate's train
    task then fits the best. Candidates tuned with one worker tune inside their train task.
    """
    tuners: dict[str, Any] = {}
    for m in spec.models:
        if m.tuning is None or m.tuning.workers < 2:
            continue
        tuners[m.name] = TuneTrialsOperator.partial(
            task_id=f"tune_{m.name}",
            **step_args(spec, "train"),
            **task_resources(m.resources),
            map_index_template="worker {{ task.worker }}",
            candidate=_candidate(spec, m),
            **common,
        ).expand(worker=list(range(m.tuning.workers)))
    return tuners


def _cv_args(spec: RetrainingPipelineSpec) -> dict[str, Any]:
    """How the training split is cut into folds, for cross-validation and tuning trials alike."""
    cv = spec.cross_validation
    if cv is None:
        return {"cv_folds": 0, "cv_seed": spec.data.split.seed}
    args: dict[str, Any] = {"cv_folds": cv.folds, "cv_seed": spec.data.split.seed if cv.seed is None else cv.seed}
    # only what the YAML changes, so a plain file builds the operators it always did
    if cv.stratified is not None:
        args["cv_stratified"] = cv.stratified
    if cv.group_by is not None:
        args["cv_group_by"] = cv.group_by
    if not cv.shuffle:
        args["cv_shuffle"] = False
    if cv.n_jobs != 1:
        args["cv_n_jobs"] = cv.n_jobs
    return args


def _candidate(spec: RetrainingPipelineSpec, model: CandidateSpec) -> dict[str, Any]:
    """The candidate as the train task gets it: a tuning block's metric resolved (default: select_by)."""
    candidate = model.model_dump()
    if model.tuning is not None and model.tuning.metric is None:
        candidate["tuning"]["metric"] = spec.select_by
    return candidate


def _slices(spec: RetrainingPipelineSpec) -> list[dict[str, Any]]:
    """The columns the gate slices on, each with the smallest slice it will judge."""
    return slice_specs(rule.model_dump() for rule in spec.gate.metrics)


def _contract_args(spec: RetrainingPipelineSpec) -> dict[str, Any]:
    """What prepare_data checks the data against: the YAML's data section and the champion's signature."""
    data = spec.data
    return {
        "problem": spec.problem,
        "columns": data.columns,
        "policies": {
            "on_new_columns": data.on_new_columns,
            "on_missing_columns": data.on_missing_columns,
            "on_type_change": data.on_type_change,
        },
        "id_columns": data.id_columns,
        "categorical": data.categorical,
        "checks": data.checks.model_dump(),
        "model_name": spec.registry.model_name,
        "alias": spec.registry.alias,
        "experiment": spec.experiment_name,
        "mlflow_conn_id": spec.mlflow_conn_id,
    }


def _serving_check_args(spec: RetrainingPipelineSpec) -> dict[str, Any]:
    """The serving check's limits from the YAML, as ServingCheckOperator arguments."""
    check = spec.serving_check
    return {
        "problem": spec.problem,
        "rows": check.rows,
        "absolute_tolerance": check.parity.absolute,
        "relative_tolerance": check.parity.relative,
        "min_label_match": check.parity.min_label_match,
        "max_p95_ms": check.max_p95_ms,
        "latency_requests": check.latency_requests,
        "malformed_requests": list(check.malformed_requests),
        "startup_timeout_seconds": check.startup_timeout_seconds,
        "request_timeout_seconds": check.request_timeout_seconds,
        "mlflow_conn_id": spec.mlflow_conn_id,
    }


def _serving_check_task(spec: RetrainingPipelineSpec, gate: Any, prepare: Any) -> ServingCheckOperator:
    """The gate's winner in a real model server, before anything is registered (docs/architecture.md)."""
    return ServingCheckOperator(
        task_id="serving_check",
        **step_args(spec, "serving_check"),
        gate=gate.output,
        dataset=prepare.output,
        **_serving_check_args(spec),
    )


def _prediction_rows(spec: RetrainingPipelineSpec) -> int:
    """The test rows whose predictions evaluate records: the serving check's, and the deploy bake's parity rows."""
    serving = spec.serving_check.rows if spec.serving_check.enabled else 0
    deploy = spec.deployment.smoke.requests if spec.deployment is not None else 0
    return max(serving, deploy)


def _deploy_task(spec: RetrainingPipelineSpec, promote: Any, prepare: Any) -> DeployModelOperator | None:
    """The new champion served on the deployment target and smoke-checked there (docs/deployment.md)."""
    deployment = spec.deployment
    if deployment is None:
        return None
    return DeployModelOperator(
        task_id="deploy",
        **step_args(spec, "deploy"),
        promotion=promote.output,
        dataset=prepare.output,
        target=deployment.target,
        endpoint=deployment.endpoint_name(spec.registry.model_name),
        target_conn_id=deployment.conn_id,
        strategy=deployment.strategy,
        canary_percent=deployment.canary_percent,
        bake_seconds=deployment.bake_seconds,
        smoke_requests=deployment.smoke.requests,
        max_error_rate=deployment.smoke.max_error_rate,
        max_p95_ms=deployment.smoke.max_p95_ms,
        max_label_disagreement=deployment.smoke.max_label_disagreement,
        max_mean_abs_diff=deployment.smoke.max_mean_abs_diff,
        problem=spec.problem,
        on_smoke_failure=deployment.rollback.on_smoke_failure,
        on_rollout_failure=deployment.rollback.on_rollout_failure,
        alias=spec.registry.alias,
        previous_alias=spec.registry.previous_alias,
        startup_timeout_seconds=deployment.startup_timeout_seconds,
        request_timeout_seconds=deployment.request_timeout_seconds,
        mlflow_conn_id=spec.mlflow_conn_id,
    )


def build_retraining_dag(spec: RetrainingPipelineSpec, source: str = "") -> DAG:
    lineage = spec_lineage(spec, source)
    mlflow: dict[str, Any] = {"mlflow_conn_id": spec.mlflow_conn_id}
    doc = f"Retraining pipeline for {spec.registry.model_name}, generated from {source}."
    with DAG(**dag_kwargs(spec, doc), params=run_params()) as dag:
        resolve = resolve_data_task(spec)
        validate = ValidateDataOperator(
            task_id="validate_data",
            **step_args(spec, "validate_data"),
            data=resolve.output,
            expectations=[e.model_dump() for e in spec.validation.expectations or []],
            experiment=spec.experiment_name,
            on_failure=spec.validation.on_failure,
            dvc_conn_id=spec.data.dvc_conn_id,
            suite_name=spec.validation.name,
            **_cache_args(spec, "validate_data"),
            **mlflow,
        )
        prepare = PrepareDatasetOperator(
            task_id="prepare_data",
            **step_args(spec, "prepare_data"),
            data=resolve.output,
            target=spec.data.target,
            features=spec.data.features,
            test_size=spec.data.split.test_size,
            seed=spec.data.split.seed,
            stratify=spec.stratify_split,
            dvc_conn_id=spec.data.dvc_conn_id,
            **_contract_args(spec),
            **_cache_args(spec, "prepare_data"),
        )
        validate >> prepare
        trained = _train_tasks(spec, prepare.output, lineage, mlflow)
        evaluate = EvaluateCandidatesOperator(
            task_id="evaluate",
            **step_args(spec, "evaluate"),
            dataset=prepare.output,
            trained=trained,
            experiment=spec.experiment_name,
            model_name=spec.registry.model_name,
            alias=spec.registry.alias,
            problem=spec.problem,
            average=spec.averaging,
            slices=_slices(spec),
            # evaluate's predictions on the rows the serving check sends, to compare the served ones with
            prediction_rows=_prediction_rows(spec),
            **_cache_args(spec, "evaluate"),
            **mlflow,
        )
        gate = EvaluationGateOperator(
            task_id="gate",
            **step_args(spec, "gate"),
            evaluation=evaluate.output,
            rules=[r.model_dump(exclude_none=True) for r in spec.gate.metrics],
            select_by=spec.select_by,
            problem=spec.problem,
            first_run=spec.gate.first_run,
            on_reject=spec.gate.on_reject,
            min_test_rows=spec.gate.min_test_rows,
            **mlflow,
        )
        serving = _serving_check_task(spec, gate, prepare) if spec.serving_check.enabled else None
        approval: Any = None
        if spec.approval.mode == "manual":
            from airflow_mlops.operators.approval import ModelApprovalOperator

            approve = ModelApprovalOperator(
                task_id="approve",
                **step_args(spec, "approve"),
                gate=gate.output,
                model_name=spec.registry.model_name,
                experiment=spec.experiment_name,
                alias=spec.registry.alias,
                approvers=spec.approval.approvers,
                timeout_hours=spec.approval.timeout_hours,
                **mlflow,
            )
            approval = approve.output
            if serving is not None:
                serving >> approve  # a person is asked only about a model that answered in a server
        register = RegisterModelOperator(
            task_id="register",
            **step_args(spec, "register"),
            gate=gate.output,
            data=resolve.output,
            validation=validate.output,
            approval=approval,
            serving_check=serving.output if serving is not None else None,
            dataset=prepare.output,
            model_name=spec.registry.model_name,
            lineage=lineage,
            card=spec.card.model_dump(),
            **mlflow,
        )
        promote = PromoteModelOperator(
            task_id="promote",
            **step_args(spec, "promote"),
            registered=register.output,
            gate=gate.output,
            model_name=spec.registry.model_name,
            alias=spec.registry.alias,
            previous_alias=spec.registry.previous_alias,
            on_conflict=spec.registry.on_conflict,
            outlets=[champion_asset(spec.registry.model_name)],
            **mlflow,
        )
        _deploy_task(spec, promote, prepare)
        close_runs_task(spec, dag)
        champion_age_task(spec, dag)
    return dag
