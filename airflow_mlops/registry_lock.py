"""Mutual exclusion for moving a model's aliases, built from MLflow's own registry.

MLflow has no atomic "set alias if it still points at X". Two pipeline runs (or a run and a
person with the CLI) can both read ``@champion = v1``, both decide against v1, and both
write: the last writer wins with a verdict about a model it did not replace. The read,
the comparison and the write therefore happen under a lock.

The lock is a registered model named ``<model>.mlops-promotion-lock``: creating a registered
model is create-if-absent in every MLflow backend (the name is its key), so exactly one
caller succeeds, whether MLflow runs in-process on sqlite or as a server on Postgres. It
works across Airflow workers, deployments and the CLI, with no extra infrastructure. The
lock records its holder and a lease; a holder that died is broken out after the lease.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from airflow_mlops.exceptions import MlopsError

if TYPE_CHECKING:
    from mlflow import MlflowClient

LOCK_SUFFIX = ".mlops-promotion-lock"


class PromotionLockTimeout(MlopsError):
    """Another promotion held the lock for longer than we were willing to wait."""


def lock_name(model_name: str) -> str:
    return f"{model_name}{LOCK_SUFFIX}"


def is_lock(name: str) -> bool:
    """Lock entries are registered models too; listings should leave them out."""
    return name.endswith(LOCK_SUFFIX)


def _break_if_stale(client: MlflowClient, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        tags = client.get_registered_model(name).tags
    except MlflowException:
        return  # released meanwhile
    expires = float(tags.get("mlops.lock.expires", "0") or 0)
    if expires and time.time() > expires:
        with contextlib.suppress(MlflowException):
            client.delete_registered_model(name)


@contextlib.contextmanager
def promotion_lock(
    client: MlflowClient, model_name: str, *, holder: str, wait_seconds: float = 300, lease_seconds: float = 900
) -> Iterator[None]:
    """Hold the model's promotion lock for the duration of the block."""
    from mlflow.exceptions import MlflowException

    name = lock_name(model_name)
    token = uuid.uuid4().hex
    deadline = time.monotonic() + wait_seconds
    delay = 0.2
    while True:
        try:
            client.create_registered_model(
                name,
                tags={
                    "mlops.lock.holder": holder[:4000],
                    "mlops.lock.token": token,
                    "mlops.lock.expires": f"{time.time() + lease_seconds:.0f}",
                },
                description=f"Held by airflow-mlops while the aliases of {model_name} move; deleted after.",
            )
            break
        except MlflowException as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        _break_if_stale(client, name)
        if time.monotonic() > deadline:
            raise PromotionLockTimeout(
                f"the promotion lock of {model_name} ({name}) was held for over {wait_seconds:.0f}s; "
                "if its holder died, it expires after its lease"
            )
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
    try:
        yield
    finally:
        # Release only our own lock: after a lease expiry someone else may hold it now. The
        # read that checks the token is also the check MlflowClient.delete_registered_model
        # would repeat, so the delete goes straight to the registry.
        with contextlib.suppress(MlflowException):
            if client.get_registered_model(name).tags.get("mlops.lock.token") == token:
                registry_writer(client).delete_registered_model(name)


def registry_writer(client: MlflowClient) -> Any:
    """What writes to a registered model go through once the caller has read that model.

    Each registry write of ``MlflowClient`` first re-reads the registered model to refuse
    touching a prompt; a promotion writes up to ten times, so ten extra round trips. Callers
    have just read the model with ``get_registered_model`` (which refuses prompts itself) or
    created what they write to, so their writes go to the registry client behind
    ``MlflowClient``: same methods, same arguments, minus that re-read. A client without one
    gets its public methods.
    """
    inner = getattr(client, "_get_registry_client", None)
    return inner() if callable(inner) else client
