"""Tuning trials spread over workers: one ``tune_<candidate>`` worker against N, on the demo data.

Each worker is a fresh interpreter running ``TuneTrialsOperator.execute()`` (the real task code:
its share of the trials, the study rebuilt from the MLflow trial runs before each ask) against
one sqlite MLflow store, as N Celery workers would against the tracking server. The workers
import everything first and then wait for a common go (a file), so the figure is the search's
wall time (first trial started to last trial finished), not interpreter start-up, which every
Airflow task pays whatever it runs. One worker running all the trials is the baseline.

    python bench/tuning_bench.py                        # 20 trials, 1 vs 2 workers, k = 3; CV n_jobs 2 vs 1
    python bench/tuning_bench.py --trials 4 --k 1       # quick
    python bench/run.py --only tuning                   # the same row in the bench's table

The candidate is the demo's random forest (``n_estimators`` and ``max_depth`` searched, 3 folds
of the demo's 380 rows, random sampler, no pruning so every trial does the same work).

The second row is ``cross_validation.n_jobs``: the same forest (100 trees) cross-validated on 5
folds one after the other, and 2 at a time in threads, in one process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
CANDIDATE: dict[str, Any] = {
    "name": "forest",
    "estimator": "sklearn.ensemble.RandomForestClassifier",
    "params": {"random_state": 0},
    "preprocessing": {"scale": "none"},
}
SPACE = {
    "n_estimators": {"type": "int", "low": 20, "high": 120, "log": False, "step": 10},
    "max_depth": {"type": "int", "low": 2, "high": 8, "log": False, "step": None},
}


def _tuning(n_trials: int, workers: int) -> dict[str, Any]:
    return {"space": SPACE, "metric": "f1", "n_trials": n_trials, "timeout_seconds": None, "sampler": "random",
            "pruner": "none", "seed": 3, "folds": 3, "workers": workers}  # fmt: skip


def worker(args: dict[str, Any]) -> dict[str, Any]:
    """One tune task: import, say it is ready, wait for the go file, run the share; when it started and ended."""
    from types import SimpleNamespace

    from airflow_mlops.operators.tune import TuneTrialsOperator

    candidate = {**CANDIDATE, "tuning": _tuning(int(args["n_trials"]), int(args["workers"]))}
    dataset = {"train_uri": args["train_uri"], "target": "target"}
    op = TuneTrialsOperator(task_id="tune_forest", worker=int(args["worker"]), dataset=dataset, candidate=candidate,
                            experiment="tuning_bench", cv_seed=0)  # fmt: skip
    context = {"dag_run": SimpleNamespace(dag_id="tuning_bench", run_id=args["run_id"])}
    import optuna  # noqa: F401
    import sklearn.ensemble  # noqa: F401

    import airflow_mlops.ml.cross_validation  # noqa: F401 - imports the first trial would pay, outside the timing

    op.mlflow_hook.get_client().search_experiments(max_results=1)
    Path(args["ready"]).touch()
    go = Path(args["go"])
    while not go.exists():  # every worker starts when the last one is ready
        time.sleep(0.005)
    started, cpu = time.time(), time.process_time()
    result = op.execute(context)  # type: ignore[arg-type]
    return {"started": started, "ended": time.time(), "cpu": time.process_time() - cpu, "ran": result["ran"]}


def cross_validation(args: dict[str, Any]) -> dict[str, Any]:
    """CV of the demo forest on the demo's training rows, folds in turn and ``n_jobs`` at once, interleaved."""
    from airflow_mlops.demo.datasets import data_versions
    from airflow_mlops.ml.cross_validation import cross_validate
    from airflow_mlops.ml.estimators import build_pipeline, fit_weighted

    train, _ = data_versions()
    features, labels = train.drop(columns=["target"]), train["target"]
    splitter = {"folds": int(args["folds"]), "stratified": True, "group_by": None, "shuffle": True, "seed": 0}

    def fit(x: Any, y: Any) -> Any:
        pipeline = build_pipeline(
            estimator_path=CANDIDATE["estimator"],
            params={"n_estimators": 100, "random_state": 0},
            preprocessing=CANDIDATE["preprocessing"],
            features=x,
            allowed_prefixes=("sklearn.",),
        )
        return fit_weighted(pipeline, x, y, None)  # fmt: skip

    def timed(n_jobs: int) -> float:
        started = time.perf_counter()
        cross_validate(fit, features, labels, problem="classification", splitter=splitter, n_jobs=n_jobs)
        return time.perf_counter() - started

    timed(1)  # warm-up: first fit and scoring imports
    serial, threaded = [], []
    for _ in range(int(args["k"])):
        serial.append(timed(1))
        threaded.append(timed(int(args["n_jobs"])))
    return {"serial": statistics.median(serial), "threaded": statistics.median(threaded)}


def measure_cv(*, folds: int = 5, n_jobs: int = 2, k: int = 3) -> dict[str, Any]:
    """:func:`cross_validation` in a fresh interpreter."""
    args = json.dumps({"folds": folds, "n_jobs": n_jobs, "k": k})
    env = {**os.environ, "PYTHONPATH": str(HERE.parents[1]), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, str(HERE), "cv", args], env=env, capture_output=True, text=True,
                          timeout=1800, check=False)  # fmt: skip
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT=")]
    if proc.returncode != 0 or len(lines) != 1:
        raise RuntimeError(f"the cross-validation child exited {proc.returncode}:\n{proc.stderr[-1500:]}")
    return {**json.loads(lines[0].removeprefix("RESULT=")), "folds": folds, "n_jobs": n_jobs, "k": k}


def cv_row(result: dict[str, Any]) -> dict[str, Any]:
    """The bench table's row: CV with ``n_jobs`` threads (ours) against folds in turn (the baseline)."""
    return {
        "measure": f"cross-validation, {result['folds']} folds: `n_jobs: {result['n_jobs']}` vs 1",
        "ours": result["threaded"],
        "baseline": result["serial"],
        "goal": "< 1",
        "limit": 1.0,
    }


def _prepare(work: Path, mlflow_db: Path | None = None) -> dict[str, str]:
    """A migrated sqlite MLflow store (a copy of ``mlflow_db`` if given) and the demo's training rows as
    parquet; the workers' environment."""
    import shutil

    from mlflow import MlflowClient

    from airflow_mlops.demo.datasets import data_versions

    work.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{work / 'mlflow.db'}"
    if mlflow_db is not None and mlflow_db.is_file():
        shutil.copyfile(mlflow_db, work / "mlflow.db")  # already migrated: saves seconds
    MlflowClient(tracking_uri=uri).search_experiments(max_results=1)  # migrates the schema, outside the timings
    train, _ = data_versions()
    train.to_parquet(work / "train.parquet")
    conn = {"conn_type": "mlflow", "extra": {"tracking_uri": uri, "artifact_location": str(work / "artifacts"),
                                             "create_store": True}}  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "MLFLOW_", "_AIRFLOW"))}
    env.update({"AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps(conn), "AIRFLOW_HOME": str(work / "airflow-home"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
                "PYTHONWARNINGS": "ignore", "PYTHONPATH": str(HERE.parents[1])})  # fmt: skip
    return env


def _search(env: dict[str, str], work: Path, n_trials: int, workers: int, run_id: str) -> tuple[float, float]:
    """The search's wall time with ``workers`` concurrent worker processes, from the common go to the last end,
    and the CPU seconds the workers spent in it (all of them together)."""
    gate = work / run_id
    gate.mkdir()
    ready = [gate / f"ready-{w}" for w in range(workers)]
    procs = []
    for w in range(workers):
        args = {"worker": w, "workers": workers, "n_trials": n_trials, "train_uri": str(work / "train.parquet"),
                "run_id": run_id, "ready": str(ready[w]), "go": str(gate / "go")}  # fmt: skip
        with (gate / f"worker-{w}.log").open("w") as log:
            procs.append(subprocess.Popen([sys.executable, str(HERE), "worker", json.dumps(args)], env=env,
                                          stdout=subprocess.PIPE, stderr=log, text=True))  # fmt: skip
    deadline = time.monotonic() + 600
    while not all(r.exists() for r in ready):
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            break
        time.sleep(0.01)
    (gate / "go").touch()
    results = []
    for w, proc in enumerate(procs):
        out, _ = proc.communicate(timeout=1800)
        lines = [line for line in out.splitlines() if line.startswith("RESULT=")]
        if proc.returncode != 0 or len(lines) != 1:
            tail = (gate / f"worker-{w}.log").read_text()[-1500:]
            raise RuntimeError(f"tuning worker {w} exited {proc.returncode}:\n{tail}")
        results.append(json.loads(lines[0].removeprefix("RESULT=")))
    ran = sorted(n for r in results for n in r["ran"])
    if ran != list(range(n_trials)):
        raise RuntimeError(f"the workers ran trials {ran}, not 0..{n_trials - 1} once each")
    return max(r["ended"] for r in results) - min(r["started"] for r in results), sum(r["cpu"] for r in results)


def measure(
    work: Path, *, n_trials: int = 20, workers: int = 2, k: int = 3, mlflow_db: Path | None = None
) -> dict[str, Any]:
    """Median search time of one worker and of ``workers``, interleaved over ``k`` rounds."""
    env = _prepare(work, mlflow_db)
    one: list[tuple[float, float]] = []
    many: list[tuple[float, float]] = []
    for round_ in range(k):
        one.append(_search(env, work, n_trials, 1, f"one-{round_}"))
        many.append(_search(env, work, n_trials, workers, f"many-{round_}"))
    return {"one": statistics.median(w for w, _ in one), "many": statistics.median(w for w, _ in many),
            "one_runs": [w for w, _ in one], "many_runs": [w for w, _ in many],
            "one_cpu": statistics.median(c for _, c in one), "many_cpu": statistics.median(c for _, c in many),
            "n_trials": n_trials, "workers": workers, "k": k}  # fmt: skip


def row(result: dict[str, Any]) -> dict[str, Any]:
    """The bench table's row: N workers (ours) against one (the baseline)."""
    return {
        "measure": f"tuning, {result['n_trials']} trials: {result['workers']} `tune` workers vs 1",
        "ours": result["many"],
        "baseline": result["one"],
        "goal": f"< 1 ({result['workers']} workers on 2 cores)",
        "limit": 1.0,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["worker"], ["cv"]):
        child = worker if argv[0] == "worker" else cross_validation
        print("RESULT=" + json.dumps(child(json.loads(argv[1]))), flush=True)
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--k", type=int, default=3)
    opts = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="airflow-mlops-tuning-bench-") as tmp:
        result = measure(Path(tmp), n_trials=opts.trials, workers=opts.workers, k=opts.k)
    cv = measure_cv(k=opts.k)
    print(json.dumps({"tuning": {**result, "ratio": result["many"] / result["one"]},
                      "cross_validation": {**cv, "ratio": cv["threaded"] / cv["serial"]}}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
