"""Reads of the model registry that say plainly when a model, version or alias does not exist.

MLflow answers a missing name with an ``MlflowException`` whose error code varies by backend;
governance and the UI need one ``NotFoundError`` whose message names what was asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_mlops.errors import NotFoundError

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel


def _is_missing(err: Exception) -> bool:
    return getattr(err, "error_code", None) in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND")


def registered_model(client: MlflowClient, model_name: str) -> RegisteredModel:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(model_name)
    except MlflowException as err:
        if _is_missing(err):
            raise NotFoundError(f"no registered model named {model_name!r}") from err
        raise


def model_version(client: MlflowClient, model_name: str, version: str) -> ModelVersion:
    check_version_number(version)
    registered_model(client, model_name)
    return existing_version(client, model_name, version)


def check_version_number(version: str) -> None:
    if not str(version).isdigit():
        raise NotFoundError(f"version must be a number, got {version!r}")


def existing_version(client: MlflowClient, model_name: str, version: str) -> ModelVersion:
    """The version of a model known to exist."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version(model_name, str(version))
    except MlflowException as err:
        if _is_missing(err):
            raise NotFoundError(f"{model_name} has no version {version}") from err
        raise


def resolve_ref(client: MlflowClient, model_name: str, ref: str) -> ModelVersion:
    """``ref`` is a version number or an alias name."""
    if ref.isdigit():
        return model_version(client, model_name, ref)
    version = aliases(client, model_name).get(ref)
    if version is None:
        raise NotFoundError(f"{model_name} has no alias @{ref}")
    return model_version(client, model_name, version)


def aliases(client: MlflowClient, model_name: str) -> dict[str, str]:
    """Every alias of the model as ``{alias: version}``, read fresh from the registry."""
    return alias_map(registered_model(client, model_name))


def alias_map(model: RegisteredModel) -> dict[str, str]:
    return {str(k): str(v) for k, v in (model.aliases or {}).items()}
