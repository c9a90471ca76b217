"""Which failures a retry can fix: the rules behind :func:`airflow_mlops.errors.translate.translate`.

Libraries are recognised by the module and class names in an exception's MRO, never by importing
them: an MLflow or SQLAlchemy exception can only exist once its library is loaded, and this runs in
an error path that must not pay for (or fail on) an import.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from typing import Literal

Kind = Literal["transient", "deterministic", "sqlite_store", "unknown"]

#: Builtin exceptions a library raises when the input itself is wrong: the same input fails again.
DETERMINISTIC_BUILTINS: tuple[type[BaseException], ...] = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    ZeroDivisionError,
    AssertionError,
)

#: (module prefix, class name) of network failures raised by requests and urllib3.
_TRANSIENT_LIBRARY_CLASSES = {
    ("requests", "ConnectionError"),
    ("requests", "Timeout"),
    ("requests", "ChunkedEncodingError"),
    ("urllib3", "MaxRetryError"),
    ("urllib3", "NewConnectionError"),
    ("urllib3", "ConnectTimeoutError"),
    ("urllib3", "ReadTimeoutError"),
    ("urllib3", "ProtocolError"),
    ("urllib3", "TimeoutError"),
}

#: MLflow error codes (``MlflowException.error_code``) that say "later may work".
TRANSIENT_MLFLOW_CODES = frozenset(
    {
        "TEMPORARILY_UNAVAILABLE",
        "INTERNAL_ERROR",
        "DEADLINE_EXCEEDED",
        "REQUEST_LIMIT_EXCEEDED",
        "RESOURCE_EXHAUSTED",
        "ABORTED",
    }
)

#: SQLite messages that mean another writer holds the database right now.
_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")

#: OSError numbers that mean "this path cannot be written", whoever the user is.
UNWRITABLE_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR})


def mro_names(err: BaseException) -> Iterator[tuple[str, str]]:
    """(module, class name) of each class ``err`` is an instance of, most specific first."""
    for cls in type(err).__mro__:
        yield cls.__module__, cls.__name__


def chain(err: BaseException, depth: int = 6) -> Iterator[BaseException]:
    """``err`` and the exceptions it was raised from or while handling, nearest first."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen and len(seen) < depth:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_mlflow_error(err: BaseException) -> bool:
    return any(module.startswith("mlflow") and name == "MlflowException" for module, name in mro_names(err))


def is_network_error(err: BaseException) -> bool:
    """A connection refused, reset or timed out, or a name that did not resolve."""
    if isinstance(err, ConnectionError | TimeoutError | socket.gaierror | socket.herror):
        return True
    return any(
        module.split(".", 1)[0] == library and name == wanted
        for module, name in mro_names(err)
        for library, wanted in _TRANSIENT_LIBRARY_CLASSES
    )


def sqlite_operational_error(err: BaseException) -> BaseException | None:
    """The sqlite3/SQLAlchemy ``OperationalError`` behind ``err`` (MLflow wraps it), if any."""
    for link in chain(err):
        for module, name in mro_names(link):
            if name == "OperationalError" and module.split(".", 1)[0] in ("sqlite3", "sqlalchemy"):
                return link
    return None


def is_sqlite_busy(err: BaseException) -> bool:
    text = str(err).lower()
    return any(busy in text for busy in _SQLITE_BUSY)


def mlflow_kind(err: BaseException) -> Kind:
    """Transient for 5xx-type codes (a server or store that may recover), deterministic for the 4xx ones."""
    code = str(getattr(err, "error_code", "INTERNAL_ERROR"))
    if code in TRANSIENT_MLFLOW_CODES:
        return "transient"
    status = getattr(err, "get_http_status_code", None)
    http_status = int(status()) if callable(status) else 500
    return "transient" if http_status >= 500 or http_status == 429 else "deterministic"


def kind_of(err: BaseException) -> Kind:
    """Whether a retry can help ``err``; "unknown" keeps Airflow's default (retry)."""
    sqlite = sqlite_operational_error(err)
    if sqlite is not None:
        return "transient" if is_sqlite_busy(sqlite) else "sqlite_store"
    if is_network_error(err):
        return "transient"
    if is_mlflow_error(err):
        return mlflow_kind(err)
    if isinstance(err, DETERMINISTIC_BUILTINS):
        return "deterministic"
    return "unknown"


def is_transient(err: BaseException) -> bool:
    """An error another try may not meet: the infrastructure's (network, server, store, disk), not the input's.

    Our own errors say it by their base class; anything else by :func:`kind_of`, with an OSError
    (a full disk, an unreachable mount) counted as the infrastructure's.
    """
    from airflow_mlops.errors.task import MlopsError, PermanentError

    if isinstance(err, MlopsError):
        return not isinstance(err, PermanentError)
    return kind_of(err) == "transient" or isinstance(err, OSError)


def raised_in(err: BaseException) -> str:
    """The module of the innermost frame that raised ``err``: where to look (``sklearn.utils.multiclass``)."""
    tb = err.__traceback__
    module = "?"
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", "?"))
        tb = tb.tb_next
    return module
