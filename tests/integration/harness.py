"""A throwaway embedded-default deployment for integration tests.

Each pipeline run goes through ``dag.test()`` in a child process, because Airflow reads its
home, database and dags folder at import time and this test process has its own settings.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any

import yaml

from airflow_mlops.demo.data_repo import commit_data_version, create_data_repo
from airflow_mlops.demo.runner import demo_environment
from airflow_mlops.factory.loader import LOADER_STUB

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_PIPELINE = REPO_ROOT / "dags" / "pipelines" / "breast_cancer.yaml"
EXAMPLE_SUITE = REPO_ROOT / "dags" / "pipelines" / "suites" / "breast_cancer.yaml"
DATA_PATH = "data/breast_cancer.csv"


class PipelineEnv:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.dags = root / "dags"
        (self.dags / "pipelines").mkdir(parents=True)
        shutil.copytree(EXAMPLE_SUITE.parent, self.dags / "pipelines" / "suites")
        self.env = demo_environment(root, self.dags)
        self.tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
        migrated_database(Path(self.env["AIRFLOW_HOME"]), self.env)
        self.repo = create_data_repo(root / "data-repo", root / "dvc-remote")
        self._runs = 0
        self._server: RunServer | None = None

    def commit_data(self, content: bytes, message: str, tag: str | None = None, path: str = DATA_PATH) -> str:
        return commit_data_version(self.repo, path, content, message, tag)

    def write_pipeline(self, dag_id: str, **overrides: Any) -> dict[str, Any]:
        """The example pipeline under another dag_id, with top-level sections replaced.

        The serving check is off unless a test passes ``serving_check={...}``: it starts a model
        server per run (seconds on two cores), and only the tests about it need one.
        """
        spec = yaml.safe_load(EXAMPLE_PIPELINE.read_text())
        spec["pipeline"] = dag_id
        spec["retries"] = {"retries": 0}
        spec["models"][1]["params"]["n_estimators"] = 25
        spec["serving_check"] = {**spec.get("serving_check", {}), "enabled": False}
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(spec.get(key), dict):
                spec[key] = {**spec[key], **value}
            else:
                spec[key] = value
        path = self.dags / "pipelines" / f"{dag_id}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        path.with_suffix(".py").write_text(LOADER_STUB)
        return spec

    def start_run(self, dag_id: str) -> tuple[ForkedRun, Path]:
        """Start a DAG run in the background; returns the run (Popen's poll, wait and kill) and where its outcome lands.

        Forked from the run server like ``run()``'s, so a test that answers a run while it waits
        (an approval) does not pay a fresh process's imports.
        """
        out, log = self._paths(dag_id)
        server = self._run_server()
        return ForkedRun(server, server.start([dag_id, str(out)], log)), out

    def finish_run(self, process: ForkedRun, out: Path, timeout: float = 600) -> dict[str, Any]:
        code = _wait_or_dump(process, timeout)
        log = out.with_suffix(".log").read_text()
        if code != 0 or not out.exists():
            raise AssertionError(f"run did not complete (exit {code}):\n{log[-8000:]}")
        outcome: dict[str, Any] = json.loads(out.read_text())
        outcome["log"] = log
        return outcome

    def run(self, dag_id: str, logical_date: str | None = None, conf: dict[str, Any] | None = None) -> dict[str, Any]:
        """One DAG run with dag.test(); the same ``logical_date`` again re-runs that DAG run (same run id).

        ``conf`` is the run's conf, as ``airflow dags trigger --conf`` gives it (it sets the DAG's params).

        The run is a process of its own, forked from a server that has done the imports (run_server.py);
        a change to ``self.env`` starts a new server, since Airflow reads its settings at import.
        """
        out, log = self._paths(dag_id)
        server = self._run_server()
        extra = [f"--conf={json.dumps(conf)}"] if conf else []
        code = server.run([dag_id, str(out), *filter(None, [logical_date]), *extra], log, timeout=600)
        if code != 0 or not out.exists():
            raise AssertionError(f"run of {dag_id} did not complete (exit {code}):\n{log.read_text()[-8000:]}")
        outcome: dict[str, Any] = json.loads(out.read_text())
        outcome["log"] = log.read_text()
        return outcome

    def _paths(self, dag_id: str) -> tuple[Path, Path]:
        self._runs += 1
        out = self.root / "logs" / f"{self._runs}-{dag_id}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        return out, out.with_suffix(".log")

    def _run_server(self) -> RunServer:
        """The run server for the current environment (a changed one starts a new server)."""
        if self._server is None or self._server.env != self.env:
            if self._server is not None:
                self._server.stop()
            self._server = RunServer(self.env, self.root)
            weakref.finalize(self, self._server.stop)
        return self._server

    def client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)


def _wait_or_dump(process: ForkedRun, timeout: float) -> int | str:
    """The run's exit code; past ``timeout``, its threads' stacks go to its log and it is killed.

    A run that hangs must fail with where it hung (run_dag dumps its stacks on SIGUSR1), not with a
    bare TimeoutExpired and a log that stops mid-run.
    """
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _dump_and_kill(process.pid)
        process.wait()
        return _killed(timeout)


def _dump_and_kill(pid: int) -> None:
    """SIGUSR1 (the run writes its threads' stacks to its log), a moment to write them, then SIGKILL."""
    os.kill(pid, signal.SIGUSR1)
    time.sleep(3)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _killed(timeout: float) -> str:
    return f"killed after {timeout:g} s; the stacks it was in are at the end of its log"


class RunServer:
    """The test side of run_server.py: one server per environment, one forked process per run."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = dict(env)
        self.log = cwd / "run-server.log"
        self.busy = False
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("run_server.py"))],
            env=self.env,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log.open("wb"),
            text=True,
        )

    def run(self, argv: list[str], log: Path, timeout: float) -> int | str:
        """The run's exit code; past ``timeout``, its stacks go to its log and it is killed (see _wait_or_dump)."""
        return _wait_or_dump(ForkedRun(self, self.start(argv, log)), timeout)

    def start(self, argv: list[str], log: Path) -> int:
        """Fork a run; its pid. One run at a time: the server answers in order and waits for each child."""
        assert self.process.stdin is not None and not self.busy, "the run server is already running a DAG run"
        self.process.stdin.write(json.dumps({"argv": argv, "log": str(log)}) + "\n")
        self.process.stdin.flush()
        self.busy = True
        return int(self._answer(timeout=300)["pid"])

    def ended(self, timeout: float) -> int | None:
        """The running child's exit code once it ends, or None if it is still running after ``timeout``."""
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            return None
        self.busy = False
        return int(self._answer(timeout=5)["code"])

    def _answer(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            said = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"the run server did not answer (exit {self.process.poll()}):\n{said}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            with contextlib.suppress(OSError):
                self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class ForkedRun:
    """A run forked by a RunServer, with what tests use of ``subprocess.Popen``: pid, poll, wait, kill."""

    def __init__(self, server: RunServer, pid: int) -> None:
        self.server = server
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.server.ended(timeout=0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self.server.ended(timeout=3600 if timeout is None else timeout)
            if self.returncode is None:
                raise subprocess.TimeoutExpired(f"run pid {self.pid}", timeout or 0)
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.wait(timeout=30)


#: Where this test process keeps its one migrated database (see migrated_database).
_MIGRATED = Path(tempfile.mkdtemp(prefix="airflow-mlops-migrated-")) / "airflow.db"


def migrated_database(home: Path, env: dict[str, str]) -> None:
    """An Airflow metadata database at ``home/airflow.db`` at the current schema, as `airflow db migrate` leaves it.

    The first one in a test process is migrated for real; the others are copies of it. A migration
    costs seconds of CPU and a fresh database holds nothing of the deployment it was made for (no
    path, no DAG: the bundles and DAGs are written by the runs), so each copy is what migrating
    again would have produced.
    """
    home.mkdir(parents=True, exist_ok=True)
    if _MIGRATED.exists():
        shutil.copyfile(_MIGRATED, home / "airflow.db")
        return
    subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "db", "migrate"], env=env, check=True, capture_output=True
    )
    shutil.copyfile(home / "airflow.db", _MIGRATED)


# Under pytest-xdist, worker gwN hands out ports from its own block below Linux's ephemeral range
# (32768-60999), so two workers never pick the same port in the moment between choosing it and the
# server binding it, and no outgoing connection is given it meanwhile.
_PORT_BLOCK = 1000
_FIRST_PORT = 20000
_next_in_block = itertools.count()


def free_port() -> int:
    import socket

    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    start = _FIRST_PORT + _PORT_BLOCK * int(worker.removeprefix("gw"))
    for _ in range(_PORT_BLOCK):
        port = start + next(_next_in_block) % _PORT_BLOCK
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken, or still in TIME_WAIT from an earlier server
            return port
    raise RuntimeError(f"no free port in {start}-{start + _PORT_BLOCK - 1} for xdist worker {worker}")


def wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Until ``url`` answers; fail early, with the end of its log, if the server process exits."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{log.stem} exited ({process.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{log.stem} did not answer on {url} within {timeout}s")


class MlflowServer:
    """A real ``mlflow server`` on 127.0.0.1 and a free port, with proxied artifacts."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> MlflowServer:
        self.root.mkdir(parents=True, exist_ok=True)
        log = (self.root / "server.log").open("wb")
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("mlflow")), "server",
                "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
                "--artifacts-destination", str(self.root / "artifacts"),
                "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
            ],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_http(f"{self.url}/health", self.process, self.root / "server.log", timeout)
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class ApiServer:
    """A real ``airflow api-server`` on 127.0.0.1 sharing a PipelineEnv's metadata database.

    Users come from Airflow's SimpleAuthManager with passwords the test chooses, so requests
    carry a real JWT and responses (e.g. to an approval) are attributed to a real user.
    """

    def __init__(self, deployment: PipelineEnv, users: dict[str, str]) -> None:
        self.deployment = deployment
        self.users = users
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        home = Path(deployment.env["AIRFLOW_HOME"])
        (home / "simple_auth_manager_passwords.json.generated").write_text(json.dumps(users))
        deployment.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = ",".join(f"{u}:admin" for u in users)
        self.process: subprocess.Popen[bytes] | None = None
        self._tokens: dict[str, str] = {}

    def start(self, timeout: float = 120.0) -> ApiServer:
        log = (self.deployment.root / "api-server.log").open("wb")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("airflow")), "api-server", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", "1"],
            env=self.deployment.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_http(
                f"{self.url}/api/v2/monitor/health", self.process, self.deployment.root / "api-server.log", timeout
            )
        except RuntimeError:
            self.stop()
            raise
        return self

    def token(self, user: str) -> str:
        if user not in self._tokens:
            status, body = self.request("POST", "/auth/token", body={"username": user, "password": self.users[user]})
            assert status == 201, body
            self._tokens[user] = body["access_token"]
        return self._tokens[user]

    def request(
        self, method: str, path: str, *, user: str | None = None, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        import urllib.error
        import urllib.request

        headers = {"Content-Type": "application/json"}
        if user is not None:
            headers["Authorization"] = f"Bearer {self.token(user)}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                payload = response.read()
                return response.status, json.loads(payload) if payload else None
        except urllib.error.HTTPError as err:
            payload = err.read()
            try:
                return err.code, json.loads(payload)
            except ValueError:
                return err.code, payload.decode(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
