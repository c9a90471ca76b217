"""The promotion lock against a real sqlite MLflow registry: who may take a lock over, and when.

Contention between live holders and lease expiry are tested against a real ``mlflow server``
in tests/integration/test_promotion_race.py; this file covers the retry take-over.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from airflow_mlops.errors import PromotionLockTimeout
from airflow_mlops.registry_lock import LockOwner, _left_behind, lock_name, promotion_lock

TASK = "airflow:retrain/manual__1/promote/-1"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path_factory.mktemp('lock-store') / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _leave_lock(client: Any, model: str, owner: LockOwner | None, expires_in: float = 900) -> None:
    """What a try killed inside the lock leaves behind."""
    tags = {
        "mlops.lock.holder": "dead try",
        "mlops.lock.token": "t",
        "mlops.lock.expires": f"{time.time() + expires_in:.0f}",
    }
    if owner is not None:
        tags |= {"mlops.lock.owner": owner.key, "mlops.lock.attempt": str(owner.attempt)}
    client.create_registered_model(lock_name(model), tags=tags)


def test_a_retry_takes_over_the_lock_its_earlier_try_left(client: Any) -> None:
    _leave_lock(client, "m_retry", LockOwner(TASK, 1))

    started = time.monotonic()
    with promotion_lock(client, "m_retry", holder="try 2", owner=LockOwner(TASK, 2), wait_seconds=5):
        tags = client.get_registered_model(lock_name("m_retry")).tags
        assert tags["mlops.lock.holder"] == "try 2"
        assert tags["mlops.lock.owner"] == TASK and tags["mlops.lock.attempt"] == "2"

    assert time.monotonic() - started < 5  # taken over at once, not after the lease
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException, match=r"(?i)not found|does not exist"):
        client.get_registered_model(lock_name("m_retry"))  # released


@pytest.mark.parametrize(
    ("left_by", "why"),
    [
        (LockOwner("airflow:retrain/manual__2/promote/-1", 1), "another DAG run"),
        (LockOwner(TASK, 2), "the same try, still running"),
        (LockOwner(TASK, 3), "a later try"),
        (None, "a person with the CLI"),
    ],
)
def test_a_live_holders_lock_is_never_taken_over(client: Any, left_by: LockOwner | None, why: str) -> None:
    model = "m_live_" + "".join(c for c in why if c.isalnum())
    _leave_lock(client, model, left_by)

    with (
        pytest.raises(PromotionLockTimeout),
        promotion_lock(client, model, holder="me", owner=LockOwner(TASK, 2), wait_seconds=1),
    ):
        pytest.fail(f"took over a lock held by {why}")

    assert client.get_registered_model(lock_name(model)).tags["mlops.lock.holder"] == "dead try"


def test_an_expired_lease_is_broken_for_anyone(client: Any) -> None:
    _leave_lock(client, "m_expired", LockOwner("someone/else", 1), expires_in=-1)

    with promotion_lock(client, "m_expired", holder="next", wait_seconds=5):
        assert client.get_registered_model(lock_name("m_expired")).tags["mlops.lock.holder"] == "next"


@pytest.mark.parametrize(
    ("tags", "owner", "expected"),
    [
        ({"mlops.lock.owner": TASK, "mlops.lock.attempt": "1"}, LockOwner(TASK, 2), True),
        ({"mlops.lock.owner": TASK, "mlops.lock.attempt": "2"}, LockOwner(TASK, 2), False),
        ({"mlops.lock.owner": TASK, "mlops.lock.attempt": "x"}, LockOwner(TASK, 2), False),
        ({"mlops.lock.owner": TASK}, LockOwner(TASK, 2), False),
        ({"mlops.lock.owner": TASK, "mlops.lock.attempt": "1"}, None, False),
        ({}, LockOwner(TASK, 2), False),
        ({"mlops.lock.expires": "1"}, None, True),
        ({"mlops.lock.expires": "9999999999"}, None, False),  # not computed at collection: it would expire
    ],
)
def test_left_behind(tags: dict[str, str], owner: LockOwner | None, expected: bool) -> None:
    assert _left_behind(tags, owner) is expected


class _FlakyCreate:
    """A client whose first create of the lock fails with a server error, after or before committing."""

    def __init__(self, client: Any, *, commit_first: bool) -> None:
        self._client = client
        self._commit_first = commit_first
        self.creates = 0

    def create_registered_model(self, name: str, **kwargs: Any) -> Any:
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INTERNAL_ERROR

        self.creates += 1
        if self.creates == 1:
            if self._commit_first:
                self._client.create_registered_model(name, **kwargs)
            raise MlflowException("database is locked", error_code=INTERNAL_ERROR)
        return self._client.create_registered_model(name, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.mark.parametrize("commit_first", [False, True], ids=["lost", "committed"])
def test_a_server_error_while_taking_the_lock_is_tried_again_not_raised(client: Any, commit_first: bool) -> None:
    """A 5xx on create either lost the create (try again) or committed it (the lock is ours: never wait for it)."""
    model = f"m_flaky_{commit_first}"
    flaky = _FlakyCreate(client, commit_first=commit_first)
    with promotion_lock(flaky, model, holder="me", wait_seconds=2):
        assert client.get_registered_model(lock_name(model)).tags["mlops.lock.holder"] == "me"
    assert flaky.creates == (1 if commit_first else 2)
    with pytest.raises(Exception, match=r"RESOURCE_DOES_NOT_EXIST|not found|does not exist"):
        client.get_registered_model(lock_name(model))  # released


def test_a_client_error_while_taking_the_lock_is_raised(client: Any) -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    class _Refusing(_FlakyCreate):
        def create_registered_model(self, name: str, **kwargs: Any) -> Any:
            raise MlflowException("bad name", error_code=INVALID_PARAMETER_VALUE)

    with (
        pytest.raises(MlflowException, match="bad name"),
        promotion_lock(_Refusing(client, commit_first=False), "m_refused", holder="me", wait_seconds=2),
    ):
        pass
