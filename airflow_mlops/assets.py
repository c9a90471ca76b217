"""The Airflow assets airflow-mlops pipelines publish and schedule on.

They are the plain words of a pipeline's ``schedule`` (``{on: drift_detected}``) turned into
stable asset names, so a producer and its consumers agree without sharing code:

- ``champion_changed``: ``promote`` updates it whenever a new version becomes the champion;
- ``drift_detected``: a drift monitor updates it when the new data drifted;
- ``new_data_version``: updated by whatever commits data (a user's ingestion DAG declares it
  as an outlet with :func:`data_version_asset`).

Their URIs are also OpenLineage datasets: ``airflow_mlops.lineage_events.assets`` converts them, and the
tasks report the same names (``record/lineage_names.py``).
"""

from __future__ import annotations

from airflow.sdk import Asset

from airflow_mlops.record import lineage_names, tag


def champion_asset(model_name: str) -> Asset:
    return Asset(name=tag.champion_asset_name(model_name), uri=lineage_names.model_uri(model_name), group="ml-model")


def drift_asset(model_name: str) -> Asset:
    return Asset(name=tag.drift_asset_name(model_name), uri=lineage_names.drift_uri(model_name), group="ml-drift")


def data_version_asset(path: str, dvc_conn_id: str = "dvc_default") -> Asset:
    return Asset(
        name=tag.data_asset_name(dvc_conn_id, path), uri=lineage_names.data_uri(dvc_conn_id, path), group="ml-data"
    )


def predictions_asset(pipeline: str) -> Asset:
    return Asset(
        name=tag.predictions_asset_name(pipeline), uri=lineage_names.predictions_uri(pipeline), group="ml-predictions"
    )
