"""The ``batch_scoring`` template: pin the data, score it with the champion, publish the predictions.

```
resolve_data >> score   (score emits the asset mlops://predictions/<pipeline>)
(every task) >> close_runs   (a teardown: closes this DAG run's MLflow runs)
```
Only thin operators are built here; nothing heavy is imported, because this runs on every
DAG parse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import DAG

from airflow_mlops.assets import predictions_asset
from airflow_mlops.factory.common import close_runs_task, dag_kwargs, resolve_data_task, spec_lineage, step_args
from airflow_mlops.operators.scoring import BatchScoreOperator

if TYPE_CHECKING:
    from airflow_mlops.spec.models import BatchScoringPipelineSpec


def build_batch_scoring_dag(spec: BatchScoringPipelineSpec, source: str = "") -> DAG:
    doc = f"Batch scoring with {spec.model.name}@{spec.model.alias}, generated from {source}."
    with DAG(**dag_kwargs(spec, doc)) as dag:
        resolve = resolve_data_task(spec)
        BatchScoreOperator(
            task_id="score",
            **step_args(spec, "score"),
            data=resolve.output,
            model_name=spec.model.name,
            alias=spec.model.alias,
            experiment=spec.experiment_name,
            passthrough=spec.passthrough,
            prediction_column=spec.prediction_column,
            lineage=spec_lineage(spec, source),
            dvc_conn_id=spec.data.dvc_conn_id,
            mlflow_conn_id=spec.mlflow_conn_id,
            outlets=[predictions_asset(spec.pipeline)],
        )
        close_runs_task(spec, dag)
    return dag
