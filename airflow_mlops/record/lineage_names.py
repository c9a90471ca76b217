"""Names of everything airflow-mlops reports as OpenLineage: dataset URIs, namespaces, facet keys, schemas.

An OpenLineage consumer (Marquez, DataHub) joins the events of different jobs on a dataset's
``(namespace, name)``. The tasks that report their datasets and the asset-URI converter (which turns
the Airflow assets the pipelines declare into datasets) must therefore spell them identically: both
go through :func:`dataset_of`, and the asset URIs themselves are built here (``airflow_mlops.assets``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

# --- URIs of what a pipeline reads and writes (Airflow assets and OpenLineage datasets alike) --------
#: The schemes the project's assets use; the asset-URI converter is registered for these.
MLFLOW_SCHEME = "mlflow"
MLOPS_SCHEME = "mlops"


def model_uri(model_name: str) -> str:
    """A registered model: its versions are the dataset's versions."""
    return f"{MLFLOW_SCHEME}://models/{model_name}"


def logged_model_uri(model_id: str) -> str:
    """A candidate's logged model (MLflow 3's ``models:/m-<id>``), before anything is registered."""
    return f"{MLFLOW_SCHEME}://logged-models/{model_id}"


def data_uri(dvc_conn_id: str, path: str) -> str:
    """A file of the DVC repository a connection names; its versions are the file's md5s."""
    return f"{MLOPS_SCHEME}://data/{dvc_conn_id}/{path}"


def drift_uri(model_name: str) -> str:
    return f"{MLOPS_SCHEME}://drift/{model_name}"


def predictions_uri(pipeline: str) -> str:
    return f"{MLOPS_SCHEME}://predictions/{pipeline}"


#: The first path component of each ``mlops://`` URI, and of each ``mlflow://`` URI.
MLOPS_KINDS = ("data", "drift", "predictions")
MLFLOW_KINDS = ("models", "logged-models")


def dataset_of(uri: str) -> tuple[str, str]:
    """``(namespace, name)`` of the dataset at ``uri``: ``scheme://authority`` and the path without its slash.

    The same split as Airflow's own converters (``file://host`` + path): ``mlops://data/dvc_default/x.csv``
    is ``("mlops://data", "dvc_default/x.csv")``; a split at ``s3://aws_default@bucket/key`` is
    ``("s3://bucket", "key")`` (the connection id in the user part names no storage). A local file is
    ``("file", "/abs/path")``, as Airflow's own ``file://`` converter names it.
    """
    parts = urlsplit(uri)
    host = parts.netloc.rpartition("@")[2]
    if parts.scheme == "file":
        return (f"file://{host}" if host else "file"), parts.path
    return f"{parts.scheme}://{host}", parts.path.lstrip("/")


# --- facets ------------------------------------------------------------------------------------
#: OpenLineage's standard facets this project fills (their keys are fixed by the spec).
VERSION_FACET = "version"
SCHEMA_FACET = "schema"
ASSERTIONS_FACET = "dataQualityAssertions"
QUALITY_METRICS_FACET = "dataQualityMetrics"
OUTPUT_STATISTICS_FACET = "outputStatistics"

#: The project's own facets, prefixed so they never collide with a standard or another producer's facet.
DATA_VERSION_FACET = "mlops_dataVersion"
CANDIDATE_FACET = "mlops_candidate"
GATE_VERDICT_FACET = "mlops_gateVerdict"
MODEL_ALIAS_FACET = "mlops_modelAlias"
STEP_CACHE_FACET = "mlops_stepCache"

#: Where the JSON schema of every custom facet lives: docs/openlineage/ in this repository. The project
#: has no public web home to serve it from yet, so the URI names the file by a scheme of its own rather
#: than by an address that would not answer.
SCHEMA_FILE = "docs/openlineage/airflow-mlops-facets.json"
SCHEMA_BASE = f"airflow-mlops:{SCHEMA_FILE}"

#: Each custom facet key and its definition's name in the schema file.
CUSTOM_FACETS = {
    DATA_VERSION_FACET: "MlopsDataVersionDatasetFacet",
    CANDIDATE_FACET: "MlopsCandidateRunFacet",
    GATE_VERDICT_FACET: "MlopsGateVerdictDatasetFacet",
    MODEL_ALIAS_FACET: "MlopsModelAliasDatasetFacet",
    STEP_CACHE_FACET: "MlopsStepCacheRunFacet",
}


#: Custom facets that also ride on an input dataset, and that definition's name: evaluate's scores
#: are reused model by model, so each model it read says whether its scores were.
CUSTOM_INPUT_FACETS = {
    STEP_CACHE_FACET: "MlopsStepCacheInputDatasetFacet",
}


def schema_url(facet: str, kind: str = "run") -> str:
    """The ``_schemaURL`` of a custom facet: the schema file and a JSON pointer to its definition.

    ``kind`` is where the facet rides (``run``, ``dataset``, ``input``); an input facet has its own
    definition where :data:`CUSTOM_INPUT_FACETS` names one.
    """
    definition = CUSTOM_INPUT_FACETS.get(facet) if kind == "input" else None
    return f"{SCHEMA_BASE}#/$defs/{definition or CUSTOM_FACETS[facet]}"
