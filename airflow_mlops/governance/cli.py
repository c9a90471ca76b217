"""Plumbing shared by the promote, rollback and lineage commands: a client, an actor, clean errors."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow import MlflowClient


@contextlib.contextmanager
def open_client(conn_id: str = "mlflow_default", tracking_uri: str | None = None) -> Iterator[MlflowClient]:
    """The client an on-call command uses: the Airflow connection, unless a URI is given."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # stderr is for the one-line error
    if tracking_uri:
        from mlflow import MlflowClient

        from airflow_mlops.hooks.mlflow import temporary_env
        from airflow_mlops.hooks.mlflow_reach import check_server, check_sqlite_store, http_bounds

        # The same fail-fast rules as a connection: a typo never creates a store, a dead server fails in seconds.
        check_sqlite_store(tracking_uri, "--tracking-uri", create_store=False)
        check_server(tracking_uri, "--tracking-uri")
        with temporary_env(http_bounds({})):
            yield MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        return
    from airflow_mlops.hooks.mlflow import MlflowHook

    use_airflow_connections()
    hook = MlflowHook(conn_id)
    with hook.session():
        yield hook.get_client()


def use_airflow_connections() -> None:
    """Let hooks in this command find connections added with ``airflow connections add``.

    Outside a task, Airflow 3 looks connections up in env vars and secrets backends only; the
    metadata database is consulted in "server" processes. `airflow connections get` marks
    itself the same way, so a connection added with `airflow connections add` resolves here too.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # stderr is for the one-line error
    os.environ.setdefault("_AIRFLOW_PROCESS_CONTEXT", "server")


def cli_actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli:unknown"


def run_cli(command: str, action: Callable[[], int], *, metrics: bool = False) -> int:
    """Run a command; an expected failure becomes one line on stderr and exit code 1, not a traceback.

    ``metrics``: the command moves an alias, so it sends metrics through Airflow's ``[metrics]``
    backend as the ``promote`` task would; read-only commands start no metrics client.
    """
    from airflow.sdk.exceptions import AirflowException
    from mlflow.exceptions import MlflowException

    from airflow_mlops.observability.emit import use_airflow_config

    if metrics:
        use_airflow_config()
    try:
        return action()
    except (AirflowException, MlflowException) as err:
        message = " ".join(str(getattr(err, "message", None) or err).split())
        print(f"airflow-mlops {command}: error: {message}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # `lineage ... | head`: the reader left; say nothing more and let Python exit quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
