"""Data at scale (issue #22): the chain's data steps on 100k, 1M and 5M synthetic rows x 20 columns.

The data is generated here (numpy, a fixed seed): 14 float columns (one with 5% missing), two
integer columns, three text columns of 4, 5 and 8 levels and a 0/1 label that depends on
some of them, written as Parquet into a real git + DVC repository. The pipeline is the bench
pipeline (``generate.pipeline_yaml``) pointed at that file, with a 10-rule suite and two
candidates kept small so the group fits its budget: a logistic regression stopped after 10
lbfgs iterations and a forest of 10 trees of depth 8, each grown on 1% of the rows, one core.

Each step runs in its own fresh interpreter, as an Airflow task does: ``children.py scale``
with ``mode=step``. The libraries and the stores are opened first, the heap is collected and
frozen, the kernel's peak-RSS mark is reset (``/proc/self/clear_refs``), then the step alone is
timed; its peak memory is the process's peak during the step minus its RSS before it, i.e. what
the task itself held above its imports. Ours is the operator's ``execute()`` built as
``ops_bench.run_operators`` builds it, plain is the ``ops_bench`` step body, on the same data at
the same size, interleaved step by step; upstream results travel between the processes as JSON
files, as XComs would. Steps whose cost does not depend on the rows (resolve_data, gate,
register, promote) are left out: ``mode=setup`` resolves the data for both, untimed.
"""

from __future__ import annotations

import json
import math
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ops_bench
from children import settle_heap

SEED = 20260122
TARGET = "label"
DATA_PATH = "data/scale.parquet"
DAG_ID = "scale_bench"
STEPS = ("validate_data", "prepare_data", "train_logreg", "train_forest", "evaluate")
VARIANTS = ("ours", "plain")
#: The goals at 1M rows and more (issue #22): time against the plain script, peak memory against the frame.
TIME_GOAL = 1.10
MEMORY_GOAL = 2.5
GOAL_FROM_ROWS = 1_000_000
#: A growth exponent (log(t5/t1) / log 5) above this between the two largest sizes is flagged.
LINEAR = 1.15
LEVELS = {
    "region": ("north", "south", "east", "west"),
    "channel": ("web", "store", "phone", "partner", "app"),
    "plan": tuple(f"plan_{c}" for c in "abcdefgh"),
}
#: The 10-rule suite (the suite file ``load_spec`` writes): what each rule checks, by kind and kwargs.
RULES: list[tuple[str, dict[str, Any]]] = [
    ("expect_table_row_count_to_be_between", {"min_value": 1000}),
    ("expect_column_to_exist", {"column": TARGET}),
    ("expect_column_values_to_be_in_set", {"column": TARGET, "value_set": [0, 1]}),
    ("expect_column_values_to_not_be_null", {"column": TARGET}),
    ("expect_column_values_to_not_be_null", {"column": "x00"}),
    ("expect_column_values_to_be_between", {"column": "x01", "min_value": -10, "max_value": 10}),
    ("expect_column_values_to_not_be_null", {"column": "x13", "mostly": 0.9}),
    ("expect_column_values_to_be_in_set", {"column": "region", "value_set": list(LEVELS["region"])}),
    ("expect_column_values_to_be_between", {"column": "count_b", "min_value": 0, "max_value": 99}),
    ("expect_column_mean_to_be_between", {"column": "x02", "min_value": -0.1, "max_value": 0.1}),
]
MODELS = [
    {
        "name": "logreg",
        "estimator": "sklearn.linear_model.LogisticRegression",
        "params": {"C": 1.0, "max_iter": 10},
        "preprocessing": {"impute": "mean"},
    },
    {
        "name": "forest",
        "estimator": "sklearn.ensemble.RandomForestClassifier",
        "params": {"n_estimators": 10, "max_depth": 8, "max_samples": 0.01, "n_jobs": 1, "random_state": 0},
        "preprocessing": {"impute": "mean", "scale": "none"},
    },
]
#: The test scores ours and the plain script both record, compared to prove they trained the same models.
SCORES = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
SETUP_LIBRARIES = ("airflow.sdk", "pandas", "numpy", "pyarrow.parquet", "dvc.api", "dvc.repo")
#: What each step imports, ours and plain alike, before its clock starts (our own modules included: their
#: import is a fixed cost the import rows measure). Only what the step uses: every library a child imports
#: costs the group seconds (GX about 4, skops 3-5), and 30 children run.
MODEL_LIBRARIES = (*ops_bench.MODEL_LIBRARIES, "sklearn.ensemble", "sklearn.metrics", "airflow_mlops.ml.flavors",
                   "airflow_mlops.ml.metrics", "airflow_mlops.lineage_events.assets")  # fmt: skip
STEP_LIBRARIES = {
    "validate_data": (*SETUP_LIBRARIES, "great_expectations", "great_expectations.expectations",
                      "airflow_mlops.hooks.gx", "airflow_mlops.hooks.dvc"),
    "prepare_data": (*SETUP_LIBRARIES, "sklearn.model_selection", "sklearn.tree", "airflow_mlops.ml.contract_check",
                     "airflow_mlops.hooks.dvc"),
    "train_logreg": (*MODEL_LIBRARIES, "airflow_mlops.ml.estimators"),
    "train_forest": (*MODEL_LIBRARIES, "airflow_mlops.ml.estimators"),
    "evaluate": (*MODEL_LIBRARIES, "airflow_mlops.ml.scoring", "airflow_mlops.ml.trust",
                 "airflow_mlops.ml.serving_requests"),
}  # fmt: skip


def make_frame(rows: int) -> Any:
    """``rows`` x 20: x00-x13 normal floats (x13 5% missing), two integer counts, three text columns, the label."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(SEED)
    data: dict[str, Any] = {f"x{i:02d}": rng.normal(0.0, 1.0, rows) for i in range(14)}
    data["x13"][rng.random(rows) < 0.05] = np.nan
    data["count_a"] = rng.poisson(3.0, rows)
    data["count_b"] = rng.integers(0, 100, rows)
    codes = {name: rng.integers(0, len(values), rows) for name, values in LEVELS.items()}
    for name, values in LEVELS.items():
        data[name] = np.asarray(values, dtype=object)[codes[name]]
    signal = 0.8 * data["x00"] - 0.6 * data["x01"] + 0.4 * data["x02"] * data["x03"] + 0.05 * data["count_a"]
    signal += 0.3 * (codes["region"] == 1) - 0.05 * codes["channel"] + rng.normal(0.0, 1.0, rows)
    data[TARGET] = (signal > 0).astype(np.int64)
    return pd.DataFrame(data)


def load_spec(folder: Path) -> Any:
    """The bench pipeline (generate.py's template) on the synthetic file, validated by the factory's loader."""
    import yaml
    from generate import pipeline_yaml

    from airflow_mlops.spec.loader import load_pipeline_spec

    doc = yaml.safe_load(pipeline_yaml(0))
    doc["pipeline"] = DAG_ID
    doc["data"].update(path=DATA_PATH, target=TARGET)
    doc["validation"]["suite"] = "suites/scale.yaml"
    doc["models"] = MODELS
    doc["registry"]["model_name"] = "scale_model"
    (folder / "suites").mkdir(parents=True, exist_ok=True)
    suite = {"name": "scale", "expectations": [{kind: kwargs} for kind, kwargs in RULES]}
    (folder / "suites" / "scale.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    path = folder / f"{DAG_ID}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_pipeline_spec(path, defaults_root=folder)


# -- in the child process (children.py scale) ---------------------------------------------------


def _stack(root: Path, variant: str, libraries: tuple[str, ...], mlflow_db: str | None = None) -> Any:
    """The variant's embedded stack (its own MLflow store), reading the size's one data repository."""
    from ops_bench import EmbeddedStack

    stack = EmbeddedStack(root / variant)
    stack.repo = root / "data-repo"
    stack.setup(data_repo=False, libraries=libraries, mlflow_db=mlflow_db)
    return stack


def setup(args: dict[str, Any]) -> dict[str, Any]:
    """Generate the data, commit it to DVC, resolve it for both variants; the frame's size in memory."""
    import io

    from airflow_mlops.demo.data_repo import commit_data_version, create_data_repo
    from airflow_mlops.operators.data import ResolveDataVersionOperator

    root, rows = Path(args["root"]), int(args["rows"])
    frame = make_frame(rows)
    frame_mb = float(frame.memory_usage(deep=True).sum()) / 2**20
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    del frame
    create_data_repo(root / "data-repo", root / "dvc-remote")
    commit_data_version(root / "data-repo", DATA_PATH, buffer.getvalue(), f"{rows} synthetic rows")
    refs = {}
    for variant in VARIANTS:
        stack = _stack(root, variant, SETUP_LIBRARIES, args.get("mlflow_db"))
        spec = load_spec(stack.root / "spec")
        if variant == "ours":
            resolve = ResolveDataVersionOperator(task_id="resolve_data", path=spec.data.path, rev=spec.data.rev,
                                                 dvc_conn_id=spec.data.dvc_conn_id)  # fmt: skip
            refs[variant] = resolve.execute(ops_bench.task_context(spec))
        else:
            refs[variant] = ops_bench._plain_resolve(stack, spec.data.path, spec.data.rev)
        (stack.root / "ref.json").write_text(json.dumps(refs[variant]))
    return {"rows": rows, "frame_mb": frame_mb, "file_mb": len(buffer.getvalue()) / 2**20}


def _ours(step: str, spec: Any, inputs: dict[str, Any], run_id: str) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    """The operator of ``step``, built as run_operators builds it (outside the timing), and its execute()."""
    ref, dataset = inputs["ref"], inputs.get("prepare_data")
    if step == "validate_data":
        operator = ops_bench.validate_operator(spec, ref)
    elif step == "prepare_data":
        operator = ops_bench.prepare_operator(spec, ref)
    elif step.startswith("train_"):
        operator = ops_bench.train_operator(spec, dataset, _candidate(spec, step))
    else:
        operator = ops_bench.evaluate_operator(spec, dataset, [inputs[f"train_{m.name}"] for m in spec.models])
    return operator.execute, (ops_bench.task_context(spec, run_id=run_id),)


def _plain(step: str, spec: Any, inputs: dict[str, Any], stack: Any) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    """The plain script's body of ``step`` and its arguments."""
    ref, prepared, parent = inputs["ref"], inputs.get("prepare_data"), inputs.get("validate_data")
    if step == "validate_data":
        return ops_bench._plain_validate, (stack, ref, spec)
    if step == "prepare_data":
        return ops_bench._plain_prepare, (stack, ref, spec)
    if step.startswith("train_"):
        return ops_bench._plain_train, (stack, prepared, _candidate(spec, step), ref, parent)
    trained = [inputs[f"train_{m.name}"] for m in spec.models]
    return ops_bench._plain_evaluate, (stack, prepared, trained, parent, spec.registry.model_name)


def _candidate(spec: Any, step: str) -> dict[str, Any]:
    return next(m.model_dump() for m in spec.models if f"train_{m.name}" == step)


def _status_mb(field: str) -> float | None:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return None


def _reset_peak() -> bool:
    """Set the kernel's peak-RSS mark (VmHWM) to the current RSS, so the peak read later is the step's own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def step(args: dict[str, Any]) -> dict[str, Any]:
    """One step of one variant, timed alone; its peak memory above the process's RSS before it."""
    root, variant, name = Path(args["root"]), args["variant"], args["step"]
    stack = _stack(root, variant, STEP_LIBRARIES[name])
    spec = load_spec(stack.root / "spec")
    outputs = stack.root / "outputs" / f"round-{args['round']}"
    outputs.mkdir(parents=True, exist_ok=True)
    inputs = {"ref": json.loads((stack.root / "ref.json").read_text())}
    inputs |= {p.stem: json.loads(p.read_text()) for p in outputs.glob("*.json")}
    run_id = f"manual__2026-01-{int(args['round']) + 1:02d}T00:00:00+00:00"
    fn, fn_args = _ours(name, spec, inputs, run_id) if variant == "ours" else _plain(name, spec, inputs, stack)
    settle_heap()
    reset = _reset_peak()
    settled = _status_mb("VmRSS") or 0.0
    started, cpu = time.perf_counter(), time.process_time()
    result = fn(*fn_args)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = _status_mb("VmHWM") if reset else None
    if peak is None:  # no resettable mark: the process's peak, imports included
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    (outputs / f"{name}.json").write_text(json.dumps(result, default=str))
    found = {"seconds": seconds, "cpu": cpu, "peak_mb": peak - settled, "settled_mb": settled, "peak_reset": reset}
    return found | {"outcome": _outcome(name, result)}


def _outcome(name: str, result: Any) -> Any:
    """What both variants must agree on: the rows validated and the verdict, every candidate's test scores."""
    if name == "validate_data":
        return {"rows": result["rows"], "success": result["success"]}
    if name == "evaluate":
        return {c["candidate"]: {k: round(float(c["metrics"][k]), 9) for k in SCORES} for c in result["candidates"]}
    return None


def child(args: dict[str, Any]) -> dict[str, Any]:
    return setup(args) if args["mode"] == "setup" else step(args)


# -- in run.py's process ---------------------------------------------------------------------------


def measure(
    sizes: list[int], k: int, run_child: Callable[[dict[str, Any]], dict[str, Any]], work: Path,
    mlflow_db: str, log: Callable[[str], None], jobs: int = 1,
) -> dict[int, dict[str, Any]]:  # fmt: skip
    """Per size: one setup, then ``k`` rounds (one at 5M rows and more) of every step, ours then plain.

    ``jobs`` > 1 (smoke runs only) runs ours and plain of a step at once. A failed step stops that
    variant's round (its later steps have no input); the failure is kept as ``{"error": ...}``.
    """
    from concurrent.futures import ThreadPoolExecutor

    def one(args: dict[str, Any]) -> dict[str, Any]:
        try:
            return run_child(args)
        except Exception as err:  # run.py's ChildError: the child's last lines say why
            return {"error": f"{args['step']} failed: {str(err).strip().splitlines()[-1][:160]}"}

    found: dict[int, dict[str, Any]] = {}
    for rows in sizes:
        root = work / "scale" / str(rows)
        started = time.monotonic()
        made = run_child({"mode": "setup", "root": str(root), "rows": rows, "mlflow_db": mlflow_db})
        log(f"scale {rows:,} rows: data ready in {time.monotonic() - started:.0f} s, frame {made['frame_mb']:.0f} MB")
        runs: dict[str, list[dict[str, Any]]] = {f"{s}-{v}": [] for s in STEPS for v in VARIANTS}
        for number in range(1 if rows >= 5_000_000 else k):
            failed = dict.fromkeys(VARIANTS, "")
            for name in STEPS:
                todo = [v for v in VARIANTS if not failed[v]]
                step = {"mode": "step", "root": str(root), "step": name, "round": number}
                with ThreadPoolExecutor(max(1, min(jobs, len(todo)))) as pool:
                    done = dict(zip(todo, pool.map(one, [{**step, "variant": v} for v in todo]), strict=True))
                for variant in VARIANTS:
                    result = done.get(variant) or {"error": f"not run: {failed[variant]}"}
                    failed[variant] = failed[variant] or result.get("error", "")
                    runs[f"{name}-{variant}"].append(result)
        found[rows] = {**made, "runs": runs}
        log(f"scale {rows:,} rows: done in {time.monotonic() - started:.0f} s")
    return found


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    good = [run[key] for run in runs if "error" not in run]
    return float(statistics.median(good)) if good else None


def _error(*runs: list[dict[str, Any]]) -> str:
    return next((str(run["error"]) for side in runs for run in side if "error" in run), "")


def rows(found: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Two rows per size and step: seconds against the plain script, then peak memory against the frame."""
    out = []
    for size, data in found.items():
        goal = size >= GOAL_FROM_ROWS
        for name in STEPS:
            ours, plain = data["runs"][f"{name}-ours"], data["runs"][f"{name}-plain"]
            missing = _error(ours, plain)
            out.append({
                "measure": f"scale {size:,} rows: `{name}` execute() vs plain script (fresh process each)",
                "ours": _median(ours, "seconds"), "baseline": _median(plain, "seconds"),
                "goal": f"<= {TIME_GOAL:.2f}x" if goal else "-", "limit": TIME_GOAL if goal else None,
                "missing": missing,
            })  # fmt: skip
            out.append({
                "measure": f"scale {size:,} rows: `{name}` peak memory above imports vs the frame, MB (not s)",
                "ours": _median(ours, "peak_mb"), "baseline": data["frame_mb"],
                "goal": f"<= {MEMORY_GOAL}x" if goal else "-", "limit": MEMORY_GOAL if goal else None,
                "missing": _error(ours),
            })  # fmt: skip
    return out


def growth(found: dict[int, dict[str, Any]], variant: str, name: str) -> float | None:
    """How a step's time grows between the two largest sizes: 1.0 is linear in rows."""
    if len(found) < 2:
        return None
    small, big = sorted(found)[-2:]
    t_small = _median(found[small]["runs"][f"{name}-{variant}"], "seconds")
    t_big = _median(found[big]["runs"][f"{name}-{variant}"], "seconds")
    if not t_small or not t_big:
        return None
    return math.log(t_big / t_small) / math.log(big / small)


def _agree(found: dict[int, dict[str, Any]]) -> str:
    """Whether ours and the plain script validated the same rows and scored the same models, at every size."""
    differ = []
    for size, data in found.items():
        for name in ("validate_data", "evaluate"):
            seen = {
                json.dumps(run.get("outcome"), sort_keys=True)
                for variant in VARIANTS
                for run in data["runs"][f"{name}-{variant}"]
                if "error" not in run
            }
            if len(seen) > 1:
                differ.append(f"{size:,} rows, {name}: {sorted(seen)}")
    if differ:
        return "Data at scale: ours and the plain script **differ**: " + "; ".join(differ)
    return (
        "Data at scale: at every size ours and the plain script validated the same rows with the same verdict "
        "and scored the same models the same on the test split (accuracy to log loss, to 9 decimals)."
    )


def notes(found: dict[int, dict[str, Any]]) -> list[str]:
    sizes = [f"{n:,} rows are {d['frame_mb']:.1f} MB in memory ({d['file_mb']:.1f} MB of Parquet)"
             for n, d in found.items()]  # fmt: skip
    out = [f"Data at scale: {'; '.join(sizes)}.", _agree(found)]
    if len(found) >= 2:
        small, big = sorted(found)[-2:]
        exponents = {(name, variant): growth(found, variant, name) for name in STEPS for variant in VARIANTS}
        listed = ", ".join(
            f"`{name}` {_exp(exponents[(name, 'ours')])} (plain {_exp(exponents[(name, 'plain')])})" for name in STEPS
        )
        out.append(f"Data at scale: growth of each step's time from {small:,} to {big:,} rows "
                   f"(log(t_big/t_small) / log({big // small}), 1.00 is linear): {listed}.")  # fmt: skip
        steep = [name for (name, variant), e in exponents.items() if variant == "ours" and e is not None and e > LINEAR]
        if steep:
            out.append(f"Data at scale: **faster than linear** in rows (above {LINEAR}): {', '.join(steep)}.")
    return out


def _exp(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def detail(found: dict[int, dict[str, Any]]) -> str:
    """Every step at every size: both times, both peaks, the frame and the memory ratios."""
    if not found:
        return "(not measured)"
    lines = [
        "| step | rows | ours (s) | plain (s) | ratio | CPU ratio | ours peak (MB) | plain peak (MB) | frame (MB) "
        "| ours / frame | plain / frame |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in STEPS:
        for size, data in found.items():
            ours, plain = data["runs"][f"{name}-ours"], data["runs"][f"{name}-plain"]
            t_ours, t_plain = _median(ours, "seconds"), _median(plain, "seconds")
            m_ours, m_plain = _median(ours, "peak_mb"), _median(plain, "peak_mb")
            if None in (t_ours, t_plain, m_ours, m_plain):
                lines.append(f"| {name} | {size:,} | {_error(ours, plain)} | | | | | | | | |")
                continue
            frame, cpu = data["frame_mb"], (_median(ours, "cpu") or 0.0) / (_median(plain, "cpu") or 1.0)
            lines.append(
                f"| {name} | {size:,} | {t_ours:.2f} | {t_plain:.2f} | {t_ours / t_plain:.2f}x | {cpu:.2f}x "
                f"| {m_ours:.0f} | {m_plain:.0f} | {frame:.0f} | {m_ours / frame:.2f}x | {m_plain / frame:.2f}x |"
            )
    return "\n".join(lines)
