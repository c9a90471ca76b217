"""Fail fast when the tracking store is not there: bounded client retries and one cheap preflight.

MLflow's HTTP client retries a refused connection 7 times with exponential backoff and waits 120 s
for each answer (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, ``MLFLOW_HTTP_REQUEST_TIMEOUT``): about five
minutes per call against a dead server, inside a task try that Airflow will retry again anyway. The
bounds here leave the retrying to Airflow's backoff, where it is visible, and the preflight turns
"unreachable" into one clear, retried error naming the connection and the URI.

A ``sqlite:///`` URI whose file does not exist would make MLflow create an empty store there: a
typo in a path silently starts a second registry. It is refused unless the connection says
``"create_store": true`` (the demo, tests building a fresh store).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from airflow_mlops.errors import ConfigurationError, TransientError
from airflow_mlops.errors.translate import without_credentials

#: Our bounds for MLflow's HTTP client: 2 attempts of at most 15 s silence each (about 32 s with backoff).
DEFAULT_HTTP_MAX_RETRIES = 1
DEFAULT_HTTP_TIMEOUT_SECONDS = 15
#: How long the preflight waits for ``<uri>/health``.
PREFLIGHT_TIMEOUT_SECONDS = 5.0

_RETRIES = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"
_TIMEOUT = "MLFLOW_HTTP_REQUEST_TIMEOUT"


def http_bounds(extra: Mapping[str, object]) -> dict[str, str]:
    """The MLflow HTTP settings to hold while a hook's block runs.

    A connection extra (``http_max_retries``, ``http_timeout``) wins; then a value the deployment set
    in the environment on purpose (left untouched); then our bounds.
    """
    bounds: dict[str, str] = {}
    for variable, key, default in (
        (_RETRIES, "http_max_retries", DEFAULT_HTTP_MAX_RETRIES),
        (_TIMEOUT, "http_timeout", DEFAULT_HTTP_TIMEOUT_SECONDS),
    ):
        if extra.get(key) not in (None, ""):
            bounds[variable] = str(int(str(extra[key])))
        elif variable not in os.environ:
            bounds[variable] = str(default)
    return bounds


def sqlite_path(uri: str) -> Path | None:
    """The file a ``sqlite:///`` URI names; None for other schemes and in-memory databases."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def check_sqlite_store(uri: str, who: str, *, create_store: bool) -> None:
    """Refuse a sqlite store that does not exist yet, unless creating one is the point."""
    path = sqlite_path(uri)
    if path is None or create_store or path.is_file():
        return
    raise ConfigurationError(
        f"{who} points at the sqlite MLflow store {path}, which does not exist; MLflow would silently create "
        'an empty store there. Fix the path, or set the connection extra "create_store": true to create it'
    )


def check_server(uri: str, who: str, *, username: str | None = None, password: str | None = None) -> None:
    """One GET of ``<uri>/health``; any HTTP answer below 500 means the server is there.

    Raises TransientError (retried with Airflow's backoff) when nothing answers in time.
    """
    import urllib.error
    import urllib.request

    if urlsplit(uri).scheme not in ("http", "https"):
        return
    request = urllib.request.Request(f"{uri.rstrip('/')}/health", method="GET")
    if username and password:
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=PREFLIGHT_TIMEOUT_SECONDS):
            return
    except urllib.error.HTTPError as err:
        if err.code < 500:
            return
        reason = f"HTTP {err.code} from /health"
    except (OSError, ValueError) as err:  # URLError, refused, reset, timed out; ValueError: a malformed URL
        reason = f"{type(err).__name__}: {getattr(err, 'reason', None) or err}"
    raise TransientError(f"MLflow at {without_credentials(uri)} ({who}) is not reachable: {reason}")
