"""The production-shaped stack on loopback: Postgres, Redis, Celery workers, an MLflow server.

Every process runs on 127.0.0.1 with its own log file; Airflow is configured entirely through
environment variables shared by all components, as in ``docker-compose.yaml``. Each Celery
worker gets its own ``AIRFLOW_HOME`` (task logs) and its own working directory, so a task can
only see another task's output through the artifact root URI or the MLflow server.

``components.STACK`` is the single list of what runs; ``tests/unit/test_docker_compose.py``
checks that the compose file has exactly one service for each entry.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from airflow_mlops.demo.data_repo import create_data_repo
from airflow_mlops.demo.runner import demo_environment
from tests.distributed.components import SHARED_AIRFLOW_SETTINGS, STACK, WORKERS, XCOM_BACKEND
from tests.distributed.faults import FaultProxy
from tests.integration.harness import EXAMPLE_PIPELINE, EXAMPLE_SUITE, ApiServer, PipelineEnv, free_port, wait_http

REPO_ROOT = Path(__file__).resolve().parents[2]
POSTGRES_URL = os.environ.get("MLOPS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("MLOPS_TEST_REDIS", "redis://127.0.0.1:6379/7")
QUEUE = "default"


AIRFLOW_COMMANDS = {
    "db-migrate": ["db", "migrate"],
    "scheduler": ["scheduler"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer"],
}


def services_reachable() -> str | None:
    """None when Postgres and Redis answer, else why not (the tier is skipped then)."""
    import psycopg2
    import redis

    try:
        psycopg2.connect(f"{POSTGRES_URL}/postgres", connect_timeout=3).close()
    except psycopg2.Error as err:
        return f"Postgres at {POSTGRES_URL} is not reachable: {err}".strip()
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as err:
        return f"Redis at {REDIS_URL} is not reachable: {err}"
    return None


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Serialise holders across processes (released when the process dies, too)."""
    import fcntl

    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _with_driver(url: str) -> str:
    # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; the stack ships psycopg2 (and asyncpg,
    # which Airflow derives from a psycopg2 URL for its async engine).
    return url.replace("postgresql://", "postgresql+psycopg2://", 1)


def shared_settings(root: Path, database: str, mlflow_url: str) -> dict[str, str]:
    """What every Airflow component of a loopback deployment is given, whatever its executor.

    The data repository is ``root / "data-repo"``; ``bench/executor_bench.py`` uses this too.
    """
    return {
        "AIRFLOW_HOME": str(root / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": _with_driver(f"{POSTGRES_URL}/{database}"),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        # Only the runs a caller triggers; the example's cron schedule must not add one.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps({"conn_type": "mlflow", "host": mlflow_url}),
        "AIRFLOW_CONN_DVC_DEFAULT": json.dumps({"conn_type": "dvc", "extra": {"repo": str(root / "data-repo")}}),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }


def _admin(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(f"{POSTGRES_URL}/postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def _flush_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def _family(process: subprocess.Popen[bytes]) -> list[Any]:
    """The process and everything it started (psutil.Process objects); empty if it is gone."""
    import psutil

    try:
        return [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _kill_tree(process: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """SIGTERM the process and everything it started, then SIGKILL whatever is left."""
    import psutil

    if process.poll() is not None:
        return
    family = _family(process)
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(family, timeout=grace)
    for member in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    psutil.wait_procs(alive, timeout=5)
    process.wait(timeout=5)


class LoopbackStack(PipelineEnv):
    """A PipelineEnv whose Airflow runs on Postgres + Redis + CeleryExecutor instead of dag.test()."""

    #: Whether stop() flushes the Redis database: a subclass without Celery (bench/executor_bench.py) leaves it alone.
    uses_redis = True

    def __init__(self, root: Path, users: dict[str, str]) -> None:
        # Not PipelineEnv.__init__: that migrates a sqlite database for dag.test().
        self.root = root
        self.dags = root / "dags"
        (self.dags / "pipelines" / "suites").mkdir(parents=True)
        shutil.copy(EXAMPLE_SUITE, self.dags / "pipelines" / "suites" / EXAMPLE_SUITE.name)
        shutil.copy(
            EXAMPLE_PIPELINE.with_suffix(".py"), self.dags / "pipelines" / EXAMPLE_PIPELINE.with_suffix(".py").name
        )
        # The example pipeline with four candidates, two of them heavier: the scheduler queues
        # mapped instances a few seconds apart, so with only two quick candidates one worker can
        # finish the first before the second is queued and take both. Four that each take a few
        # seconds make it observable that both workers train at the same time.
        spec = yaml.safe_load(EXAMPLE_PIPELINE.read_text())
        spec["models"] += [
            {"name": "forest_deep", "estimator": "sklearn.ensemble.RandomForestClassifier",
             "params": {"n_estimators": 600, "random_state": 1}, "preprocessing": {"scale": "none"}},
            {"name": "mlp", "estimator": "sklearn.neural_network.MLPClassifier",
             "params": {"hidden_layer_sizes": [64, 64], "max_iter": 1500, "random_state": 0}},
        ]  # fmt: skip
        (self.dags / "pipelines" / EXAMPLE_PIPELINE.name).write_text(yaml.safe_dump(spec, sort_keys=False))
        self._runs = 0
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.logs = root / "logs"
        self.logs.mkdir()
        self.database = f"mlops_dist_{secrets.token_hex(4)}"
        self.mlflow_database = f"{self.database}_mlflow"
        self._databases: list[str] = []
        # "Object storage": a URI every worker resolves by itself, outside every working directory.
        self.artifact_root = f"file://{root / 'object-store' / 'mlops'}"
        # XCom offload through Airflow's common-io backend, threshold 0 so that every value takes
        # that path: the database keeps only references, each worker reads them through the URI.
        self.xcom_root = f"file://{root / 'object-store' / 'xcom'}"
        self.mlflow_port = free_port()
        self.mlflow_url = f"http://127.0.0.1:{self.mlflow_port}"
        self.tracking_uri = self.mlflow_url
        self.worker_dirs = {name: root / "workers" / name for name in WORKERS}
        # Pipelines with mlflow_conn_id "mlflow_faulty" reach the same server through this proxy.
        self.fault_proxy = FaultProxy(self.mlflow_url)

        self.env = demo_environment(root, self.dags)
        db_url = f"{POSTGRES_URL}/{self.database}"
        self.env.update(shared_settings(root, self.database, self.mlflow_url))
        self.env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CELERY__BROKER_URL": REDIS_URL,
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{_with_driver(db_url)}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": QUEUE,
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__MLOPS__ARTIFACT_ROOT": self.artifact_root,
                "AIRFLOW__CORE__XCOM_BACKEND": XCOM_BACKEND,
                "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH": self.xcom_root,
                "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD": "0",
                "AIRFLOW_CONN_MLFLOW_FAULTY": json.dumps({"conn_type": "mlflow", "host": self.fault_proxy.url}),
                # MLflow's client retries a dead server 7 times over minutes by default; two quick
                # retries make an outage outlast them, so that Airflow's retry is what recovers.
                "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
                "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
                # A killed worker's task is declared dead after 45 s without a heartbeat (default 300 s).
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "45",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            }
        )
        Path(self.env["AIRFLOW_HOME"]).mkdir()
        # Writes the users' passwords into AIRFLOW_HOME and adds them to self.env.
        self.api = ApiServer(self, users)
        api_url = self.api.url
        self.env["AIRFLOW__API__BASE_URL"] = api_url
        self.env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"{api_url}/execution/"
        self.repo = create_data_repo(root / "data-repo", root / "dvc-remote")
        missing = [name for name in SHARED_AIRFLOW_SETTINGS if name not in self.env]
        assert not missing, f"the loopback stack must set {missing}"

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> LoopbackStack:
        started: list[str] = []
        _flush_redis()
        started.append("redis")
        for name in (self.database, self.mlflow_database):
            _admin(f'CREATE DATABASE "{name}"')
            self._databases.append(name)
        started.append("postgres")
        self._start_mlflow()
        self.fault_proxy.start()
        started.append("mlflow")
        self._airflow("db-migrate", check=True)
        started.append("db-migrate")
        self.api.start(timeout=180)
        started.append("api-server")
        for component in ("scheduler", "dag-processor", "triggerer"):
            self._airflow(component)
            started.append(component)
        for name in WORKERS:
            self._worker(name)
            started.append("celery-worker")
        wait_http(f"{self.mlflow_url}/health", self.processes["mlflow"], self.logs / "mlflow.log", 120)
        self._wait_workers_ready(timeout=120)
        expected = sorted(c.name for c in STACK for _ in range(c.replicas))
        assert sorted(started) == expected, f"components.STACK lists {expected}, the tier started {started}"
        return self

    def stop(self) -> None:
        """Always safe to call, even after a failed start; every step runs."""
        errors: list[str] = []
        if self.api.process is not None:
            self.processes["api-server"] = self.api.process
        for name, process in reversed(list(self.processes.items())):
            try:
                _kill_tree(process)
            except Exception as err:  # keep tearing down the rest
                errors.append(f"{name}: {err}")
        self.processes.clear()
        self.api.process = None
        with contextlib.suppress(Exception):
            self.fault_proxy.stop()
        for name in reversed(self._databases):
            try:
                _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as err:
                errors.append(f"drop {name}: {err}")
        self._databases.clear()
        try:
            if self.uses_redis:
                _flush_redis()
        except Exception as err:
            errors.append(f"flush redis: {err}")
        if errors:
            raise RuntimeError("teardown incomplete: " + "; ".join(errors))

    def database_exists(self, name: str) -> bool:
        import psycopg2

        conn = psycopg2.connect(f"{POSTGRES_URL}/postgres")
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                return cur.fetchone() is not None
        finally:
            conn.close()

    # -- processes -------------------------------------------------------------------------

    def _spawn(
        self, name: str, cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")  # a restarted component keeps its earlier log
        process = subprocess.Popen(
            cmd, env=env or self.env, cwd=cwd or self.root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes[name] = process
        return process

    def _airflow(self, component: str, *, check: bool = False) -> None:
        airflow = str(Path(sys.executable).with_name("airflow"))
        process = self._spawn(component, [airflow, *AIRFLOW_COMMANDS[component]])
        if check:
            code = process.wait(timeout=300)
            del self.processes[component]
            if code != 0:
                raise RuntimeError(
                    f"airflow {component} failed:\n{(self.logs / f'{component}.log').read_text()[-3000:]}"
                )

    def _start_mlflow(self) -> None:
        server = self.root / "mlflow-server"
        server.mkdir(exist_ok=True)
        self._spawn(
            "mlflow",
            [
                str(Path(sys.executable).with_name("mlflow")), "server",
                "--backend-store-uri", _with_driver(f"{POSTGRES_URL}/{self.mlflow_database}"),
                "--artifacts-destination", str(server / "artifacts"),
                "--host", "127.0.0.1", "--port", str(self.mlflow_port), "--workers", "1",
            ],
            cwd=server,
        )  # fmt: skip

    def _worker(self, name: str) -> None:
        cwd = self.worker_dirs[name] / "cwd"
        home = self.worker_dirs[name] / "home"
        cwd.mkdir(parents=True, exist_ok=True)
        home.mkdir(parents=True, exist_ok=True)
        env = {
            **self.env,
            "AIRFLOW_HOME": str(home),
            "MLOPS_TEST_WORKER_NAME": name,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.distributed.worker_identity.hostname",
        }
        airflow = str(Path(sys.executable).with_name("airflow"))
        cmd = [airflow, "celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", "1"]
        self._spawn(f"worker-{name}", [*cmd, "--queues", QUEUE, "--skip-serve-logs"], env=env, cwd=cwd)

    def _wait_workers_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = set(WORKERS)
        while pending and time.monotonic() < deadline:
            for name in sorted(pending):
                log = self.logs / f"worker-{name}.log"
                if self.processes[f"worker-{name}"].poll() is not None:
                    raise RuntimeError(f"worker {name} exited:\n{log.read_text(errors='replace')[-3000:]}")
                if self._ready_count(name):
                    pending.discard(name)
            time.sleep(0.5)
        if pending:
            raise RuntimeError(f"celery workers not ready within {timeout}s: {sorted(pending)}")

    def _ready_count(self, name: str) -> int:
        log = self.logs / f"worker-{name}.log"
        return log.read_text(errors="replace").count(" ready.") if log.exists() else 0

    # -- fault injection -------------------------------------------------------------------

    def kill(self, name: str) -> None:
        """SIGKILL a component and everything it started, like a crashed machine: no cleanup runs."""
        import psutil

        process = self.processes.pop(name)
        family = _family(process)
        for member in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.kill()
        psutil.wait_procs(family, timeout=10)
        process.wait(timeout=10)

    def restart_mlflow(self) -> None:
        """The same server again: same port, same Postgres store, same artifact folder."""
        self._start_mlflow()
        wait_http(f"{self.mlflow_url}/health", self.processes["mlflow"], self.logs / "mlflow.log", 120)

    def restart_worker(self, name: str) -> None:
        before = self._ready_count(name)
        self._worker(name)
        deadline = time.monotonic() + 120
        while self._ready_count(name) <= before:
            if self.processes[f"worker-{name}"].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {name} did not come back; see {self.logs / f'worker-{name}.log'}")
            time.sleep(0.5)

    # -- REST API --------------------------------------------------------------------------

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, expect: int = 200) -> Any:
        status, payload = self.api.request(method, path, user="admin", body=body)
        assert status == expect, f"{method} {path} -> {status}: {payload}"
        return payload

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, _ = self.api.request("GET", f"/api/v2/dags/{dag_id}", user="admin")
            if status == 200:
                return
            errors = self.call("GET", "/api/v2/importErrors")
            if errors.get("total_entries"):
                raise AssertionError(f"import errors: {errors}")
            time.sleep(1)
        raise AssertionError(f"{dag_id} was not parsed within {timeout}s; see {self.logs / 'dag-processor.log'}")

    def trigger_and_wait(self, dag_id: str, timeout: float = 420) -> dict[str, Any]:
        return self.wait_run(dag_id, self.trigger(dag_id), timeout)

    def trigger(self, dag_id: str) -> str:
        self.call("PATCH", f"/api/v2/dags/{dag_id}", body={"is_paused": False})
        run = self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", body={"logical_date": None})
        return str(run["dag_run_id"])

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 420) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in ("success", "failed"):
                return dict(run)
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise AssertionError(f"{name} died during the run; see {self.logs / name}.log")
            time.sleep(2)
        raise AssertionError(f"run {run_id} still {run['state']} after {timeout}s")

    def clear(self, dag_id: str, run_id: str, task_ids: list[str] | None = None) -> list[str]:
        """Clear a finished run's task instances (all of them by default), as the UI's Clear does."""
        body: dict[str, Any] = {"dry_run": False, "dag_run_id": run_id, "only_failed": False, "reset_dag_runs": True}
        if task_ids is not None:
            body["task_ids"] = task_ids
        cleared = self.call("POST", f"/api/v2/dags/{dag_id}/clearTaskInstances", body=body)
        return [ti["task_id"] for ti in cleared["task_instances"]]

    def tries(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict[str, Any]]:
        """Every attempt of one task instance, oldest first."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        path += "/tries" if map_index < 0 else f"/{map_index}/tries"
        return sorted(self.call("GET", path)["task_instances"], key=lambda t: int(t["try_number"]))

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        payload = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")
        return list(payload["task_instances"])

    def xcom_reference(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        """What the metadata database holds for a return value: with offloading, an object storage path."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        return self.call("GET", f"{path}?map_index={map_index}&deserialize=true")["value"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        """A return value, read back from object storage the way the XCom backend wrote it."""
        reference = self.xcom_reference(dag_id, run_id, task_id, map_index)
        assert isinstance(reference, str) and reference.startswith(self.xcom_root + "/"), (task_id, reference)
        return json.loads(Path(reference.removeprefix("file://")).read_text())
