"""The ``drift_monitor`` template: new data vs the champion's training data, feature by feature.

```
resolve_data >> check_drift >> publish_drift
(every task) >> close_runs   (a teardown: closes this DAG run's MLflow runs)
```
``publish_drift`` carries the ``mlops://drift/<model>`` outlet and succeeds only on drift, so a
retraining pipeline with ``schedule: {on: drift_detected}`` runs after drifted data only.
Only thin operators are built here; nothing heavy is imported, because this runs on every
DAG parse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import DAG

from airflow_mlops.assets import drift_asset
from airflow_mlops.factory.common import close_runs_task, dag_kwargs, resolve_data_task, step_args
from airflow_mlops.operators.drift import DriftCheckOperator, PublishDriftOperator

if TYPE_CHECKING:
    from airflow_mlops.spec.models import DriftMonitorPipelineSpec


def build_drift_monitor_dag(spec: DriftMonitorPipelineSpec, source: str = "") -> DAG:
    doc = (
        f"Drift monitor for {spec.model.name}@{spec.model.alias}: compares {spec.data.asset_path} with the data "
        f"that version was trained on; generated from {source}."
    )
    with DAG(**dag_kwargs(spec, doc)) as dag:
        resolve = resolve_data_task(spec)
        check = DriftCheckOperator(
            task_id="check_drift",
            **step_args(spec, "check_drift"),
            data=resolve.output,
            model_name=spec.model.name,
            alias=spec.model.alias,
            features=spec.features,
            experiment=spec.experiment_name,
            psi_threshold=spec.drift.psi_threshold,
            ks_pvalue=spec.drift.ks_pvalue,
            bins=spec.drift.bins,
            min_drifted_features=spec.drift.min_drifted_features,
            dvc_conn_id=spec.data.dvc_conn_id,
            mlflow_conn_id=spec.mlflow_conn_id,
        )
        PublishDriftOperator(
            task_id="publish_drift",
            **step_args(spec, "publish_drift"),
            report=check.output,
            outlets=[drift_asset(spec.model.name)],
        )
        close_runs_task(spec, dag)
    return dag
