"""An unreachable or mistyped tracking store fails a try in seconds, naming the connection and the URI.

No assertion here is on time: the bound is proven by structure. A loopback listener accepts TCP
connections and never answers (the worst case: a hung server, not a refused port), and the tests
count how many connections MLflow's client and the preflight opened. Elapsed times are printed.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_mlops.errors import ConfigurationError, TransientError
from airflow_mlops.errors.translate import translate
from airflow_mlops.hooks.mlflow import MlflowHook
from airflow_mlops.hooks.mlflow_reach import http_bounds


class SilentServer:
    """Accepts every connection, reads nothing, answers nothing; counts the connections."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **extra: Any) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "mlflow", "extra": extra}))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_hung_server_fails_the_preflight_with_one_connection(
    monkeypatch: pytest.MonkeyPatch, silent: SilentServer
) -> None:
    set_conn(monkeypatch, "mlflow_hung", tracking_uri=silent.url)
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        MlflowHook("mlflow_hung").get_client()
    print(f"preflight gave up after {time.monotonic() - started:.1f}s, {len(silent.accepted)} connection(s)")
    assert len(silent.accepted) == 1
    assert f"MLflow at {silent.url} (connection 'mlflow_hung') is not reachable" in str(caught.value)


def test_mlflows_own_retries_are_bounded_inside_a_session(
    monkeypatch: pytest.MonkeyPatch, silent: SilentServer
) -> None:
    for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    set_conn(monkeypatch, "mlflow_hung", tracking_uri=silent.url, http_timeout=1)
    hook = MlflowHook("mlflow_hung")
    started = time.monotonic()
    with pytest.raises(Exception) as caught, hook.session():
        hook.get_client(preflight=False).search_experiments(max_results=1)
    print(f"MLflow's client gave up after {time.monotonic() - started:.1f}s, {len(silent.accepted)} connection(s)")
    # MLflow's default (7 retries) would open 8 connections; the hook allows one retry.
    assert 1 <= len(silent.accepted) <= 2
    translated = translate(caught.value)
    assert isinstance(translated, TransientError), repr(caught.value)


def test_the_bounds_are_restored_after_the_session(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    set_conn(monkeypatch, "mlflow_local", tracking_uri="databricks")
    with MlflowHook("mlflow_local").session():
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "1"
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ


def test_an_extra_overrides_the_bounds_and_a_deliberate_environment_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    assert http_bounds({}) == {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"}
    assert http_bounds({"http_max_retries": "3", "http_timeout": 5}) == {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    }


def test_a_closed_port_is_transient_and_names_connection_and_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    set_conn(monkeypatch, "mlflow_down", tracking_uri=url)
    with pytest.raises(TransientError, match=rf"MLflow at {url} \(connection 'mlflow_down'\) is not reachable"):
        MlflowHook("mlflow_down").get_client()


def test_credentials_never_appear_in_the_unreachable_error(monkeypatch: pytest.MonkeyPatch) -> None:
    port = closed_port()
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLFLOW_AUTH",
        json.dumps({"conn_type": "mlflow", "host": f"http://bob:hunter2@127.0.0.1:{port}"}),
    )
    with pytest.raises(TransientError) as caught:
        MlflowHook("mlflow_auth").get_client()
    assert "hunter2" not in str(caught.value) and f"127.0.0.1:{port}" in str(caught.value)


def test_a_mistyped_sqlite_path_is_refused_naming_connection_and_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "mlfow.db"
    set_conn(monkeypatch, "mlflow_typo", tracking_uri=f"sqlite:///{missing}")
    with pytest.raises(ConfigurationError) as caught:
        MlflowHook("mlflow_typo").get_client()
    assert "connection 'mlflow_typo'" in str(caught.value) and str(missing) in str(caught.value)
    assert "create_store" in str(caught.value)
    assert not missing.exists()


def test_create_store_lets_the_hook_create_a_fresh_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.db"
    set_conn(monkeypatch, "mlflow_fresh", tracking_uri=f"sqlite:///{fresh}", create_store=True)
    hook = MlflowHook("mlflow_fresh")
    with hook.session():
        hook.get_or_create_experiment("e")
    assert fresh.is_file()


def test_the_cli_fails_fast_on_a_hung_server_through_a_connection_and_a_uri(
    monkeypatch: pytest.MonkeyPatch, silent: SilentServer
) -> None:
    from airflow_mlops.governance.cli import open_client

    set_conn(monkeypatch, "mlflow_hung", tracking_uri=silent.url)
    started = time.monotonic()
    with pytest.raises(TransientError, match="connection 'mlflow_hung'"), open_client("mlflow_hung"):
        pass
    with pytest.raises(TransientError, match=r"--tracking-uri"), open_client(tracking_uri=silent.url):
        pass
    print(f"the CLI gave up twice in {time.monotonic() - started:.1f}s, {len(silent.accepted)} connection(s)")
    assert len(silent.accepted) == 2


def test_the_cli_refuses_a_missing_sqlite_store(tmp_path: Path) -> None:
    from airflow_mlops.governance.cli import open_client

    missing = tmp_path / "nope.db"
    with pytest.raises(ConfigurationError, match="--tracking-uri"), open_client(tracking_uri=f"sqlite:///{missing}"):
        pass
    assert not missing.exists()
