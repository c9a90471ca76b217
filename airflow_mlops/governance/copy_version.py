"""A deep copy of a model version from one MLflow registry into another.

``MlflowClient.copy_model_version`` copies inside one registry and shares the artifacts, and
mlflow-export-import 1.2.0 has no version copy (STACK_NOTES_TURN2 §3). Here the model's files
(the MLmodel, its environment files, the weights) are uploaded to a run of the target's own,
the version is created from them, and every lineage tag comes along, with a link back to the
source registry, model, version and run, so the target never depends on the source's storage
and ``airflow-mlops lineage`` can still follow the chain back.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_mlops.record import paths, tag

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from airflow_mlops.governance.environments import Reached


@contextmanager
def downloaded_model(client: MlflowClient, model_name: str, version: str) -> Iterator[Path]:
    """The version's model directory, downloaded through ``client``'s own registry; removed after the block."""
    import mlflow.artifacts

    uri = client.get_model_version_download_uri(model_name, str(version))
    with tempfile.TemporaryDirectory(prefix="mlops-copy-") as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp, tracking_uri=client.tracking_uri)
        yield Path(local)


def copied_tags(mv: ModelVersion) -> dict[str, str]:
    """The source version's tags that travel: its lineage, not its registry's alias audit, its rollouts
    (an endpoint of the source environment) or an older hop's link."""
    return {
        str(key): str(value)
        for key, value in (mv.tags or {}).items()
        if key not in tag.PROMOTION_AUDIT and not str(key).startswith((tag.ENV_PREFIX, tag.DEPLOY_PREFIX))
    }


def link_tags(source: Reached, mv: ModelVersion, *, target: str, actor: str, at: str) -> dict[str, str]:
    """Where the copy came from: the source environment, connection, registry, model, version and run."""
    return {
        tag.ENV_NAME: target,
        tag.ENV_SOURCE_NAME: source.name,
        tag.ENV_SOURCE_CONN_ID: source.spec.mlflow_conn_id,
        tag.ENV_SOURCE_REGISTRY: source.uri,
        tag.ENV_SOURCE_MODEL: source.model_name,
        tag.ENV_SOURCE_VERSION: str(mv.version),
        tag.ENV_SOURCE_RUN_ID: str(mv.run_id or ""),
        tag.ENV_COPIED_AT: at,
        tag.ENV_COPIED_BY: tag.clip(actor),
    }


def existing_copy(client: MlflowClient, model_name: str, link: Mapping[str, str]) -> ModelVersion | None:
    """The copy an earlier try of the same promotion already made, so a retry makes no second one."""
    from airflow_mlops.hooks.mlflow import model_version_filter

    keys = (tag.ENV_SOURCE_REGISTRY, tag.ENV_SOURCE_MODEL, tag.ENV_SOURCE_VERSION)
    found = client.search_model_versions(model_version_filter(model_name, {k: link[k] for k in keys}))
    return max(found, key=lambda v: int(v.version)) if found else None


def copy_version(
    target: Reached,
    model_dir: Path,
    *,
    source_run: Any,
    tags: Mapping[str, str],
    description: str,
    gate_files: Mapping[str, Any] | None = None,
) -> str:
    """Create the target's version from ``model_dir``; its number. The caller holds the target's lock.

    The model's files go to a run in the target's ``mlops.environment-copies`` experiment, which
    also keeps the source run's params and metrics, so the target answers "what was this trained
    with" on its own, and ``gate_files`` (the recorded gate the version passed, by artifact path),
    so a promotion onward from the target re-applies the same rules (``recheck.recorded_gate``).
    """
    from mlflow.exceptions import MlflowException

    client = target.client()
    existing = existing_copy(client, target.model_name, tags)
    if existing is not None:
        return str(existing.version)
    experiment_id = target.hook.get_or_create_experiment(tag.ENV_COPY_EXPERIMENT)
    run_name = f"{tags[tag.ENV_SOURCE_MODEL]} v{tags[tag.ENV_SOURCE_VERSION]} from {tags[tag.ENV_SOURCE_NAME]}"
    link = {k: v for k, v in tags.items() if k.startswith(tag.ENV_PREFIX)}
    run = client.create_run(experiment_id, run_name=run_name, tags=link)
    run_id = run.info.run_id
    if source_run is not None:
        target.hook.log_batch(
            run_id,
            params={k: tag.clip(v, 6000) for k, v in source_run.data.params.items()},
            metrics=dict(source_run.data.metrics),
        )
    client.log_artifacts(run_id, str(model_dir), paths.MODEL)
    for path, content in (gate_files or {}).items():
        client.log_text(run_id, json.dumps(content, sort_keys=True), path)
    client.set_terminated(run_id)
    try:
        client.create_registered_model(target.model_name)
    except MlflowException as err:
        if err.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise
    created = client.create_model_version(
        target.model_name,
        f"{run.info.artifact_uri}/{paths.MODEL}",
        run_id=run_id,
        tags=dict(tags),
        description=tag.clip(description),
    )
    return str(created.version)
