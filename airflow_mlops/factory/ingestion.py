"""The ``ingestion`` template: a SQL or object-storage source -> a pinned snapshot -> a DVC version.

```
extract (stream the source into a content-addressed snapshot; the declared columns are checked
         on the first chunk, before the rest is read)
  >> version_data (dvc add + git commit + dvc push + git push on the branch; skipped when the
                   content is unchanged; outlet: the new_data_version asset of the output path)
```
With ``output.incremental``, the DAG's schedule is a CronDataIntervalTimetable and version_data
appends each run's data interval to the file (hooks/increment.py).

A retraining pipeline with ``schedule: {on: new_data_version}`` and ``data.path`` set to the same
file runs on each new version. Only thin operators are built here; nothing heavy is imported,
because this runs on every DAG parse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import DAG, CronDataIntervalTimetable

from airflow_mlops.assets import data_version_asset
from airflow_mlops.factory.common import dag_kwargs, snapshot_task, step_args
from airflow_mlops.operators.version_data import VersionDataOperator

if TYPE_CHECKING:
    from airflow_mlops.spec.models_ingestion import IngestionPipelineSpec


def build_ingestion_dag(spec: IngestionPipelineSpec, source: str = "") -> DAG:
    output = spec.output
    doc = f"Ingestion of a {spec.data.source} source into {output.path} on {output.branch}; generated from {source}."
    kwargs = dag_kwargs(spec, doc)
    incremental = output.incremental
    if incremental is not None:
        # Airflow 3 runs a cron schedule as a trigger (a run has no interval: start == end); an
        # incremental extract needs real intervals, each run's [data_interval_start, data_interval_end).
        kwargs["schedule"] = CronDataIntervalTimetable(str(spec.schedule), timezone="UTC")
    with DAG(**kwargs) as dag:
        extract = snapshot_task(spec, spec.data, "extract", spec.data.columns)
        VersionDataOperator(
            task_id="version_data",
            **step_args(spec, "version_data"),
            snapshot=extract.output,
            path=output.path,
            branch=output.branch,
            repo=output.repo,
            dvc_conn_id=output.dvc_conn_id,
            increment_key=incremental.key if incremental is not None else None,
            outlets=[data_version_asset(output.path, output.dvc_conn_id)],
        )
    return dag
