"""Whether a model URI may be loaded: loading a scikit-learn model unpickles it, which runs code."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from airflow_mlops.errors import UntrustedModelError
from airflow_mlops.record import tag

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from airflow_mlops.contracts import TrainedCandidate


#: What TrainCandidateOperator returns: MLflow 3's URI of a logged model (``models:/m-<id>``).
_LOGGED_MODEL_URI = re.compile(r"models:/(m-[0-9a-f]+)")


def verified_model_uri(client: MlflowClient, trained: TrainedCandidate, dag_id: str, run_id: str) -> str:
    """The candidate's model URI, once MLflow confirms this DAG run's training logged that model.

    The URI arrives through XCom (or, on a retry, from a run tag), so before loading, the URI must
    name a logged model, that model must come from the candidate's own run, and that run must be
    this DAG run's finished training of this candidate. A path, a URL or another run's model is
    refused unread.
    """
    uri = str(trained.get("model_uri", ""))
    match = _LOGGED_MODEL_URI.fullmatch(uri)
    candidate, source_run = trained.get("candidate"), trained.get("mlflow_run_id")
    if match is None:
        raise UntrustedModelError(
            f"candidate {candidate!r}: refusing to load {uri!r}; only a model logged by this pipeline's "
            "training (models:/m-<id>) is loaded"
        )
    logged = client.get_logged_model(match.group(1))
    run = client.get_run(str(logged.source_run_id)) if logged.source_run_id == source_run else None
    expected = tag.identity(dag_id, run_id, tag.ROLE_CANDIDATE, str(candidate))
    if run is None or run.info.status != "FINISHED" or any(run.data.tags.get(k) != v for k, v in expected.items()):
        raise UntrustedModelError(
            f"candidate {candidate!r}: refusing to load {uri!r}; it was not logged by the finished training run "
            f"of this candidate in {dag_id} {run_id} (its source run is {logged.source_run_id})"
        )
    return uri
