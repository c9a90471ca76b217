"""A real model server as a child process: MLflow's pyfunc scoring server on a loopback port.

MLflow 3.17's scoring server is a FastAPI app run by uvicorn (``mlflow models serve`` builds
``uvicorn ... mlflow.pyfunc.scoring_server.app:app`` and passes the model's local path in
``__pyfunc_model_path__``). This starts exactly that command with the worker's own interpreter
(``python -m uvicorn``: the environment is already the right one, which is what
``--env-manager local`` means, and a worker's PATH need not hold ``uvicorn``). It binds
127.0.0.1 only, and the process is always stopped: on leaving the ``with`` block, when the task
is killed (the operator's ``on_kill``), and when the worker itself dies (the child asks Linux
for SIGTERM on its parent's death).
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from airflow_mlops.errors import ModelServerError, TransientError

#: The ASGI app MLflow's scoring server runs; it loads the model named by :data:`MODEL_PATH_ENV` on import.
SCORING_APP = "mlflow.pyfunc.scoring_server.app:app"
MODEL_PATH_ENV = "__pyfunc_model_path__"
REQUEST_TIMEOUT_ENV = "MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT"
#: Lines of the server's output quoted in an error.
TAIL_LINES = 25
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Reply:
    """One answer: the status (None when nothing answered), the body and the wall time of the request."""

    status: int | None
    body: bytes
    elapsed_ms: float
    error: str | None = None


def free_loopback_port() -> int:
    """A port nothing listens on right now (the server may still lose it to a race: see ``start``)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> Callable[[], object] | None:
    """What the child runs between fork and exec: ask Linux to SIGTERM it when the worker dies, even by SIGKILL.

    libc's ``prctl`` is looked up here, in the parent, so the child only calls it (no dlopen after fork).
    None where there is no prctl (not Linux): the operator's finally and on_kill still stop the server.
    """
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return functools.partial(prctl, _PR_SET_PDEATHSIG, signal.SIGTERM)


class ModelServer:
    """MLflow's scoring server for one local model directory, started on enter and stopped on exit.

    ``model_uri`` is only used to name the model in errors; ``workdir`` holds the server's log.
    ``detached`` servers (a deployment's) do not die with the process that started them: whoever
    starts one records its pid and stops it later (``airflow_mlops.deploy``); ``extra_env`` marks
    them so a stray one can be found.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        model_uri: str,
        workdir: str | Path,
        startup_timeout: float = 120.0,
        request_timeout: float = 30.0,
        detached: bool = False,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.model_path = str(model_path)
        self.detached = detached
        self.extra_env = dict(extra_env or {})
        self.model_uri = model_uri
        self.log_path = Path(workdir) / "model-server.log"
        self.startup_timeout = startup_timeout
        self.request_timeout = request_timeout
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None
        self._started = 0.0
        self._connection: http.client.HTTPConnection | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> ModelServer:
        try:
            self.start()
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def command(self, port: int) -> list[str]:
        return [
            sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1", "--no-access-log", SCORING_APP,
        ]  # fmt: skip

    def start(self) -> None:
        """Start the server process; it answers once ``wait_ready`` returns."""
        self.port = free_loopback_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
        env[MODEL_PATH_ENV] = self.model_path
        env[REQUEST_TIMEOUT_ENV] = str(max(1, round(self.request_timeout)))
        env.update(self.extra_env)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(self.port),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, stopped as one
                preexec_fn=None if self.detached else _die_with_parent(),  # only prctl, looked up before the fork
            )
        self._started = time.monotonic()

    def wait_ready(self) -> float:
        """Seconds until ``GET /ping`` answered 200; fails fast when the process exits first."""
        process = self._require_process()
        deadline = self._started + self.startup_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._exited_early(process.returncode)
            reply = self.request("GET", "/ping", timeout=2.0)
            if reply.status == 200:
                self.startup_seconds = time.monotonic() - self._started
                return self.startup_seconds
            time.sleep(0.1)
        raise TransientError(
            f"the model server for {self.model_uri} did not answer on {self.url}/ping within "
            f"{self.startup_timeout:g} s (a busy worker? serving_check.startup_timeout_seconds sets the limit); "
            f"its output ended with:\n{self.output_tail()}"
        )

    def stop(self) -> None:
        """Stop the server's process group: SIGTERM, then SIGKILL after 10 s. Safe to call twice."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    # --- requests --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def invoke(self, body: bytes) -> Reply:
        """``POST /invocations`` with a JSON body."""
        return self.request("POST", "/invocations", body, timeout=self.request_timeout)

    def request(self, method: str, path: str, body: bytes | None = None, *, timeout: float) -> Reply:
        """One request on a kept-alive connection; a connection error is a reply without a status."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        started = time.perf_counter()
        try:
            connection = self._connect(timeout)
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as err:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            return Reply(None, b"", (time.perf_counter() - started) * 1000, f"{type(err).__name__}: {err}")
        return Reply(response.status, data, (time.perf_counter() - started) * 1000)

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        if self._connection is None:
            self._connection = http.client.HTTPConnection("127.0.0.1", self._require_port(), timeout=timeout)
        else:
            self._connection.timeout = timeout
            if self._connection.sock is not None:
                self._connection.sock.settimeout(timeout)
        return self._connection

    # --- errors ----------------------------------------------------------------------------------

    def output_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no output)"
        return "\n".join(lines[-TAIL_LINES:]) or "(no output)"

    def _exited_early(self, code: int | None) -> None:
        tail = self.output_tail()
        where = f"the model server for {self.model_uri} on 127.0.0.1:{self.port}"
        if "address already in use" in tail.lower():
            # Another process took the free port between our check and the bind: a retry picks another.
            raise TransientError(f"{where} could not bind its port (taken meanwhile):\n{tail}")
        if code is not None and code < 0:
            # Killed by a signal from outside (an operator, the OOM killer): not a verdict on the model.
            raise TransientError(f"{where} was killed by signal {-code} before it answered /ping:\n{tail}")
        raise ModelServerError(
            f"{where} exited with code {code} before it answered /ping; its output ended with:\n{tail}"
        )

    def _require_process(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise RuntimeError("the model server was not started")
        return self.process

    def _require_port(self) -> int:
        if self.port is None:
            raise RuntimeError("the model server was not started")
        return self.port
