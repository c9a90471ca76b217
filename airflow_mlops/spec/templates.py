"""The one table of pipeline templates.

A template is three things that must agree: the name a file's ``template:`` key gives, the spec
class that validates the file, and the factory function that builds its DAG. They are listed
together here. The builder is a dotted path, resolved only by the factory, so reading and
checking YAML never imports the code that builds DAGs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_mlops.spec.models_common import PipelineBase

_FACTORY = "airflow_mlops.factory"
_SPEC = "airflow_mlops.spec"


@dataclass(frozen=True)
class Template:
    """One kind of pipeline: the ``module:Class`` of its spec and the ``module:function`` that builds its DAG.

    Both are paths, imported on first use: a DAG file that loads a retraining pipeline never
    pays for the ingestion or promotion models (pydantic builds a class as it is defined).
    """

    name: str
    spec_path: str
    builder: str

    @property
    def spec(self) -> type[PipelineBase]:
        """The spec class that validates this template's files."""
        module_name, name = self.spec_path.split(":")
        spec: type[PipelineBase] = getattr(importlib.import_module(module_name), name)
        return spec


TEMPLATES: dict[str, Template] = {
    template.name: template
    for template in (
        Template("retraining", f"{_SPEC}.models:RetrainingPipelineSpec", f"{_FACTORY}.retraining:build_retraining_dag"),
        Template(
            "batch_scoring",
            f"{_SPEC}.models:BatchScoringPipelineSpec",
            f"{_FACTORY}.batch_scoring:build_batch_scoring_dag",
        ),
        Template(
            "drift_monitor",
            f"{_SPEC}.models:DriftMonitorPipelineSpec",
            f"{_FACTORY}.drift_monitor:build_drift_monitor_dag",
        ),
        Template(
            "ingestion", f"{_SPEC}.models_ingestion:IngestionPipelineSpec", f"{_FACTORY}.ingestion:build_ingestion_dag"
        ),
        Template(
            "promotion", f"{_SPEC}.models_across:PromotionPipelineSpec", f"{_FACTORY}.promotion:build_promotion_dag"
        ),
    )
}

#: The template of a file without a ``template:`` key.
DEFAULT_TEMPLATE = "retraining"


def spec_classes() -> list[type[PipelineBase]]:
    """Every template's spec class, in the table's order."""
    return [template.spec for template in TEMPLATES.values()]
