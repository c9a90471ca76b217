"""Tuning trials spread over workers, and against a plain Optuna script; CV folds in threads.

Each worker is a fresh interpreter running ``TuneTrialsOperator.execute()`` (the real task code:
its share of the trials, the study rebuilt before each ask) against one sqlite MLflow store, as
N Celery workers would against the tracking server. The workers import everything first and
then wait for a common go (a file), so the figure is the search's wall time (first trial started
to last trial finished), not interpreter start-up, which every Airflow task pays whatever it
runs. One worker running all the trials is the baseline of N workers.

The same one-worker runs are ours against bench/tuning_plain.py, the plain Optuna script a user
would write (create_study, cross_val_score, a nested MLflow run per trial), started the same way
on its own copy of the migrated store and running the same trials (same points, folds, forest
and metric: the bench checks that every trial's params and score agree). Rounds interleave:
one worker, the plain script, N workers.

    python bench/tuning_bench.py                        # 20 trials, 1 vs 2 workers vs plain, k = 3; both CV rows
    python bench/tuning_bench.py --trials 4 --k 1       # quick
    python bench/run.py --only tuning                   # the same rows in the bench's table

The candidate is the demo's random forest (``n_estimators`` and ``max_depth`` searched, 3 folds
of the demo's 380 rows, random sampler, no pruning so every trial does the same work).

The CV rows are ``cross_validation.n_jobs``: the forest cross-validated on 5 folds one after the
other, and 2 at a time in threads, in one process; on the demo's rows (100 trees), reported with
no goal, and on ``SYNTHETIC_ROWS`` synthetic rows where a fold is real work (see :func:`cv_row`).
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
#: The CV row where folds carry real work: 16,000 training rows a fold, so a tree is tens of
#: milliseconds of compiled code that releases the GIL; 20 trees keep the serial run near 5 s.
SYNTHETIC_ROWS, SYNTHETIC_TREES = 20_000, 20
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
    import pyarrow.parquet  # noqa: F401
    import sklearn.ensemble  # noqa: F401

    import airflow_mlops.ml.cross_validation  # noqa: F401 - imports the first trial would pay, outside the timing

    op.mlflow_hook.get_client().search_experiments(max_results=1)
    settle_heap()
    Path(args["ready"]).touch()
    go = Path(args["go"])
    while not go.exists():  # every worker starts when the last one is ready
        time.sleep(0.005)
    started, cpu = time.time(), time.process_time()
    result = op.execute(context)  # type: ignore[arg-type]
    ended, cpu = time.time(), time.process_time() - cpu
    return {"started": started, "ended": ended, "cpu": cpu, "ran": result["ran"],
            "trials": _recorded(op, result, args["run_id"]) if int(args["workers"]) == 1 else []}  # fmt: skip


def settle_heap() -> None:
    """Collect, then freeze what the imports left, before the timing (as children.settle_heap does for the
    operator rows): a full collection walks every imported object, Airflow's included, and would land in
    whichever trial crosses the collector's threshold."""
    import gc

    gc.collect()
    gc.freeze()


def _recorded(op: Any, result: dict[str, Any], run_id: str) -> list[dict[str, Any]]:
    """The trials the search recorded in MLflow (after the timing), to check the plain script ran the same."""
    from airflow_mlops.hooks.mlflow_trials import MlflowTrialLog
    from airflow_mlops.record import tag

    identity = tag.identity("tuning_bench", run_id, tag.ROLE_CANDIDATE, CANDIDATE["name"])
    log = MlflowTrialLog(op.mlflow_hook, result["experiment_id"], identity, result["mlflow_run_id"], "f1", "")
    return [{"number": r.number, "params": r.params, "value": r.value} for r in log.recorded()]


def plain(args: dict[str, Any]) -> dict[str, Any]:
    """The plain Optuna script (bench/tuning_plain.py) running the same trials as one worker."""
    import tuning_plain

    return tuning_plain.run(args, SPACE, seed=int(_tuning(0, 1)["seed"]), settle=settle_heap)


def _cv_data(rows: int) -> tuple[Any, Any]:
    """The demo's training rows (``rows`` = 0), or ``rows`` x 20 synthetic ones (10 informative columns, seeded)."""
    import pandas as pd

    if not rows:
        from airflow_mlops.demo.datasets import data_versions

        train, _ = data_versions()
        return train.drop(columns=["target"]), train["target"]
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=rows, n_features=20, n_informative=10, random_state=0)
    return pd.DataFrame(x, columns=[f"x{i}" for i in range(20)]), pd.Series(y, name="target")


def cross_validation(args: dict[str, Any]) -> dict[str, Any]:
    """CV of the forest, folds in turn and ``n_jobs`` at once in threads, interleaved; wall and CPU seconds."""
    from airflow_mlops.ml.cross_validation import cross_validate
    from airflow_mlops.ml.estimators import build_pipeline, fit_weighted

    features, labels = _cv_data(int(args["rows"]))
    splitter = {"folds": int(args["folds"]), "stratified": True, "group_by": None, "shuffle": True, "seed": 0}

    def fit(x: Any, y: Any) -> Any:
        pipeline = build_pipeline(
            estimator_path=CANDIDATE["estimator"],
            params={"n_estimators": int(args["trees"]), "random_state": 0},
            preprocessing=CANDIDATE["preprocessing"],
            features=x,
            allowed_prefixes=("sklearn.",),
        )
        return fit_weighted(pipeline, x, y, None)  # fmt: skip

    def timed(n_jobs: int) -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        cross_validate(fit, features, labels, problem="classification", splitter=splitter, n_jobs=n_jobs)
        return time.perf_counter() - started, time.process_time() - cpu

    timed(int(args["n_jobs"]))  # warm-up: first fit and scoring imports, joblib's thread pool
    serial, threaded = [], []
    for _ in range(int(args["k"])):
        serial.append(timed(1))
        threaded.append(timed(int(args["n_jobs"])))
    return {"serial": statistics.median(w for w, _ in serial), "threaded": statistics.median(w for w, _ in threaded),
            "serial_cpu": statistics.median(c for _, c in serial),
            "threaded_cpu": statistics.median(c for _, c in threaded)}  # fmt: skip


def measure_cv(*, folds: int = 5, n_jobs: int = 2, k: int = 3, rows: int = 0, trees: int = 100) -> dict[str, Any]:
    """:func:`cross_validation` in a fresh interpreter: the demo's rows (``rows`` = 0) or ``rows`` synthetic ones."""
    args = {"folds": folds, "n_jobs": n_jobs, "k": k, "rows": rows, "trees": trees}
    env = {**os.environ, "PYTHONPATH": str(HERE.parents[1]), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, str(HERE), "cv", json.dumps(args)], env=env, capture_output=True,
                          text=True, timeout=1800, check=False)  # fmt: skip
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT=")]
    if proc.returncode != 0 or len(lines) != 1:
        raise RuntimeError(f"the cross-validation child exited {proc.returncode}:\n{proc.stderr[-1500:]}")
    return {**json.loads(lines[0].removeprefix("RESULT=")), **args}


def measure_cvs(*, k: int = 3, smoke: bool = False) -> list[dict[str, Any]]:
    """The two CV rows' measures: the demo's rows, then the synthetic ones (tiny for a smoke run)."""
    folds, rows, trees = (3, 2000, 5) if smoke else (5, SYNTHETIC_ROWS, SYNTHETIC_TREES)
    return [measure_cv(folds=folds, k=k), measure_cv(folds=folds, k=k, rows=rows, trees=trees)]


def cv_row(result: dict[str, Any]) -> dict[str, Any]:
    """The bench table's row: CV with ``n_jobs`` threads (ours) against folds in turn (the baseline).

    On the demo's rows it is reported with no goal: a fold of 300 rows fits each tree in about a
    millisecond, most of it Python holding the GIL, so threads cannot overlap it. The goal applies
    where folds carry real work (the synthetic rows)."""
    demo = not result["rows"]
    rows = "the demo's 380 rows" if demo else f"{result['rows']:,} x 20 synthetic rows"
    return {
        "measure": f"cross-validation, {result['folds']} folds of {rows}, {result['trees']} trees: "
        f"`n_jobs: {result['n_jobs']}` vs 1",
        "ours": result["threaded"],
        "baseline": result["serial"],
        "goal": "- (reported)" if demo else "< 1",
        "limit": None if demo else 1.0,
        "missing": "",
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
    shutil.copyfile(work / "mlflow.db", work / "plain-mlflow.db")  # the plain script's own store, still empty
    train, _ = data_versions()
    train.to_parquet(work / "train.parquet")
    conn = {"conn_type": "mlflow", "extra": {"tracking_uri": uri, "artifact_location": str(work / "artifacts"),
                                             "create_store": True}}  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "MLFLOW_", "_AIRFLOW"))}
    env.update({"AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps(conn), "AIRFLOW_HOME": str(work / "airflow-home"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
                "PYTHONWARNINGS": "ignore", "PYTHONPATH": str(HERE.parents[1])})  # fmt: skip
    return env


def _search(
    env: dict[str, str], work: Path, n_trials: int, workers: int, run_id: str, *, kind: str = "worker"
) -> tuple[float, float, list[dict[str, Any]]]:
    """The search's wall time with ``workers`` concurrent processes, from the common go to the last end, the
    CPU seconds they spent in it (all together), and the trials one process ran (none are kept for several).

    ``kind`` is ``worker`` (our task) or ``plain`` (bench/tuning_plain.py, one process, its own store)."""
    gate = work / run_id
    gate.mkdir()
    ready = [gate / f"ready-{w}" for w in range(workers)]
    procs = []
    for w in range(workers):
        args = {"worker": w, "workers": workers, "n_trials": n_trials, "train_uri": str(work / "train.parquet"),
                "run_id": run_id, "ready": str(ready[w]), "go": str(gate / "go"),
                "tracking_uri": f"sqlite:///{work / 'plain-mlflow.db'}"}  # fmt: skip
        with (gate / f"worker-{w}.log").open("w") as log:
            procs.append(subprocess.Popen([sys.executable, str(HERE), kind, json.dumps(args)], env=env, cwd=gate,
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
            raise RuntimeError(f"tuning {kind} {w} exited {proc.returncode}:\n{tail}")
        results.append(json.loads(lines[0].removeprefix("RESULT=")))
    if kind == "worker":
        ran = sorted(n for r in results for n in r["ran"])
        if ran != list(range(n_trials)):
            raise RuntimeError(f"the workers ran trials {ran}, not 0..{n_trials - 1} once each")
    wall = max(r["ended"] for r in results) - min(r["started"] for r in results)
    return wall, sum(r["cpu"] for r in results), results[0]["trials"] if workers == 1 else []


def same_trials(ours: list[dict[str, Any]], plain: list[dict[str, Any]]) -> str:
    """Where the plain script's trials differ from ours (params, or a score off by more than 1e-9); empty if nowhere."""
    mine, theirs = {t["number"]: t for t in ours}, {t["number"]: t for t in plain}
    if sorted(mine) != sorted(theirs):
        return f"trial numbers {sorted(mine)} (ours) vs {sorted(theirs)} (plain)"
    for n in sorted(mine):
        a, b = mine[n], theirs[n]
        scored = a["value"] is not None and b["value"] is not None
        if a["params"] != b["params"] or not scored or abs(a["value"] - b["value"]) > 1e-9:
            return f"trial {n}: ours {a['params']} scored {a['value']}, plain {b['params']} scored {b['value']}"
    return ""


def measure(
    work: Path, *, n_trials: int = 20, workers: int = 2, k: int = 3, mlflow_db: Path | None = None
) -> dict[str, Any]:
    """Median search time of one worker, of the plain script and of ``workers``, interleaved over ``k`` rounds.

    The one-worker runs serve two rows: the baseline of ``workers`` workers, and ours against the plain script."""
    env = _prepare(work, mlflow_db)
    one: list[tuple[float, float]] = []
    bare: list[tuple[float, float]] = []
    many: list[tuple[float, float]] = []
    differ: list[str] = []
    for round_ in range(k):
        wall, cpu, ours = _search(env, work, n_trials, 1, f"one-{round_}")
        one.append((wall, cpu))
        wall, cpu, theirs = _search(env, work, n_trials, 1, f"plain-{round_}", kind="plain")
        bare.append((wall, cpu))
        differ.append(same_trials(ours, theirs))
        many.append(_search(env, work, n_trials, workers, f"many-{round_}")[:2])
    best = max(ours, key=lambda t: (t["value"], -t["number"])) if ours else {}
    return {"one": statistics.median(w for w, _ in one), "many": statistics.median(w for w, _ in many),
            "plain": statistics.median(w for w, _ in bare),
            "one_runs": [w for w, _ in one], "many_runs": [w for w, _ in many], "plain_runs": [w for w, _ in bare],
            "one_cpu": statistics.median(c for _, c in one), "many_cpu": statistics.median(c for _, c in many),
            "plain_cpu": statistics.median(c for _, c in bare), "differ": next((d for d in differ if d), ""),
            "best": best, "n_trials": n_trials, "workers": workers, "k": k}  # fmt: skip


def row(result: dict[str, Any]) -> dict[str, Any]:
    """The bench table's row: N workers (ours) against one (the baseline)."""
    return {
        "measure": f"tuning, {result['n_trials']} trials: {result['workers']} `tune` workers vs 1",
        "ours": result["many"],
        "baseline": result["one"],
        "goal": f"< 1 ({result['workers']} workers on 2 cores)",
        "limit": 1.0,
        "missing": "",
    }


def overhead_row(result: dict[str, Any]) -> dict[str, Any]:
    """The bench table's row: our one-worker search against the plain Optuna script running the same trials.

    No number when the two ran different trials: the times would be of different work."""
    differ = result["differ"]
    return {
        "measure": f"tuning overhead: {result['n_trials']} trials in one `tune` task vs a plain Optuna script",
        "ours": None if differ else result["one"],
        "baseline": result["plain"],
        "goal": "<= 1.10x",
        "limit": 1.10,
        "missing": f"the plain script ran other trials ({differ})" if differ else "",
    }


def notes(result: dict[str, Any], cvs: list[dict[str, Any]]) -> list[str]:
    """The bench's notes on these rows: per-round times, CPU seconds, the overhead per trial, the trials compared."""
    n = result["n_trials"]
    runs = ", ".join(f"{a:.1f}/{p:.1f}/{b:.1f}" for a, p, b in
                     zip(result["one_runs"], result["plain_runs"], result["many_runs"], strict=True))  # fmt: skip
    best = result["best"]
    same = (f"the plain script ran the same {n} trials (same params, scores within 1e-9; best trial "
            f"{best.get('number')}: {best.get('params')}, f1 {best.get('value') or 0:.4f})"
            if not result["differ"] else f"**the plain script ran other trials**: {result['differ']}")  # fmt: skip
    out = [
        f"tuning search wall time per round, 1 worker/plain Optuna script/2 workers (s): {runs}; CPU seconds "
        f"(median, all workers): {result['one_cpu']:.1f}/{result['plain_cpu']:.1f}/{result['many_cpu']:.1f}; "
        f"load average {os.getloadavg()[0]:.1f} at the end.",
        f"tuning overhead per trial against the plain Optuna script: "
        f"{(result['one'] - result['plain']) / n * 1000:+.0f} ms wall, "
        f"{(result['one_cpu'] - result['plain_cpu']) / n * 1000:+.0f} ms CPU ((ours - plain) / {n} trials); {same}.",
    ]
    for cv in cvs:
        rows = f"{cv['rows']:,} synthetic rows" if cv["rows"] else "the demo's rows"
        out.append(f"cross-validation on {rows}, CPU seconds (median) serial/`n_jobs: {cv['n_jobs']}`: "
                   f"{cv['serial_cpu']:.2f}/{cv['threaded_cpu']:.2f}.")  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["worker"], ["plain"], ["cv"]):
        child = {"worker": worker, "plain": plain, "cv": cross_validation}[argv[0]]
        print("RESULT=" + json.dumps(child(json.loads(argv[1]))), flush=True)
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--no-cv", action="store_true", help="the tuning rows only")
    opts = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="airflow-mlops-tuning-bench-") as tmp:
        result = measure(Path(tmp), n_trials=opts.trials, workers=opts.workers, k=opts.k)
    cvs = [] if opts.no_cv else measure_cvs(k=opts.k)
    rows = [row(result), overhead_row(result), *map(cv_row, cvs)]
    for r in rows:
        ratio = f"{r['ours'] / r['baseline']:.2f}x" if r["ours"] and r["baseline"] else r.get("missing", "")
        print(f"{r['measure']}: {r['ours'] or 0:.2f} s vs {r['baseline']:.2f} s = {ratio} (goal {r['goal']})")
    print("\n".join(notes(result, cvs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
