"""One measurement per fresh interpreter: ``python bench/children.py <kind> '<json args>'``.

Each kind prints exactly one line ``RESULT=<json>`` on stdout. ``run.py`` starts these, k
times each, and takes medians; nothing here decides what is fast enough.

Heavy libraries are imported inside functions (the repo's ruff config bans module-level
imports of mlflow, GX, dvc, sklearn, pandas and numpy, and this file follows it).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ops_bench

HEAVY = ("mlflow", "great_expectations", "dvc", "sklearn", "pandas", "scipy", "skops", "numpy")


def _heavy_loaded() -> list[str]:
    return sorted({name.split(".")[0] for name in sys.modules} & set(HEAVY))


# -- 1. import cost ---------------------------------------------------------------------------


def measure_import(_: dict[str, Any]) -> dict[str, Any]:
    """``import airflow.sdk`` (the baseline), then what a loader stub and a DAG build add to it."""
    t0 = time.perf_counter()
    import airflow.sdk  # noqa: F401

    t1 = time.perf_counter()
    print("--- airflow.sdk imported ---", file=sys.stderr, flush=True)  # marker for -X importtime runs
    from airflow_mlops import load_pipeline, load_pipelines  # noqa: F401 - the loader stub's import

    t2 = time.perf_counter()
    # Everything load_pipeline imports when it builds a retraining DAG.
    import airflow_mlops.factory.retraining
    import airflow_mlops.factory.templates
    import airflow_mlops.settings
    import airflow_mlops.spec.loader  # noqa: F401

    t3 = time.perf_counter()
    return {"sdk": t1 - t0, "loader": t2 - t1, "build_stack": t3 - t1, "heavy": _heavy_loaded()}


# -- 2. DagBag parse + serialization ------------------------------------------------------------


def _structure(dag: Any) -> dict[str, list[str]]:
    return {task_id: sorted(task.upstream_task_ids) for task_id, task in sorted(dag.task_dict.items())}


def _fingerprint(serialized: dict[str, Any]) -> str:
    """A hash of the serialized DAG without its file location: equal means the same DAG."""
    import hashlib

    dag = {
        k: v for k, v in serialized["dag"].items() if k not in ("fileloc", "relative_fileloc", "_processor_dags_folder")
    }
    return hashlib.sha256(json.dumps(dag, sort_keys=True, default=str).encode()).hexdigest()


def measure_parse(args: dict[str, Any]) -> dict[str, Any]:
    """DagBag over the whole folder, then DagSerialization.to_dict on every DAG it found."""
    import airflow.sdk  # noqa: F401 - already paid by every DAG processor; not measured
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    t0 = time.perf_counter()
    bag = DagBag(dag_folder=args["folder"])
    t1 = time.perf_counter()
    serialized = [DagSerialization.to_dict(dag) for dag in bag.dags.values()]
    t2 = time.perf_counter()
    sizes = [len(json.dumps(data, default=str)) for data in serialized]
    probe = bag.dags.get(args["dag_id"])
    return {
        "fingerprint": _fingerprint(DagSerialization.to_dict(probe)) if probe is not None else None,
        "parse": t1 - t0,
        "serialize": t2 - t1,
        "n_dags": len(bag.dags),
        "n_tasks": sum(len(d.task_dict) for d in bag.dags.values()),
        "serialized_bytes": sum(sizes),
        "import_errors": {str(k): str(v)[-600:] for k, v in bag.import_errors.items()},
        "structure": _structure(probe) if probe is not None else None,
        "heavy": _heavy_loaded(),
    }


def measure_taskparse(args: dict[str, Any]) -> dict[str, Any]:
    """What a worker pays at task start: BundleDagBag over the DAG's one file, as task_runner.parse does.

    The parent sets ``_AIRFLOW_PARSING_CONTEXT_DAG_ID``/``_TASK_ID`` (or not) in our environment.
    """
    import airflow.sdk  # noqa: F401
    from airflow.dag_processing.dagbag import BundleDagBag

    t0 = time.perf_counter()
    bag = BundleDagBag(
        dag_folder=args["file"],
        safe_mode=False,
        load_op_links=False,
        bundle_path=Path(args["bundle"]),
        bundle_name="dags-folder",
    )
    task = bag.dags[args["dag_id"]].task_dict[args["task_id"]]
    t1 = time.perf_counter()
    return {
        "seconds": t1 - t0,
        "n_dags": len(bag.dags),
        "task": task.task_id,
        "context": os.environ.get("_AIRFLOW_PARSING_CONTEXT_DAG_ID"),
    }


def measure_factory_breakdown(args: dict[str, Any]) -> dict[str, Any]:
    """Where the factory's per-pipeline parse time goes: YAML, spec validation, DAG building.

    The modules are imported first, so this is the per-file cost a DagBag pays after the first
    file. ``libyaml_compose`` is the same YAML composed by PyYAML's C loader, for reference.
    """
    import airflow.sdk  # noqa: F401
    import yaml

    import airflow_mlops.factory.retraining  # noqa: F401
    from airflow_mlops.factory.templates import build_dag
    from airflow_mlops.spec import document, loader, yaml_source

    folder = Path(args["folder"])
    paths = sorted(folder.glob("*.yaml"))
    suite = folder / "suites" / "breast_cancer.yaml"
    build_dag(loader.load_pipeline_spec(paths[0], defaults_root=folder), source="warm-up")  # one-off lazy setup
    t0 = time.perf_counter()
    for path in paths:
        document.read_yaml(path)
    t_pipelines = time.perf_counter()
    for _ in paths:
        loader.load_suite(suite)  # what load_pipeline_spec does for every pipeline that names the suite
    t1 = time.perf_counter()
    specs = [loader.load_pipeline_spec(path, defaults_root=folder) for path in paths]
    t2 = time.perf_counter()
    for path, spec in zip(paths, specs, strict=True):
        build_dag(spec, source=path.name)
    t3 = time.perf_counter()
    libyaml = None
    if getattr(yaml, "__with_libyaml__", False):
        for path in paths:
            yaml.compose(path.read_text(), Loader=yaml.CSafeLoader)
            yaml.compose(suite.read_text(), Loader=yaml.CSafeLoader)
        libyaml = time.perf_counter() - t3
    # For reference, what reading the YAML costs without libyaml and without reuse: both files
    # through the pure-Python loader, the suite again for every pipeline.
    fast, yaml_source._FastLoader = getattr(yaml_source, "_FastLoader", None), None
    t4 = time.perf_counter()
    for path in paths:
        document.read_yaml(path)
        document.read_yaml(suite)
    python_yaml = time.perf_counter() - t4
    yaml_source._FastLoader = fast
    return {
        "n": len(paths),
        "yaml": t1 - t0,
        "yaml_suite": t1 - t_pipelines,
        "spec": t2 - t1,
        "build": t3 - t2,
        "libyaml_compose": libyaml,
        "yaml_python": python_yaml,
    }


# -- 4. operator overhead -----------------------------------------------------------------------


def settle_heap() -> None:
    """Collect, then freeze what is left, before the timed part of a child.

    A full collection walks every object the imports and the warm-up made (0.4-0.5 s here) and
    lands in whichever step crosses the collector's threshold: in every round of one run it was
    the plain script's prepare_data (0.52 s instead of 0.04 s). Frozen objects are not walked
    again, so each side's steps time their own work.
    """
    import gc

    gc.collect()
    gc.freeze()


def measure_ops(args: dict[str, Any]) -> dict[str, Any]:
    """The whole retraining chain on the embedded stack, ours (execute()) or the plain script."""
    stack = ops_bench.EmbeddedStack(Path(args["workdir"]))
    stack.setup(trees=int(args.get("trees", 200)), mlflow_db=args.get("mlflow_db"))
    run = ops_bench.run_operators if args["variant"] == "ours" else ops_bench.run_plain
    # An untimed pass over another pipeline first, so each step's timing is its own work and not
    # the one-off initialisation (MLflow fluent state, GX registries, sklearn, skops) of whichever
    # step happens to touch a library first. Each variant warms up with its own code.
    if args.get("warmup", True):
        # The warm-up leaves out ours' serving check and rollout: each starts a model server in a
        # process of its own, about 10 s of every round together, with nothing in this process to warm
        # for the chain's steps. Their own first use here is charged to their own rows, timed alone.
        if args["variant"] == "ours":
            ops_bench.run_operators(stack, stack.warmup_spec, serve=False)
        else:
            run(stack, stack.warmup_spec)
    settle_heap()
    times, outcome = run(stack, stack.spec)
    latency = getattr(stack, "endpoint_latency", None)  # ours only: the plain script deploys nothing
    if latency is not None:
        times["deploy"] = latency["rollout_seconds"]  # without the bench's own timed requests
    return {"steps": times, "outcome": outcome, "endpoint": latency}


#: One DAG run id per run of the cache bench: the cache never reuses a result of the run asking.
CACHE_RUN_IDS = {
    "full": "manual__2026-01-01T00:00:00+00:00",
    "unchanged": "manual__2026-01-02T00:00:00+00:00",
    "one_changed": "manual__2026-01-03T00:00:00+00:00",
}


def measure_cache(args: dict[str, Any]) -> dict[str, Any]:
    """Step caching on one store: a full run (cache empty), the same run again, then one candidate changed.

    The three must share a store, so they run in one interpreter, one after the other; each is
    timed per step like ``measure_ops``. The chain stops at promote (ops_bench.run_operators).
    """
    stack = ops_bench.EmbeddedStack(Path(args["workdir"]))
    stack.setup(trees=int(args.get("trees", 200)), mlflow_db=args.get("mlflow_db"))
    if args.get("warmup", True):
        # Untimed, on another pipeline: a full run and its re-run, so the first use of the code a
        # hit takes (adopting a model, a skipped register) is not charged to the timed re-run.
        for run_id in (CACHE_RUN_IDS["full"], CACHE_RUN_IDS["unchanged"]):
            ops_bench.run_operators(stack, stack.warmup_spec, run_id=run_id, caching=True)
    settle_heap()
    specs = {"full": stack.spec, "unchanged": stack.spec, "one_changed": ops_bench.one_candidate_changed(stack.spec)}
    runs = {}
    for name, spec in specs.items():
        steps, outcome = ops_bench.run_operators(stack, spec, run_id=CACHE_RUN_IDS[name], caching=True)
        runs[name] = {"steps": steps, "outcome": outcome}
    return {"runs": runs, "changed": ops_bench.CHANGED_CANDIDATE, "change": ops_bench.CHANGED_PARAMS}


def measure_logmodel(args: dict[str, Any]) -> dict[str, Any]:
    """mlflow.sklearn.log_model with the requirements given (as the train operator does) or inferred."""
    stack = ops_bench.EmbeddedStack(Path(args["workdir"]))
    stack.setup(data_repo=False, libraries=ops_bench.MODEL_LIBRARIES, mlflow_db=args.get("mlflow_db"))
    return {"seconds": ops_bench.time_log_model(stack, explicit=args["variant"] == "explicit")}


def make_mlflow_db(args: dict[str, Any]) -> dict[str, Any]:
    ops_bench.create_mlflow_db(Path(args["path"]))
    return {"path": args["path"]}


# -- 5. validation throughput -------------------------------------------------------------------


def measure_validation(args: dict[str, Any]) -> dict[str, Any]:
    from validation_suite import EXPECTATIONS, make_frame, plain_checks

    frame = make_frame(int(args["rows"]))
    if args["variant"] == "ours":
        from airflow_mlops.hooks import gx

        gx._import_gx()  # the import is what every GX task pays anyway; time the validation only
        t0 = time.perf_counter()
        result = gx.validate_dataframe(frame, EXPECTATIONS, suite_name="bench.throughput")
        seconds = time.perf_counter() - t0
        outcomes = [bool(r["success"]) for r in result["results"]]
    else:
        t0 = time.perf_counter()
        outcomes = [bool(ok) for ok, _ in plain_checks(frame)]
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows": len(frame), "columns": frame.shape[1], "outcomes": outcomes}


def measure_scale(args: dict[str, Any]) -> dict[str, Any]:
    """Data at scale: the data and its refs (``mode=setup``), or one step of one variant (scale_bench.py)."""
    import scale_bench

    return scale_bench.child(args)


KINDS = {
    "import": measure_import,
    "parse": measure_parse,
    "taskparse": measure_taskparse,
    "breakdown": measure_factory_breakdown,
    "ops": measure_ops,
    "cache": measure_cache,
    "logmodel": measure_logmodel,
    "mlflow_db": make_mlflow_db,
    "validation": measure_validation,
    "scale": measure_scale,
}


def main() -> None:
    kind, raw = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "{}"
    if kind == "forkserver":  # runs the other kinds in forks of itself (forks.py)
        import forks

        forks.serve(json.loads(raw)["libraries"], KINDS)
        os._exit(0)
    result = KINDS[kind](json.loads(raw))
    print("RESULT=" + json.dumps(result, default=str), flush=True)
    sys.stderr.flush()
    # Skip interpreter teardown: freeing 500 DAGs takes seconds and is not what is measured.
    os._exit(0)


if __name__ == "__main__":
    main()
