"""A :class:`~.build.LineageSpec` as the OpenLineage provider's ``OperatorLineage``.

Called only from an operator's ``get_openlineage_facets_on_complete``, which the provider calls
after the task ran; every OpenLineage import is inside a function, because importing the provider's
extractors costs about 1.3 s and this module is reachable from the operators at DAG parse time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_mlops.record import lineage_names as names

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.facet_v2 import BaseFacet

    from airflow_mlops.lineage_events.build import Facets, LineageSpec


def operator_lineage(spec: LineageSpec) -> OperatorLineage[Any, Any]:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import InputDataset, OutputDataset
    from openlineage.client.facet_v2 import RunFacet

    return OperatorLineage(
        inputs=[
            InputDataset(
                d.namespace, d.name, facets=_facets(d.facets, "dataset"), inputFacets=_facets(d.io_facets, "input")
            )
            for d in spec.inputs
        ],
        outputs=[
            OutputDataset(
                d.namespace, d.name, facets=_facets(d.facets, "dataset"), outputFacets=_facets(d.io_facets, "output")
            )
            for d in spec.outputs
        ],
        run_facets={
            key: facet for key, facet in _facets(spec.run_facets, "run").items() if isinstance(facet, RunFacet)
        },
    )


def _facets(payloads: Facets, kind: str) -> dict[str, Any]:
    return {key: _facet(key, payload, kind) for key, payload in payloads.items()}


def _facet(key: str, payload: dict[str, Any], kind: str) -> BaseFacet:
    """The client's class for a standard facet; a project facet carries its payload and its schema URL."""
    from openlineage.client.facet_v2 import (
        data_quality_assertions_dataset,
        data_quality_metrics_input_dataset,
        dataset_version_dataset,
        output_statistics_output_dataset,
        schema_dataset,
    )

    if key == names.VERSION_FACET:
        return dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=payload["datasetVersion"])
    if key == names.SCHEMA_FACET:
        fields = [schema_dataset.SchemaDatasetFacetFields(name=f["name"]) for f in payload["fields"]]
        return schema_dataset.SchemaDatasetFacet(fields=fields)
    if key == names.ASSERTIONS_FACET:
        found = [data_quality_assertions_dataset.Assertion(**a) for a in payload["assertions"]]
        return data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(assertions=found)
    if key == names.QUALITY_METRICS_FACET:
        return data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
            rowCount=payload["rowCount"], columnMetrics={}
        )
    if key == names.OUTPUT_STATISTICS_FACET:
        return output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(rowCount=payload["rowCount"])
    if key in names.CUSTOM_FACETS:
        return _custom(key, payload, kind)
    raise ValueError(f"no OpenLineage facet is known by the key {key!r}")


def _custom(key: str, payload: dict[str, Any], kind: str) -> BaseFacet:
    from openlineage.client.facet_v2 import DatasetFacet, InputDatasetFacet, RunFacet

    base = {"run": RunFacet, "input": InputDatasetFacet}.get(kind, DatasetFacet)()
    facet = base.with_additional_properties(**payload)
    facet._schemaURL = names.schema_url(key, kind)
    return facet
