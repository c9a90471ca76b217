"""The ``retraining`` template: data -> validation -> training -> gate -> registry.

```
resolve_data >> validate_data >> prepare_data >> train[candidate...] >> evaluate >> gate >> register >> promote
```
Only thin operators are built here; nothing heavy is imported, because this runs on every
DAG parse.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG, Asset

from airflow_mlops.operators.data import ResolveDataVersionOperator
from airflow_mlops.operators.evaluate import EvaluateCandidatesOperator
from airflow_mlops.operators.gate import EvaluationGateOperator
from airflow_mlops.operators.prepare import PrepareDatasetOperator
from airflow_mlops.operators.registry import PromoteModelOperator, RegisterModelOperator
from airflow_mlops.operators.train import TrainCandidateOperator
from airflow_mlops.operators.validation import ValidateDataOperator

if TYPE_CHECKING:
    from airflow_mlops.spec.models import RetrainingPipelineSpec


def champion_asset(model_name: str) -> Asset:
    """The asset updated whenever a new champion is promoted; scoring DAGs can schedule on it."""
    return Asset(name=f"mlops.champion.{model_name}", uri=f"mlflow://models/{model_name}", group="ml-model")


def _lineage(spec: RetrainingPipelineSpec, source: str) -> dict[str, str]:
    from airflow_mlops import __version__

    digest = hashlib.sha256(spec.model_dump_json().encode()).hexdigest()
    return {"spec_sha256": digest, "spec_file": source, "package_version": __version__}


def _default_args(spec: RetrainingPipelineSpec) -> dict[str, Any]:
    retries = spec.retries
    return {
        "owner": spec.owner,
        "retries": retries.retries,
        "retry_delay": timedelta(seconds=retries.delay_seconds),
        "retry_exponential_backoff": retries.backoff_multiplier,
        "max_retry_delay": timedelta(seconds=retries.max_delay_seconds),
    }


def build_retraining_dag(spec: RetrainingPipelineSpec, source: str = "") -> DAG:
    lineage = _lineage(spec, source)
    mlflow = {"mlflow_conn_id": spec.mlflow_conn_id}
    start = datetime(spec.start_date.year, spec.start_date.month, spec.start_date.day)
    doc = spec.description or f"Retraining pipeline for {spec.registry.model_name}, generated from {source}."
    with DAG(
        dag_id=spec.pipeline,
        schedule=spec.schedule,
        start_date=start,
        catchup=False,
        max_active_runs=1,
        default_args=_default_args(spec),
        tags=["mlops", "mlops:retraining", *spec.tags],
        doc_md=doc,
    ) as dag:
        resolve = ResolveDataVersionOperator(
            task_id="resolve_data",
            path=spec.data.path,
            rev=spec.data.rev,
            repo=spec.data.repo,
            dvc_conn_id=spec.data.dvc_conn_id,
        )
        validate = ValidateDataOperator(
            task_id="validate_data",
            data=resolve.output,
            expectations=[e.model_dump() for e in spec.validation.expectations or []],
            experiment=spec.experiment_name,
            on_failure=spec.validation.on_failure,
            dvc_conn_id=spec.data.dvc_conn_id,
            **mlflow,
        )
        prepare = PrepareDatasetOperator(
            task_id="prepare_data",
            data=resolve.output,
            target=spec.data.target,
            features=spec.data.features,
            test_size=spec.data.split.test_size,
            seed=spec.data.split.seed,
            stratify=spec.data.split.stratify,
            dvc_conn_id=spec.data.dvc_conn_id,
        )
        validate >> prepare
        train = TrainCandidateOperator.partial(
            task_id="train",
            dataset=prepare.output,
            experiment=spec.experiment_name,
            problem=spec.problem,
            lineage=lineage,
            map_index_template="{{ task.candidate['name'] }}",
            **mlflow,
        ).expand(candidate=[m.model_dump() for m in spec.models])
        evaluate = EvaluateCandidatesOperator(
            task_id="evaluate",
            dataset=prepare.output,
            trained=train.output,
            experiment=spec.experiment_name,
            model_name=spec.registry.model_name,
            alias=spec.registry.alias,
            problem=spec.problem,
            **mlflow,
        )
        gate = EvaluationGateOperator(
            task_id="gate",
            evaluation=evaluate.output,
            rules=[r.model_dump(exclude_none=True) for r in spec.gate.metrics],
            select_by=spec.select_by,
            problem=spec.problem,
            first_run=spec.gate.first_run,
            on_reject=spec.gate.on_reject,
            min_test_rows=spec.gate.min_test_rows,
            **mlflow,
        )
        register = RegisterModelOperator(
            task_id="register",
            gate=gate.output,
            data=resolve.output,
            validation=validate.output,
            model_name=spec.registry.model_name,
            lineage=lineage,
            **mlflow,
        )
        PromoteModelOperator(
            task_id="promote",
            registered=register.output,
            gate=gate.output,
            model_name=spec.registry.model_name,
            alias=spec.registry.alias,
            previous_alias=spec.registry.previous_alias,
            outlets=[champion_asset(spec.registry.model_name)],
            **mlflow,
        )
    return dag
