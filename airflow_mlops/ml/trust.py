"""Whether a model URI may be loaded: loading a scikit-learn model unpickles it, which runs code."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

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
    this DAG run's finished training of this candidate, or a model that run adopted from an
    earlier DAG run of the same pipeline's training of the same candidate (step caching). A path,
    a URL or another pipeline's model is refused unread.
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
    expected = tag.identity(dag_id, run_id, tag.ROLE_CANDIDATE, str(candidate))
    run = client.get_run(str(source_run)) if source_run else None
    if run is None or not _finished_as(run, expected):
        raise _refused(candidate, uri, dag_id, run_id, logged.source_run_id)
    if logged.source_run_id == source_run:
        return uri
    # A model reused from an earlier DAG run (step caching): this run adopted it, and the earlier
    # run that logged it must be the same pipeline's finished training of the same candidate.
    adopted = run.data.tags.get(tag.CACHE_SOURCE_RUN) == logged.source_run_id
    adopted = adopted and run.data.tags.get(tag.MODEL_ID) == match.group(1)
    if adopted:
        trained = client.get_run(str(logged.source_run_id))
        earlier = {k: v for k, v in expected.items() if k != tag.RUN_ID}
        if _finished_as(trained, earlier):
            return uri
    raise _refused(candidate, uri, dag_id, run_id, logged.source_run_id)


def _finished_as(run: Any, identity: dict[str, str]) -> bool:
    return bool(run.info.status == "FINISHED" and all(run.data.tags.get(k) == v for k, v in identity.items()))


def _refused(candidate: object, uri: str, dag_id: str, run_id: str, source: object) -> UntrustedModelError:
    return UntrustedModelError(
        f"candidate {candidate!r}: refusing to load {uri!r}; it was not logged by the finished training run "
        f"of this candidate in {dag_id} {run_id}, nor by an earlier run of {dag_id} this run reused "
        f"(its source run is {source})"
    )
