"""airflow-mlops: governed ML retraining pipelines for Apache Airflow 3.

The package root stays import-free on purpose: Airflow parses DAG files every 30 seconds
and again at every task start, so anything imported here is paid for over and over.
Public names resolve lazily through ``__getattr__``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY_IMPORTS = {
    "load_pipeline": "airflow_mlops.factory.loader",
    "load_pipelines": "airflow_mlops.factory.loader",
    "load_pipeline_spec": "airflow_mlops.spec.loader",
    "PipelineConfigError": "airflow_mlops.errors",
}

if TYPE_CHECKING:
    from airflow_mlops.errors import PipelineConfigError
    from airflow_mlops.factory.loader import load_pipeline, load_pipelines
    from airflow_mlops.spec.loader import load_pipeline_spec

__all__ = ["PipelineConfigError", "__version__", "load_pipeline", "load_pipeline_spec", "load_pipelines"]


def __getattr__(name: str) -> Any:
    module_name = _LAZY_IMPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'airflow_mlops' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
