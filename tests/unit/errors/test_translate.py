"""Each class of error a library raises, raised for real, and what a task turns it into.

The exceptions come from the libraries themselves (scikit-learn refusing a single-class target, a
real sqlite lock, a refused TCP connection through requests, MLflow's own codes), so a library that
changes how it reports a failure shows up here first.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from airflow_mlops.errors import (
    ConfigurationError,
    DataValidationError,
    LibraryError,
    MlopsError,
    PermanentError,
    TransientError,
)
from airflow_mlops.errors.translate import ErrorScope, translate, without_credentials

SCOPE = ErrorScope(
    connections=(("mlflow_conn_id", "mlflow_prod"), ("dvc_conn_id", "dvc_data")),
    tracking_uri="https://alice:s3cret@mlflow.internal:5000",
)


def raised(action: Callable[[], Any]) -> BaseException:
    try:
        action()
    except Exception as err:
        return err
    raise AssertionError("the action raised nothing")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_retried(err: BaseException) -> None:
    assert isinstance(err, AirflowException) and not isinstance(err, AirflowFailException)


def assert_not_retried(err: BaseException) -> None:
    assert isinstance(err, AirflowFailException) and isinstance(err, PermanentError)


def assert_names_scope(err: BaseException) -> None:
    assert "mlflow_conn_id='mlflow_prod'" in str(err) and "dvc_conn_id='dvc_data'" in str(err)
    assert "MLflow at https://mlflow.internal:5000" in str(err)
    assert "s3cret" not in str(err) and "alice" not in str(err)


# --- left alone ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "err",
    [
        AirflowSkipException("nothing to do"),
        AirflowFailException("stop"),
        AirflowException("retry me"),
        DataValidationError("bad data"),
        TransientError("already ours"),
    ],
)
def test_ours_and_airflows_exceptions_are_unchanged(err: BaseException) -> None:
    assert translate(err, SCOPE) is err


def test_an_unknown_exception_is_unchanged_so_airflow_retries_it() -> None:
    err = raised(lambda: Path("/").read_bytes())  # IsADirectoryError: no rule, Airflow's default applies
    assert translate(err, SCOPE) is err


# --- deterministic: never retried ------------------------------------------------------------------


def test_a_single_class_target_from_scikit_learn_is_not_retried_and_names_the_library() -> None:
    from sklearn.linear_model import LogisticRegression

    err = raised(lambda: LogisticRegression().fit([[0.0], [1.0], [2.0]], [1, 1, 1]))
    assert isinstance(err, ValueError)
    translated = translate(err, SCOPE)
    assert isinstance(translated, LibraryError)
    assert_not_retried(translated)
    assert_names_scope(translated)
    assert "sklearn." in str(translated) and "ValueError" in str(translated)


@pytest.mark.parametrize(
    "action",
    [
        lambda: __import__("pandas").DataFrame({"a": [1]})["missing"],  # KeyError
        lambda: 1 / 0,
        lambda: [][1],
        lambda: int("abc"),
        lambda: len(5),  # type: ignore[arg-type]
    ],
)
def test_builtin_errors_raised_by_code_are_not_retried(action: Callable[[], Any]) -> None:
    err = raised(action)
    translated = translate(err, SCOPE)
    assert isinstance(translated, LibraryError), type(err)
    assert type(err).__name__ in str(translated)


@pytest.mark.parametrize("code", ["INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "PERMISSION_DENIED"])
def test_mlflow_client_errors_are_not_retried(code: str) -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.protos import databricks_pb2

    err = MlflowException("refused", error_code=getattr(databricks_pb2, code))
    translated = translate(err, SCOPE)
    assert isinstance(translated, LibraryError)
    assert_names_scope(translated)


def test_a_real_mlflow_store_refusing_a_request_is_not_retried(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    err = raised(lambda: client.get_run("0" * 32))
    translated = translate(err, SCOPE)
    assert isinstance(translated, LibraryError), repr(err)


def test_a_sqlite_store_without_tables_is_a_configuration_error(tmp_path: Path) -> None:
    database = tmp_path / "empty.db"
    sqlite3.connect(database).close()
    err = raised(lambda: sqlite3.connect(database).execute("select * from runs"))
    translated = translate(err, SCOPE)
    assert isinstance(translated, ConfigurationError)
    assert "no such table" in str(translated) and "mlflow_conn_id='mlflow_prod'" in str(translated)


# --- transient: retried with Airflow's backoff -------------------------------------------------------


def test_a_refused_connection_through_requests_is_transient() -> None:
    import requests

    err = raised(lambda: requests.get(f"http://127.0.0.1:{closed_port()}/", timeout=2))
    translated = translate(err, SCOPE)
    assert isinstance(translated, TransientError)
    assert_retried(translated)
    assert_names_scope(translated)


def test_a_refused_socket_and_a_timeout_are_transient() -> None:
    refused = raised(lambda: socket.create_connection(("127.0.0.1", closed_port()), timeout=2))
    assert isinstance(translate(refused, SCOPE), TransientError)
    assert isinstance(translate(TimeoutError("timed out"), SCOPE), TransientError)


def test_urllib3_retries_exhausted_are_transient() -> None:
    import urllib3

    pool = urllib3.PoolManager(retries=urllib3.Retry(total=0))
    err = raised(lambda: pool.request("GET", f"http://127.0.0.1:{closed_port()}/"))
    assert isinstance(translate(err, SCOPE), TransientError), repr(err)


@pytest.mark.parametrize("code", ["TEMPORARILY_UNAVAILABLE", "INTERNAL_ERROR", "REQUEST_LIMIT_EXCEEDED"])
def test_mlflow_server_errors_are_transient(code: str) -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.protos import databricks_pb2

    translated = translate(MlflowException("busy", error_code=getattr(databricks_pb2, code)), SCOPE)
    assert isinstance(translated, TransientError)


def test_mlflow_exhausting_its_http_retries_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    client = MlflowClient(tracking_uri=f"http://127.0.0.1:{closed_port()}")
    err = raised(lambda: client.search_experiments(max_results=1))
    translated = translate(err, SCOPE)
    assert isinstance(translated, TransientError), repr(err)


def test_a_locked_sqlite_database_is_transient(tmp_path: Path) -> None:
    database = tmp_path / "locked.db"
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("create table t (x)")
    holder.execute("begin exclusive")
    try:
        err = raised(lambda: sqlite3.connect(database, timeout=0).execute("insert into t values (1)"))
    finally:
        holder.close()
    translated = translate(err, SCOPE)
    assert isinstance(translated, TransientError) and "database is locked" in str(translated)


def test_a_locked_database_wrapped_by_mlflow_is_transient_and_a_missing_table_is_not() -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE

    def wrapped(message: str) -> BaseException:
        def action() -> None:
            try:
                raise sqlite3.OperationalError(message)
            except sqlite3.OperationalError as cause:
                raise MlflowException(str(cause), error_code=TEMPORARILY_UNAVAILABLE) from cause

        return raised(action)

    assert isinstance(translate(wrapped("database is locked"), SCOPE), TransientError)
    assert isinstance(translate(wrapped("no such table: experiments"), SCOPE), ConfigurationError)


# --- paths ------------------------------------------------------------------------------------------------


def test_an_unwritable_artifact_root_names_the_setting(tmp_path: Path) -> None:
    from airflow_mlops import artifacts

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    root = f"file://{blocker}/artifacts"
    scope = ErrorScope(connections=(), artifact_root=root)
    import pandas as pd

    err = raised(lambda: artifacts.write_parquet(pd.DataFrame({"a": [1]}), f"{root}/dag/run/train.parquet"))
    translated = translate(err, scope)
    assert isinstance(translated, ConfigurationError), repr(err)
    assert "[mlops] artifact_root" in str(translated) and str(blocker) in str(translated)


def test_a_permission_error_elsewhere_is_a_configuration_error_naming_the_path() -> None:
    translated = translate(PermissionError(13, "Permission denied", "/srv/data/x.csv"), SCOPE)
    assert isinstance(translated, ConfigurationError)
    assert "/srv/data/x.csv" in str(translated)


# --- the operator base class applies it ---------------------------------------------------------------


def test_every_operator_execute_translates_and_keeps_the_cause() -> None:
    from airflow_mlops.operators.base import MlopsBaseOperator

    class Fails(MlopsBaseOperator):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.dvc_conn_id = "dvc_x"

        def execute(self, context: Any) -> None:
            raise ValueError("y contains only one class")

    with pytest.raises(LibraryError) as caught:
        Fails(task_id="fails").execute({})
    assert isinstance(caught.value.__cause__, ValueError)
    assert "dvc_conn_id='dvc_x'" in str(caught.value) and "only one class" in str(caught.value)


def test_operators_of_the_project_are_all_wrapped() -> None:
    from airflow_mlops.operators import (
        approval,
        data,
        drift,
        evaluate,
        gate,
        prepare,
        registry,
        scoring,
        train,
        validation,
    )

    modules = [approval, data, drift, evaluate, gate, prepare, registry, scoring, train, validation]
    operators = [
        obj
        for module in modules
        for obj in vars(module).values()
        if isinstance(obj, type) and obj.__module__ == module.__name__ and hasattr(obj, "execute")
    ]
    assert len(operators) >= 10
    for operator in operators:
        for name in ("execute", "execute_complete"):
            if name in vars(operator):
                assert getattr(vars(operator)[name], "_translates_errors", False), f"{operator.__name__}.{name}"


def test_transient_is_retried_and_permanent_is_not() -> None:
    assert issubclass(TransientError, MlopsError) and not issubclass(TransientError, AirflowFailException)
    assert issubclass(LibraryError, PermanentError)


def test_credentials_are_removed_from_uris() -> None:
    assert without_credentials("https://u:p@host:5000/x") == "https://host:5000/x"
    assert without_credentials("sqlite:///a/b.db") == "sqlite:///a/b.db"
