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

A task retry does not wait for that lease. Airflow starts try N+1 of a task instance only
after giving try N up, so a lock whose owner is this same task instance at an earlier try
was left by a dead process, and the retry takes it over at once.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_mlops.errors import PromotionLockTimeout
from airflow_mlops.errors.classify import is_transient
from airflow_mlops.record import tag

if TYPE_CHECKING:
    from mlflow import MlflowClient

LOCK_SUFFIX = tag.LOCK_MODEL_SUFFIX
logger = logging.getLogger(__name__)


def lock_name(model_name: str) -> str:
    return f"{model_name}{LOCK_SUFFIX}"


def is_lock(name: str) -> bool:
    """Lock entries are registered models too; listings should leave them out."""
    return name.endswith(LOCK_SUFFIX)


@dataclass(frozen=True)
class LockOwner:
    """Who holds a lock across retries: one task instance (``key``) at one try (``attempt``)."""

    key: str
    attempt: int


def _left_behind(tags: dict[str, str], owner: LockOwner | None) -> bool:
    """True when the lock's lease is over, or an earlier try of ``owner`` holds it."""
    expires = float(tags.get(tag.LOCK_EXPIRES, "0") or 0)
    if expires and time.time() > expires:
        return True
    if owner is None or tags.get(tag.LOCK_OWNER) != owner.key:
        return False
    try:
        return int(tags.get(tag.LOCK_ATTEMPT, "")) < owner.attempt
    except ValueError:
        return False


def _break_if_left_behind(client: MlflowClient, name: str, owner: LockOwner | None) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        tags = client.get_registered_model(name).tags
    except MlflowException:
        return False  # released meanwhile
    if not _left_behind(tags, owner):
        return False
    logger.warning("Breaking the promotion lock %s left by %s", name, tags.get(tag.LOCK_HOLDER, "?"))
    try:
        client.delete_registered_model(name)
    except MlflowException:
        return False  # someone else broke or released it first; the next create decides
    return True


def _holds(client: MlflowClient, name: str, token: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        return bool(client.get_registered_model(name).tags.get(tag.LOCK_TOKEN) == token)
    except MlflowException:
        return False


@contextlib.contextmanager
def promotion_lock(
    client: MlflowClient,
    model_name: str,
    *,
    holder: str,
    owner: LockOwner | None = None,
    wait_seconds: float = 300,
    lease_seconds: float = 900,
) -> Iterator[None]:
    """Hold the model's promotion lock for the duration of the block.

    ``owner`` (a task instance and its try number) lets a retry take over the lock an earlier
    try of the same task left behind, instead of waiting out the lease.
    """
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
                    tag.LOCK_HOLDER: tag.clip(holder),
                    tag.LOCK_TOKEN: token,
                    tag.LOCK_EXPIRES: f"{time.time() + lease_seconds:.0f}",
                    **(
                        {tag.LOCK_OWNER: tag.clip(owner.key), tag.LOCK_ATTEMPT: str(owner.attempt)}
                        if owner is not None
                        else {}
                    ),
                },
                description=f"Held by airflow-mlops while the aliases of {model_name} move; deleted after.",
            )
            break
        except MlflowException as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS" and not is_transient(err):
                raise
            # A create that failed with a server error may still have committed: then the lock
            # there is ours, and waiting for it would wait for ourselves until the lease ends.
            if _holds(client, name, token):
                break
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                logger.warning("Taking the promotion lock %s failed (%s); trying again", name, err.error_code)
        if _break_if_left_behind(client, name, owner):
            continue
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
            if client.get_registered_model(name).tags.get(tag.LOCK_TOKEN) == token:
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
