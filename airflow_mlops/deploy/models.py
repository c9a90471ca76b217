"""Which registered version a model URI names when it is deployed, and its files on this machine.

An endpoint records the version it serves, never an alias: ``@champion`` moves, and MLflow's
scoring server would not notice (mlflow/mlflow#4039). So ``models:/name@alias`` is resolved to
``models:/name/N`` once, at deploy time, and that is what is served, recorded and compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelRef:
    """A deployable model: the URI served (a version's, when it is registered), its model and version."""

    uri: str
    registered_model: str | None = None
    version: str | None = None

    def label(self) -> str:
        return f"{self.registered_model} v{self.version}" if self.version else self.uri


def resolve(model_uri: str) -> ModelRef:
    """``models:/name@alias`` and ``models:/name/N`` become a version's URI; other URIs are served as given."""
    if not model_uri.startswith("models:/"):
        return ModelRef(model_uri)
    rest = model_uri.removeprefix("models:/")
    if "@" in rest:
        from mlflow import MlflowClient

        name, alias = rest.split("@", 1)
        version = str(MlflowClient().get_model_version_by_alias(name, alias).version)
        return ModelRef(f"models:/{name}/{version}", name, version)
    name, _, version = rest.rpartition("/")
    if name and version.isdigit():
        return ModelRef(model_uri, name, version)
    return ModelRef(model_uri)  # a logged model (models:/m-<id>), not a registered version


def download(ref: ModelRef, into: Path) -> str:
    """The model's files under ``into`` (the server loads them from there, and again after a restart)."""
    import mlflow.artifacts

    return str(mlflow.artifacts.download_artifacts(artifact_uri=ref.uri, dst_path=str(into)))
