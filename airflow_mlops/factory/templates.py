"""Which builder turns which template into a DAG."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import DAG

    from airflow_mlops.spec.models import PipelineSpec

BUILDERS: dict[str, tuple[str, str]] = {
    "retraining": ("airflow_mlops.factory.retraining", "build_retraining_dag"),
    "batch_scoring": ("airflow_mlops.factory.batch_scoring", "build_batch_scoring_dag"),
    "drift_monitor": ("airflow_mlops.factory.drift_monitor", "build_drift_monitor_dag"),
}


def build_dag(spec: PipelineSpec, source: str = "") -> DAG:
    module_name, function = BUILDERS[spec.template]
    builder: Any = getattr(importlib.import_module(module_name), function)
    dag: DAG = builder(spec, source)
    return dag
