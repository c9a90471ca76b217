"""End to end on a real executor (issue #22): the example pipeline on LocalExecutor + Postgres.

One Airflow deployment on loopback: a Postgres metadata database, ``airflow db migrate``, an
``api-server`` (the tasks' Execution API and the REST API the runs are triggered through), a
``scheduler`` with LocalExecutor (parallelism 2) and a ``dag-processor``, and an ``mlflow
server`` on its own Postgres database. Its building blocks are the distributed tier's
(``tests/distributed/stack.py``): this is ``LoopbackStack`` without Celery, Redis or triggerer.

Three DAGs of the same shape run there, one after the other, ``rounds`` times:

- ours: the example retraining pipeline (``dags/pipelines/breast_cancer.yaml``) through its
  loader stub, with ``serving_check`` off (the plain script serves nothing; the operator
  rows give what the check adds);
- plain: the same tasks and edges written by hand as PythonOperators calling
  ``bench/ops_bench.py``'s ``_plain_*`` step bodies, on its own experiment and registered model;
- floor: the same tasks and edges as PythonOperators that do nothing.

The timings come from the metadata database afterwards: per task instance ``queued_dttm``
(the scheduler queued it), ``start_date`` (the task runner reported it running, before it
parses the DAG file) and ``end_date``; the run's wall time is the DAG run's start to end.

Module level is stdlib only: the twin DAG files import this module in every task process.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIG_ENV = "MLOPS_EXECUTOR_BENCH"
VARIANTS = ("ours", "plain", "floor")
DAG_IDS = {"ours": "breast_cancer_retrain", "plain": "bench_executor_plain", "floor": "bench_executor_floor"}


def dag_id(variant: str, round_: int) -> str:
    """Ours and the twin are DAGs of their own in each round (their own experiment, model and step cache).

    So every round is a first run, as the first one is: nothing cached, no champion yet. A second
    run of one DAG would reuse every step and register nothing, and time another workload.
    """
    return DAG_IDS[variant] if round_ == 0 or variant == "floor" else f"{DAG_IDS[variant]}_r{round_}"


def dag_ids(rounds: int) -> list[str]:
    return list(dict.fromkeys(dag_id(v, r) for r in range(rounds) for v in VARIANTS))


GOAL = 1.10
PARALLELISM = 2
MAPPED = "train"  # the one mapped task: one instance per candidate
IMPORTTIME_ENV = "MLOPS_EXECUTOR_IMPORTTIME"  # set: task processes run under -X importtime (diagnosis only)
#: Modules (comma list) the scheduler imports before it forks its LocalExecutor workers (diagnosis only):
#: each task is a fork of a worker, so it starts with them imported.
PRELOAD_ENV = "MLOPS_EXECUTOR_PRELOAD"


def __getattr__(name: str) -> Any:
    """``PreloadingLocalExecutor``, built on first use (module level stays stdlib for the twin DAG files)."""
    if name != "PreloadingLocalExecutor":
        raise AttributeError(name)
    import importlib

    from airflow.executors.local_executor import LocalExecutor

    class PreloadingLocalExecutor(LocalExecutor):
        def start(self) -> None:
            for module in filter(None, os.environ.get(PRELOAD_ENV, "").split(",")):
                importlib.import_module(module)
            super().start()

    globals()[name] = PreloadingLocalExecutor
    return PreloadingLocalExecutor


#: What docs/benchmarks.md says about the group (run.py's "What is measured" section).
METHOD = """- **End to end on a real executor** (`bench/executor_bench.py`, issue #22): one Airflow
  deployment on loopback (Postgres metadata database, `api-server`, `scheduler` with
  LocalExecutor and parallelism 2, `dag-processor`, an `mlflow server` on Postgres; the
  distributed tier's `LoopbackStack` without Celery) runs three DAGs of one shape, one after the
  other, after an untimed warm-up run: ours (the example pipeline through its loader stub,
  `serving_check` off, step caching on as the example has it), the hand-written twin
  (PythonOperators calling `bench/ops_bench.py`'s plain step bodies, same tasks and edges, the
  edges checked through the REST API) and a floor of no-op PythonOperators. Queued→start and
  start→end come from the metadata database (`queued_dttm`, `start_date`, `end_date`), the whole
  run from the DAG run's start and end. Two rounds (k = 2, `--quick` one), ours before the twin in
  the first and after it in the second, each round's ours and twin DAGs of their own (their own
  experiment, model and step cache), so that every round is a first run with nothing cached and
  no champion; the figures are the rounds' medians (means, with two): a run
  takes about a minute and on a shared two-core machine one slow spell moves it by seconds. Five
  one-round runs of this group at load 2-10 gave ours / twin 1.35x, 1.09x, 1.13x (under
  `-X importtime`), 0.82x and 0.82x: under load a ratio is no verdict within ±0.25 of the goal.
  Three idle one-round runs (at 1ad73ca, f97abc2 and dbb2f0c) gave 1.09x, 1.14x and 1.11x; in
  each, ours' `validate_data`, `prepare_data`, `train` and `evaluate` took 0.2-1.0 s longer than
  the twin's, for the reasons below. The twin's `register` took 6-10 s in every run
  under load and 2.6-2.8 s in the idle ones, against ours' 1.4-2.6 s (`mlflow.register_model` on a
  `models:/m-...` URI; not traced further), which flatters ours by 1-5 s. `--smoke` skips the group.
  Where a task's time goes (`MLOPS_EXECUTOR_IMPORTTIME=1` puts every task process under
  `-X importtime`): imports, in ours and the twin alike. A `train` task spent about 20 of its
  24 s importing (the twin 15 of 18), `evaluate` 7 of 9, `validate_data` 6 of 7, while the work
  itself takes 0.75 s, 0.3 s and 0.15 s in the operator rows. The largest single cost is
  `skops.io`: its trusted-type list walks every scikit-learn module (`all_estimators`), and one
  of them imports `torch` (`sklearn.externals.array_api_compat.torch`): 3.1 s on an idle core in
  every task that saves or loads a model, ours and the twin alike. What ours adds over the twin
  is the step cache's MLflow round trips (look up, note, store) in validate_data, prepare_data,
  train and evaluate, and prepare_data's contract check against the champion, which imports
  MLflow in that task (0.85 s at that load); each is a fraction of a second once the imports are
  paid. Ours' DAG file costs 0.16 s after `airflow.sdk` at every task start (no ML library is
  imported at parse); the twin's plain bodies load the same spec file in every task.
  The executor's workers can carry those imports: LocalExecutor forks its workers from the
  scheduler when it starts and every task is a fork of a worker, so a module the scheduler
  imported first is already in every task process. Airflow has no setting for that (the DAG
  processor's `parsing_pre_import_modules` does not reach the executor). With a LocalExecutor
  subclass that imports pandas, pyarrow, scikit-learn, skops, MLflow, GX and DVC before it forks
  (`MLOPS_EXECUTOR_PRELOAD=module,...` here, diagnosis only) the three DAGs took 17.7 s (ours),
  16.2 s (twin, 1.09x) and 13.8 s (floor), against 61.0 s, 74.2 s and 13.8 s without it (load
  4.5-7); a `train` task's start→end fell from 23 s to 2.1 s, and each of ours' tasks was within
  0.5 s of the twin's, the difference being the cache and contract round trips above.
"""


# -- the twin DAGs (built by the DAG files the bench writes, in the dag processor and every task) --


def twin_dag(variant: str, round_: int = 0) -> Any:
    """The hand-written twin (``plain``) or the no-op floor (``floor``): ours' tasks and edges."""
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG

    config = json.loads(os.environ[CONFIG_ENV])
    fn = _plain_step if variant == "plain" else _noop

    def op(task_id: str, **inputs: Any) -> Any:
        return PythonOperator(task_id=task_id, python_callable=fn, op_args=[task_id], op_kwargs=inputs)

    with DAG(dag_id(variant, round_), schedule=None, catchup=False, tags=["bench"]) as dag:
        ref = op("resolve_data")
        validation = op("validate_data", ref=ref.output)
        prepared = op("prepare_data", ref=ref.output)
        train = PythonOperator.partial(
            task_id=MAPPED, python_callable=fn, op_kwargs={"prepared": prepared.output}
        ).expand(op_args=[[MAPPED, candidate] for candidate in config["candidates"]])
        evaluation = op("evaluate", prepared=prepared.output, trained=train.output)
        gate = op("gate", evaluation=evaluation.output)
        register = op("register", gate=gate.output, ref=ref.output)
        promote = op("promote", gate=gate.output, version=register.output)
        close = op("close_runs")
        validation >> prepared
        [prepared, validation] >> register
        promote >> close
    return dag


def _noop(step: str, *args: Any, **inputs: Any) -> str:
    return step  # a value, so that downstream tasks pull real XComs as ours and plain do


def _plain_step(step: str, candidate: dict[str, Any] | None = None, ti: Any = None, **inputs: Any) -> Any:
    """One ``ops_bench`` step body; inputs without an edge in ours' DAG are pulled, as a person would."""
    from types import SimpleNamespace

    from airflow_mlops.spec.loader import load_pipeline_spec
    from bench import ops_bench as plain

    config = json.loads(os.environ[CONFIG_ENV])
    spec_path = Path(config["plain_specs"][ti.dag_id])
    spec = load_pipeline_spec(spec_path, defaults_root=spec_path.parent)
    # The server's own artifact store (mlflow-artifacts:/<experiment>), as ours uses.
    stack = SimpleNamespace(root=Path(config["root"]), repo=Path(config["repo"]),
                            tracking_uri=config["tracking_uri"], artifact_location="mlflow-artifacts:")  # fmt: skip

    def pull(task_id: str) -> Any:
        return ti.xcom_pull(task_ids=task_id)

    def evaluate() -> dict[str, Any]:
        result = plain._plain_evaluate(stack, inputs["prepared"], list(inputs["trained"]), pull("validate_data"),
                                       spec.registry.model_name)  # fmt: skip
        return {**result, "champion": None if result["champion"] is None else result["champion"].version}

    def close_runs() -> None:
        from mlflow import MlflowClient

        MlflowClient(tracking_uri=stack.tracking_uri).set_terminated(pull("validate_data")["mlflow_run_id"])

    bodies: dict[str, Callable[[], Any]] = {
        "resolve_data": lambda: plain._plain_resolve(stack, spec.data.path, spec.data.rev),
        "validate_data": lambda: plain._plain_validate(stack, inputs["ref"], spec),
        "prepare_data": lambda: plain._plain_prepare(stack, inputs["ref"], spec),
        MAPPED: lambda: plain._plain_train(stack, inputs["prepared"], candidate, pull("resolve_data"),
                                           pull("validate_data")),
        "evaluate": evaluate,
        "gate": lambda: plain._plain_gate(stack, inputs["evaluation"], pull("validate_data"), spec),
        "register": lambda: plain._plain_register(stack, inputs["gate"], inputs["ref"], spec),
        "promote": lambda: plain._plain_promote(stack, spec, inputs["version"],
                                                "; ".join(inputs["gate"]["verdict"]["reasons"])),
        "close_runs": close_runs,
    }  # fmt: skip
    return bodies[step]()


TWIN_FILE = """# Airflow DAG file written by bench/executor_bench.py: the {variant} twin of the example pipeline.
from bench.executor_bench import twin_dag

dag = twin_dag({variant!r}, {round_})
"""


# -- the deployment -----------------------------------------------------------------------------


def _repo_importable() -> None:
    """``tests.distributed`` is imported from the repository root (run.py puts only bench/ on the path)."""
    import sys

    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))


def _write_dags(dags: Path, plain_folder: Path, rounds: int) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Ours (the example, serving check off) and the twins' files, a pair per round; the plain specs by DAG id."""
    import yaml

    from airflow_mlops.spec.loader import load_pipeline_spec
    from tests.integration.harness import EXAMPLE_PIPELINE, EXAMPLE_SUITE

    for folder in (dags / "pipelines", plain_folder):
        (folder / "suites").mkdir(parents=True)
        shutil.copy(EXAMPLE_SUITE, folder / "suites" / EXAMPLE_SUITE.name)
    example = yaml.safe_load(EXAMPLE_PIPELINE.read_text())
    example["serving_check"] = {"enabled": False}
    plain_specs: dict[str, str] = {}
    for r in range(rounds):
        suffix = f"_r{r}" if r else ""
        ours = {**example, "pipeline": dag_id("ours", r)}
        ours["registry"] = {**example["registry"], "model_name": example["registry"]["model_name"] + suffix}
        stem = EXAMPLE_PIPELINE.stem + suffix
        (dags / "pipelines" / f"{stem}.yaml").write_text(yaml.safe_dump(ours, sort_keys=False))
        shutil.copy(EXAMPLE_PIPELINE.with_suffix(".py"), dags / "pipelines" / f"{stem}.py")
        plain = {**ours, "pipeline": dag_id("plain", r)}
        plain["registry"] = {**ours["registry"], "model_name": example["registry"]["model_name"] + "_plain" + suffix}
        plain_specs[dag_id("plain", r)] = str(plain_folder / f"plain{suffix}.yaml")
        Path(plain_specs[dag_id("plain", r)]).write_text(yaml.safe_dump(plain, sort_keys=False))
        (dags / f"bench_plain{suffix}.py").write_text(TWIN_FILE.format(variant="plain", round_=r))
    (dags / "bench_floor.py").write_text(TWIN_FILE.format(variant="floor", round_=0))
    first = Path(plain_specs[dag_id("plain", 0)])
    return plain_specs, [m.model_dump() for m in load_pipeline_spec(first, defaults_root=plain_folder).models]


def _stack_class() -> Any:
    """``LocalStack``, defined on first use: its base imports Airflow's test harness."""
    _repo_importable()
    from tests.distributed.stack import LoopbackStack, _admin, shared_settings
    from tests.integration.harness import ApiServer, free_port, wait_http

    class LocalStack(LoopbackStack):
        """The loopback stack with LocalExecutor in the scheduler: no Celery, Redis or triggerer."""

        uses_redis = False

        def __init__(self, root: Path, rounds: int = 1) -> None:  # not LoopbackStack.__init__: that one is Celery's
            from airflow_mlops.demo.data_repo import commit_data_version, create_data_repo
            from airflow_mlops.demo.datasets import data_versions, to_csv_bytes
            from airflow_mlops.demo.runner import demo_environment

            self.root = root
            self.dags = root / "dags"
            self.logs = root / "logs"
            self.processes = {}
            self._databases = []
            self.database = f"mlops_bench_{secrets.token_hex(4)}"
            self.mlflow_database = f"{self.database}_mlflow"
            self.mlflow_port = free_port()
            self.mlflow_url = self.tracking_uri = f"http://127.0.0.1:{self.mlflow_port}"
            self.fault_proxy = None  # stop() tolerates its absence
            self.wait_http = wait_http
            self.logs.mkdir(parents=True)
            self.rounds = rounds
            plain_specs, candidates = _write_dags(self.dags, root / "plain-spec", rounds)
            repo = create_data_repo(root / "data-repo", root / "dvc-remote")
            commit_data_version(repo, "data/breast_cancer.csv", to_csv_bytes(data_versions()[0]), "data v1")

            self.env = demo_environment(root, self.dags)
            # PYTHONPATH (the repository root): the twins import bench.executor_bench and bench.ops_bench.
            self.env.update(shared_settings(root, self.database, self.mlflow_url))
            self.env.update(
                {
                    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                    "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
                    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                    CONFIG_ENV: json.dumps({"root": str(root), "repo": str(repo), "tracking_uri": self.mlflow_url,
                                            "plain_specs": plain_specs, "candidates": candidates}),
                }
            )  # fmt: skip
            Path(self.env["AIRFLOW_HOME"]).mkdir()
            self.api = ApiServer(self, {"admin": secrets.token_urlsafe(12)})
            self.env["AIRFLOW__API__BASE_URL"] = self.api.url
            self.env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"{self.api.url}/execution/"
            self._admin = _admin
            if os.environ.get(IMPORTTIME_ENV):  # diagnosis: every task process logs its imports
                self.env["PYTHONPROFILEIMPORTTIME"] = "1"
            if os.environ.get(PRELOAD_ENV):
                self.env["AIRFLOW__CORE__EXECUTOR"] = "bench.executor_bench.PreloadingLocalExecutor"

        def start(self) -> LocalStack:
            for name in (self.database, self.mlflow_database):
                self._admin(f'CREATE DATABASE "{name}"')
                self._databases.append(name)
            self._start_mlflow()
            self._airflow("db-migrate", check=True)
            self.api.start(timeout=180)
            for component in ("scheduler", "dag-processor"):
                self._airflow(component)
            self.wait_http(f"{self.mlflow_url}/health", self.processes["mlflow"], self.logs / "mlflow.log", 180)
            for each in dag_ids(self.rounds):
                self.wait_for_dag(each, timeout=300)
            return self

        def edges(self, dag_id: str) -> set[tuple[str, str]]:
            tasks = self.call("GET", f"/api/v2/dags/{dag_id}/tasks")["tasks"]
            return {(t["task_id"], down) for t in tasks for down in t["downstream_task_ids"]}

    return LocalStack


# -- reading the deployment ---


def timings(stack: Any, dag_id: str, run_id: str) -> dict[str, Any]:
    """The run's wall time and every task instance's times, from the metadata database."""
    import psycopg2

    from tests.distributed.stack import POSTGRES_URL

    conn = psycopg2.connect(f"{POSTGRES_URL}/{stack.database}")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT start_date, end_date, state FROM dag_run WHERE dag_id = %s AND run_id = %s",
                        (dag_id, run_id))  # fmt: skip
            started, ended, state = cur.fetchone()
            cur.execute(
                "SELECT task_id, map_index, queued_dttm, start_date, end_date, state FROM task_instance "
                "WHERE dag_id = %s AND run_id = %s ORDER BY start_date",
                (dag_id, run_id),
            )
            rows = cur.fetchall()
    finally:
        conn.close()
    tasks = [
        {"task_id": t, "map_index": i, "state": s, "queue_to_start": (b - q).total_seconds(),
         "start_to_finish": (e - b).total_seconds()}
        for t, i, q, b, e, s in rows if q and b and e
    ]  # fmt: skip
    failed = sorted({t for t, *_, s in rows if s != "success"})
    return {"state": state, "wall": (ended - started).total_seconds(), "tasks": tasks, "failed": failed}


def imports(stack: Any, dag_id: str) -> dict[str, dict[str, float]]:
    """Per task: seconds of import, by top-level package (self time, ``-X importtime`` in the task logs).

    A mapped task's instances are averaged; ``(total)`` is every import the task process made.
    """
    import re

    found: dict[str, dict[str, float]] = {}
    logs = sorted((Path(stack.env["AIRFLOW_HOME"]) / "logs" / f"dag_id={dag_id}").rglob("*.log"))
    for path in logs:
        task = re.search(r"task_id=([^/]+)", str(path))
        if task is None:
            continue
        share = 1 / sum(task.group(0) in str(p) for p in logs)
        per = found.setdefault(task.group(1), {})
        for hit in re.finditer(r"import time:\s+(\d+) \|\s+\d+ \| +([\w.]+)", path.read_text(errors="replace")):
            for name in (hit.group(2).split(".")[0], "(total)"):
                per[name] = per.get(name, 0.0) + int(hit.group(1)) / 1e6 * share
    return found


def task_log(stack: Any, dag_id: str, task_id: str) -> str:
    logs = sorted((Path(stack.env["AIRFLOW_HOME"]) / "logs" / f"dag_id={dag_id}").rglob("*.log"))
    found = [p for p in logs if f"task_id={task_id}" in str(p)]
    return found[-1].read_text(errors="replace")[-2000:] if found else "(no log)"


# -- the measure --------------------------------------------------------------------------------


def postgres_missing() -> str:
    """Why the group cannot run here, or "" when Postgres answers."""
    _repo_importable()
    try:
        import psycopg2

        from tests.distributed.stack import POSTGRES_URL

        psycopg2.connect(f"{POSTGRES_URL}/postgres", connect_timeout=3).close()
    except Exception as err:
        return f"Postgres not reachable: {str(err).strip().splitlines()[0][:100]}"
    return ""


def measure(work: Path, rounds: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Every variant ``rounds`` times on one deployment; the order alternates between rounds."""
    stack = _stack_class()(work / "executor", rounds)
    found: dict[str, Any] = {"runs": {v: [] for v in VARIANTS}, "notes": []}
    try:
        started = time.monotonic()
        stack.start()
        found["setup_s"] = time.monotonic() - started
        log(f"  executor stack up in {found['setup_s']:.0f} s (db migrate, api-server, scheduler, mlflow server)")
        shapes = {v: stack.edges(dag_id(v, 0)) for v in VARIANTS}
        if not shapes["ours"] == shapes["plain"] == shapes["floor"]:
            found["notes"].append(f"the twins' edges differ from ours: {shapes}")
        # The deployment's first run pays one-off costs (first forks, first API calls, caches): untimed.
        stack.wait_run(DAG_IDS["floor"], stack.trigger(DAG_IDS["floor"]), timeout=600)
        for i in range(rounds):
            order = ("floor", "ours", "plain") if i % 2 == 0 else ("floor", "plain", "ours")
            for variant in order:
                each = dag_id(variant, i)
                t0 = time.monotonic()
                run_id = stack.trigger(each)
                stack.wait_run(each, run_id, timeout=900)
                result = timings(stack, each, run_id)
                waited = time.monotonic() - t0
                log(f"  {variant} ({each}): {result['state']} in {result['wall']:.1f} s (waited {waited:.0f} s)")
                for task_id in result["failed"]:
                    log(f"  {variant} {task_id} failed:\n{task_log(stack, each, task_id)}")
                if os.environ.get(IMPORTTIME_ENV):
                    result["imports"] = imports(stack, each)
                found["runs"][variant].append(result)
    except Exception as err:  # the rest of `make bench` still gets written; the rows say why
        log(f"  executor group failed: {err}; logs in {stack.logs}")
        found["missing"] = f"failed: {str(err).strip().splitlines()[0][:140]}"
    finally:
        stack.stop()
    return found


# -- reading the results ------------------------------------------------------------------------


def _good(found: dict[str, Any], variant: str) -> list[dict[str, Any]]:
    return [r for r in found.get("runs", {}).get(variant, []) if r["state"] == "success"]


def _median(runs: list[dict[str, Any]], pick: Callable[[dict[str, Any]], float]) -> float | None:
    return statistics.median(pick(r) for r in runs) if runs else None


def _task(task_id: str, key: str) -> Callable[[dict[str, Any]], float]:
    """A task's mean over its instances (the candidates, for the mapped one)."""
    return lambda r: statistics.fmean(t[key] for t in r["tasks"] if t["task_id"] == task_id)


def _with_task(runs: list[dict[str, Any]], task_id: str) -> list[dict[str, Any]]:
    """The runs in which ``task_id`` ran (a skipped task has no start): the others have no time for it."""
    return [r for r in runs if any(t["task_id"] == task_id for t in r["tasks"])]


def _busy(r: dict[str, Any]) -> float:
    return sum(t["start_to_finish"] for t in r["tasks"])


def task_ids(found: dict[str, Any]) -> list[str]:
    runs = _good(found, "ours")
    return list(dict.fromkeys(t["task_id"] for t in runs[0]["tasks"])) if runs else []


def rows(found: dict[str, Any]) -> list[dict[str, Any]]:
    """The table's rows, as dicts of Row's fields (run.py builds the Rows)."""
    ours, plain, floor = (_good(found, v) for v in VARIANTS)
    missing = found.get("missing", "")
    if not missing:
        runs = [(v, r) for v in VARIANTS for r in found["runs"][v]]
        failed = [f"{v}: {r['failed'] or r['state']}" for v, r in runs if r["state"] != "success"]
        missing = f"failed runs: {'; '.join(failed)}"[:160] if failed else ""
    wall, busy = (lambda r: r["wall"]), _busy
    label = "executor (LocalExecutor + Postgres + mlflow server), example pipeline"
    return [
        {"measure": f"{label}, whole run: ours vs hand-written PythonOperators", "ours": _median(ours, wall),
         "baseline": _median(plain, wall), "goal": f"<= {GOAL:.2f}x", "limit": GOAL, "missing": missing},
        {"measure": f"{label}, sum of task start-to-finish: ours vs hand-written", "ours": _median(ours, busy),
         "baseline": _median(plain, busy), "goal": "-", "limit": None, "missing": missing},
        {"measure": f"{label}, whole run: hand-written vs no-op tasks of the same shape",
         "ours": _median(plain, wall), "baseline": _median(floor, wall), "goal": "-", "limit": None,
         "missing": missing},
    ]  # fmt: skip


def detail(found: dict[str, Any]) -> str:
    """Per task: queue-to-start and start-to-finish for each variant, and ours' overhead over the floor."""
    if not found or not task_ids(found):
        return f"(no runs: {found.get('missing') or 'the group did not run'})"
    runs = {v: _good(found, v) for v in VARIANTS}
    lines = [
        "| task | ours queued→start | ours start→end | plain queued→start | plain start→end | floor queued→start "
        "| floor start→end | ours - floor (start→end) | ours - plain (start→end) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for task_id in task_ids(found):
        cells = {
            (v, key): _median(_with_task(runs[v], task_id), _task(task_id, key))
            for v in VARIANTS
            for key in ("queue_to_start", "start_to_finish")
        }
        text = [f"{cells[(v, k)]:.2f}" if cells[(v, k)] is not None else "-" for v in VARIANTS
                for k in ("queue_to_start", "start_to_finish")]  # fmt: skip
        s2f = {v: cells[(v, "start_to_finish")] for v in VARIANTS}
        over = [f"{s2f['ours'] - s2f[b]:+.2f}" if None not in (s2f["ours"], s2f[b]) else "-"
                for b in ("floor", "plain")]  # fmt: skip
        mapped = sum(t["task_id"] == MAPPED for t in runs["ours"][0]["tasks"])
        name = f"{task_id} (mean of {mapped})" if task_id == MAPPED else task_id
        lines.append(f"| {name} | {' | '.join(text)} | {' | '.join(over)} |")
    walls = ", ".join(f"{v} {_median(runs[v], lambda r: r['wall']):.1f} s" for v in VARIANTS if runs[v])
    lines += ["", f"Whole runs (DAG run start to end, median of {len(runs['ours'])}): {walls}. Setting the "
              f"deployment up took {found.get('setup_s', 0):.0f} s, outside every figure."]  # fmt: skip
    return "\n".join(lines)
