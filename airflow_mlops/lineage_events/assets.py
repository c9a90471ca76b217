"""The asset-URI handler and OpenLineage converter for the schemes the pipelines' assets use.

Registered in the provider info (``asset-uris``): Airflow calls :func:`sanitize_uri` whenever an
``Asset`` with a ``mlflow://`` or ``mlops://`` URI is built, at DAG parse time too, so this module
imports the standard library only; the OpenLineage provider calls :func:`to_openlineage` for a task's
declared inlets and outlets when the task reports no datasets of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_mlops.record import lineage_names

if TYPE_CHECKING:
    from urllib.parse import SplitResult

    from airflow.providers.common.compat.openlineage.facet import Dataset
    from airflow.sdk import Asset

_KINDS = {
    lineage_names.MLOPS_SCHEME: lineage_names.MLOPS_KINDS,
    lineage_names.MLFLOW_SCHEME: lineage_names.MLFLOW_KINDS,
}


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Refuse a URI of our schemes that names no known kind or nothing inside it (``mlflow://models/``)."""
    kinds = _KINDS.get(uri.scheme, ())
    if uri.netloc not in kinds:
        raise ValueError(f"{uri.scheme}:// asset URIs start with one of {', '.join(kinds)}, not {uri.netloc!r}")
    if not uri.path.strip("/"):
        raise ValueError(f"{uri.scheme}://{uri.netloc}/ asset URI names nothing after the kind")
    return uri


def to_openlineage(asset: Asset, lineage_context: Any) -> Dataset:
    """The dataset the tasks themselves report for this asset (same namespace and name)."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    namespace, name = lineage_names.dataset_of(asset.uri)
    return Dataset(namespace=namespace, name=name)
