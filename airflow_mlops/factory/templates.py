"""Build the DAG of a validated spec with its template's builder (listed in spec/templates.py)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from airflow_mlops.spec.templates import TEMPLATES

if TYPE_CHECKING:
    from airflow.sdk import DAG

    from airflow_mlops.spec.models import PipelineSpec


def builder(template: str) -> Any:
    """The function that builds ``template``'s DAG, imported on first use."""
    module_name, function = TEMPLATES[template].builder.split(":")
    return getattr(importlib.import_module(module_name), function)


def build_dag(spec: PipelineSpec, source: str = "") -> DAG:
    dag: DAG = builder(spec.template)(spec, source)
    return dag
