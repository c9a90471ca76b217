"""The ``batch_scoring`` template: pin the data, score it with the champion, publish the predictions.

```
resolve_data >> score   (score emits the asset mlops://predictions/<pipeline>)
```
Only thin operators are built here; nothing heavy is imported, because this runs on every
DAG parse.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from airflow.sdk import DAG

from airflow_mlops.assets import predictions_asset
from airflow_mlops.factory.common import dag_kwargs, step_args
from airflow_mlops.operators.data import ResolveDataVersionOperator
from airflow_mlops.operators.scoring import BatchScoreOperator

if TYPE_CHECKING:
    from airflow_mlops.spec.models import BatchScoringPipelineSpec


def _lineage(spec: BatchScoringPipelineSpec, source: str) -> dict[str, str]:
    # The same provenance the retraining template stamps on models, so a set of predictions
    # can be traced to the exact pipeline file that asked for it.
    from airflow_mlops import __version__

    digest = hashlib.sha256(spec.model_dump_json().encode()).hexdigest()
    return {"spec_sha256": digest, "spec_file": source, "package_version": __version__}


def build_batch_scoring_dag(spec: BatchScoringPipelineSpec, source: str = "") -> DAG:
    doc = f"Batch scoring with {spec.model.name}@{spec.model.alias}, generated from {source}."
    with DAG(**dag_kwargs(spec, "batch_scoring", doc)) as dag:
        resolve = ResolveDataVersionOperator(
            task_id="resolve_data",
            **step_args(spec, "resolve_data"),
            path=spec.data.path,
            rev=spec.data.rev,
            repo=spec.data.repo,
            dvc_conn_id=spec.data.dvc_conn_id,
        )
        BatchScoreOperator(
            task_id="score",
            **step_args(spec, "score"),
            data=resolve.output,
            model_name=spec.model.name,
            alias=spec.model.alias,
            experiment=spec.experiment_name,
            passthrough=spec.passthrough,
            prediction_column=spec.prediction_column,
            lineage=_lineage(spec, source),
            dvc_conn_id=spec.data.dvc_conn_id,
            mlflow_conn_id=spec.mlflow_conn_id,
            outlets=[predictions_asset(spec.pipeline)],
        )
    return dag
