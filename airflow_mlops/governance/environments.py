"""Reaching a declared environment: only through its own Airflow connection, checked before anything moves.

A promotion across environments touches two registries. Both are reached (the connection exists,
the server answers, a sqlite store is really there) before either is read or written, so a wrong
or dead target fails in seconds, names the environment, the connection and the URI, and leaves
both registries as they were.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_mlops.errors import ConfigurationError, MlopsException
from airflow_mlops.errors.translate import without_credentials
from airflow_mlops.record import tag

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from airflow_mlops.hooks.mlflow import MlflowHook
    from airflow_mlops.spec.models_environments import EnvironmentSpec


@dataclass(frozen=True)
class Reached:
    """A declared environment whose registry answered: its name, declaration, hook and URI."""

    name: str
    spec: EnvironmentSpec
    hook: MlflowHook
    uri: str  # the tracking URI without credentials, for messages and the link tags

    @property
    def model_name(self) -> str:
        return self.spec.model_name

    def describe(self) -> str:
        return f"environment {self.name!r} (connection {self.spec.mlflow_conn_id!r}, {self.uri})"

    def client(self) -> MlflowClient:
        return self.hook.get_client(preflight=False)


def declared(environments: dict[str, EnvironmentSpec], name: str) -> EnvironmentSpec:
    """The declaration of ``name``, or an error listing the environments there are."""
    if name not in environments:
        known = ", ".join(sorted(environments)) or "none"
        raise ConfigurationError(f"no environment named {name!r} is declared (declared: {known})")
    return environments[name]


def reach(name: str, spec: EnvironmentSpec) -> Reached:
    """The environment's registry through its connection, or an error naming the environment, connection and URI."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    from airflow_mlops.hooks.mlflow import MlflowHook

    hook = MlflowHook(spec.mlflow_conn_id)
    where = f"environment {name!r}"
    try:
        uri = without_credentials(hook.tracking_uri)
    except AirflowNotFoundException as err:
        raise ConfigurationError(
            f"{where}: its Airflow connection {spec.mlflow_conn_id!r} is not defined; create it with "
            f"`airflow connections add {spec.mlflow_conn_id} --conn-type mlflow --conn-host http://...`"
        ) from err
    except MlopsException as err:
        raise ConfigurationError(f"{where}: {err}") from err
    try:
        hook.check_reachable()
    except MlopsException as err:
        # The same class (retried or not), with the environment in front of the connection and URI.
        raise type(err)(f"{where}: {err}") from err
    return Reached(name, spec, hook, uri)


def refuse_same_slot(source: Reached, target: Reached) -> None:
    """Two environments that resolve to one registry and model would copy a version onto itself."""
    if source.hook.registry_uri == target.hook.registry_uri and source.model_name == target.model_name:
        raise ConfigurationError(
            f"{source.describe()} and {target.describe()} are the same registered model {source.model_name!r} "
            "in the same registry; check the connection of the target"
        )


def policy_tag(name: str, spec: EnvironmentSpec) -> str:
    """The policy written on the environment's registered model, so every promotion path into it can check it."""
    return json.dumps({"environment": name, "require_approval": spec.policy.require_approval}, sort_keys=True)


def policy_of(tags: dict[str, str]) -> dict[str, object] | None:
    """The environment policy a registered model carries (``mlops.env.policy``), or None."""
    from airflow_mlops.record.lineage import json_tag

    policy = json_tag(tags, tag.ENV_POLICY)
    return policy if isinstance(policy, dict) else None
