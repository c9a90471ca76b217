"""One place that decides how a library's exception fails a task: retried, or failed at once.

Airflow retries any exception but ``AirflowFailException``. Left alone, a scikit-learn
``ValueError`` about a single-class target spends every retry (minutes of backoff) to fail the same
way, and a refused connection says nothing of which connection it was. :func:`translate` maps what a
library raised to a domain error whose base class carries the decision (see the tree in
:mod:`airflow_mlops.errors`) and whose message names the connection or setting involved; the
original stays attached as ``__cause__``.

| raised | becomes | retried |
|---|---|---|
| an ``MlopsException`` or Airflow exception (skip, fail, deferral) | itself | as it says |
| connection refused/reset/timed out, DNS, requests/urllib3 network errors | ``TransientError`` | yes |
| MLflow 5xx-type codes (TEMPORARILY_UNAVAILABLE, INTERNAL_ERROR, retries exhausted) | ``TransientError`` | yes |
| sqlite "database is locked" (direct or wrapped by MLflow) | ``TransientError`` | yes |
| other sqlite ``OperationalError`` (no such table, cannot open, read-only) | ``ConfigurationError`` | no |
| MLflow 4xx-type codes (INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, ...) | ``LibraryError`` | no |
| ValueError, TypeError, KeyError, IndexError, ZeroDivisionError, AssertionError | ``LibraryError`` | no |
| PermissionError, read-only or not-a-folder under the artifact root | ``ConfigurationError`` | no |
| anything else | itself | yes (Airflow's default) |
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from airflow_mlops.errors import classify
from airflow_mlops.errors.config import MlopsException

#: Long library messages (an HTTP response body) are cut; the original is the ``__cause__``.
MESSAGE_MAX_CHARS = 2000


@dataclass(frozen=True)
class ErrorScope:
    """What the failing task talks to, named in every translated error so the reader knows where to look.

    ``connections`` pairs an operator argument with its value, e.g. ``("mlflow_conn_id", "mlflow_default")``.
    """

    connections: tuple[tuple[str, str], ...] = ()
    tracking_uri: str | None = None
    artifact_root: str | None = None

    def describe(self) -> str:
        parts = [f"{arg}={conn_id!r}" for arg, conn_id in self.connections]
        if self.tracking_uri:
            parts.append(f"MLflow at {without_credentials(self.tracking_uri)}")
        return "; ".join(parts)


def without_credentials(uri: str) -> str:
    """``uri`` with any ``user:password@`` removed: error messages end up in logs and the UI."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def is_left_alone(err: BaseException) -> bool:
    """Ours or Airflow's: the class already says what Airflow should do (skip, fail, defer, retry)."""
    from airflow.sdk.exceptions import AirflowException

    if isinstance(err, MlopsException | AirflowException):
        return True
    return type(err).__module__.split(".", 1)[0] == "airflow"


def translate(err: BaseException, scope: ErrorScope | None = None) -> BaseException:
    """The domain error to raise instead of ``err`` (``raise translate(err) from err``), or ``err`` itself."""
    from airflow_mlops.errors.task import ConfigurationError, LibraryError, TransientError

    scope = scope or ErrorScope()
    if is_left_alone(err):
        return err
    unwritable = _unwritable_path(err, scope)
    if unwritable is not None:
        return ConfigurationError(unwritable)
    kind = classify.kind_of(err)
    if kind == "transient":
        return TransientError(_message("a transient failure, retried with the task's backoff", err, scope))
    if kind == "sqlite_store":
        return ConfigurationError(
            _message("the MLflow sqlite store cannot be used (check the connection's tracking_uri)", err, scope)
        )
    if kind == "deterministic":
        where = classify.raised_in(err)
        return LibraryError(_message(f"{where} refused the input; a retry would fail the same way", err, scope))
    return err


def _message(summary: str, err: BaseException, scope: ErrorScope) -> str:
    detail = " ".join(str(err).split())[:MESSAGE_MAX_CHARS] or "(no message)"
    context = scope.describe()
    return f"{summary}: {type(err).__name__}: {detail}" + (f" ({context})" if context else "")


def _unwritable_path(err: BaseException, scope: ErrorScope) -> str | None:
    """The ConfigurationError message for a path that cannot be written, or None if ``err`` is not one.

    Under the artifact root the fix is the ``[mlops] artifact_root`` setting, so that is what is named;
    a permission refused anywhere else names the path.
    """
    if not isinstance(err, OSError) or err.errno not in classify.UNWRITABLE_ERRNOS:
        return None
    path = str(err.filename or "")
    root = _local_path(scope.artifact_root)
    detail = f"{type(err).__name__}: {err.strerror or err}"
    if root and path.startswith(root):
        return (
            f"the [mlops] artifact_root setting ({scope.artifact_root}) is not writable here: {path} ({detail}); "
            "point AIRFLOW__MLOPS__ARTIFACT_ROOT at a folder or object store this worker can write"
        )
    if err.errno in (errno.EACCES, errno.EPERM):
        return _message(f"permission denied on {path or 'a path'}", err, scope)
    return None


def _local_path(uri: str | None) -> str | None:
    if not uri:
        return None
    if uri.startswith("file://"):
        return uri.removeprefix("file://")
    return uri if "://" not in uri else None
