"""The one table of pipeline templates.

A template is three things that must agree: the name a file's ``template:`` key gives, the spec
class that validates the file, and the factory function that builds its DAG. They are listed
together here. The builder is a dotted path, resolved only by the factory, so reading and
checking YAML never imports the code that builds DAGs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_mlops.spec.models import BatchScoringPipelineSpec, DriftMonitorPipelineSpec, RetrainingPipelineSpec
from airflow_mlops.spec.models_across import PromotionPipelineSpec
from airflow_mlops.spec.models_ingestion import IngestionPipelineSpec

if TYPE_CHECKING:
    from airflow_mlops.spec.models_common import PipelineBase

_FACTORY = "airflow_mlops.factory"


@dataclass(frozen=True)
class Template:
    """One kind of pipeline: its spec class and the ``module:function`` that builds its DAG."""

    name: str
    spec: type[PipelineBase]
    builder: str


TEMPLATES: dict[str, Template] = {
    template.name: template
    for template in (
        Template("retraining", RetrainingPipelineSpec, f"{_FACTORY}.retraining:build_retraining_dag"),
        Template("batch_scoring", BatchScoringPipelineSpec, f"{_FACTORY}.batch_scoring:build_batch_scoring_dag"),
        Template("drift_monitor", DriftMonitorPipelineSpec, f"{_FACTORY}.drift_monitor:build_drift_monitor_dag"),
        Template("ingestion", IngestionPipelineSpec, f"{_FACTORY}.ingestion:build_ingestion_dag"),
        Template("promotion", PromotionPipelineSpec, f"{_FACTORY}.promotion:build_promotion_dag"),
    )
}

#: The template of a file without a ``template:`` key.
DEFAULT_TEMPLATE = "retraining"


def spec_classes() -> list[type[PipelineBase]]:
    """Every template's spec class, in the table's order."""
    return [template.spec for template in TEMPLATES.values()]
