"""``airflow-mlops demo``: the standard retraining pipeline, end to end, twice, on one machine.

Everything is real and local: a sqlite Airflow database driven by ``dag.test()``, a sqlite
MLflow store, a git + DVC data repository with a folder remote, and the breast cancer data
that scikit-learn ships. Run 1 trains on data v1 and, with no champion yet, promotes. Then
data v2 is committed, and run 2 must beat that champion on the same test rows.

The pipeline is the example, ``dags/pipelines/breast_cancer.yaml``, copied unchanged into the
workdir's own dags folder with the demo's ``defaults.yaml`` beside it, which adds a ``deployment:``
section: each new champion is served on a local endpoint. The example itself stays without one,
so nothing else that runs it (the tests, a deployment of the dags folder) starts endpoints.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

DAG_ID = "breast_cancer_retrain"
MODEL_NAME = "breast_cancer_classifier"
#: The example pipeline the demo runs, inside the dags folder it is given.
PIPELINE = Path("pipelines") / "breast_cancer.yaml"
#: The demo's addition to it (a deployment: section), installed beside it as defaults.yaml.
DEMO_DEFAULTS = Path(__file__).with_name("defaults.yaml")


def demo_dags(dags_folder: Path, workdir: Path) -> Path:
    """The demo's own dags folder: the example pipeline, its loader and suites, and the demo's defaults.yaml."""
    source = dags_folder / PIPELINE
    if not source.is_file():
        raise SystemExit(f"the example pipeline {source} is missing; run the demo from the repository (--dags-folder)")
    folder = workdir / "dags" / PIPELINE.parent
    shutil.copytree(source.parent / "suites", folder / "suites")
    for file in (source, source.with_suffix(".py")):
        shutil.copy(file, folder / file.name)
    shutil.copy(DEMO_DEFAULTS, folder / "defaults.yaml")
    return workdir / "dags"


def demo_environment(workdir: Path, dags_folder: Path) -> dict[str, str]:
    """The Airflow config for the embedded default, as environment variables."""
    # MLflow must be reached only through the connection below: an inherited MLFLOW_TRACKING_URI
    # or MLFLOW_REGISTRY_URI would silently point some calls at another store.
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    home = workdir / "airflow"
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW__MLOPS__ARTIFACT_ROOT": f"file://{workdir / 'artifacts'}",
            "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps(
                {
                    "conn_type": "mlflow",
                    "extra": {
                        "tracking_uri": f"sqlite:///{workdir / 'mlflow.db'}",
                        "artifact_location": str(workdir / "mlflow-artifacts"),
                        "create_store": True,  # the demo starts from nothing: creating the store is the point
                    },
                }
            ),
            "AIRFLOW_CONN_DVC_DEFAULT": json.dumps({"conn_type": "dvc", "extra": {"repo": str(workdir / "data-repo")}}),
            "GX_ANALYTICS_ENABLED": "False",
            "DVC_NO_ANALYTICS": "1",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
            "PYTHONWARNINGS": "ignore",
        }
    )
    return env


def _step(message: str, started: float) -> None:
    """A phase, with the seconds since the demo started: a quiet minute must not look like a hang."""
    print(f"==> [{time.monotonic() - started:.0f} s] {message}", flush=True)


def _run_pipeline(env: dict[str, str], workdir: Path, label: str) -> dict[str, object]:
    log = workdir / "logs" / f"{label}.log"
    out = workdir / "logs" / f"{label}.json"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as handle:
        code = subprocess.call(
            [sys.executable, "-m", "airflow_mlops.demo.run_dag", DAG_ID, str(out)],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    if code != 0 or not out.exists():
        tail = log.read_text(errors="replace").splitlines()[-40:]
        raise SystemExit(f"{label} could not run (exit {code}); last lines of {log}:\n" + "\n".join(tail))
    outcome: dict[str, object] = json.loads(out.read_text())
    outcome["log"] = str(log)
    return outcome


def _summary(env: dict[str, str], outcome: dict[str, object], title: str) -> str:
    """Read the run's record back from MLflow in a child process configured like the tasks."""
    code = (
        "import json,sys\n"
        "from airflow_mlops.hooks.mlflow import MlflowHook\n"
        "from airflow_mlops.report import pipeline_run_report, format_report\n"
        f"r = pipeline_run_report(MlflowHook(), experiment={DAG_ID!r}, dag_id={DAG_ID!r}, "
        f"run_id={outcome['run_id']!r}, model_name={MODEL_NAME!r})\n"
        f"print(format_report(r, title={title!r}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return f"{title}\n  (could not read the MLflow record: {result.stderr.strip().splitlines()[-1:]})"
    return result.stdout.rstrip()


def run_demo(workdir: Path, dags_folder: Path) -> int:
    from airflow_mlops.demo import endpoint

    started = time.monotonic()
    workdir = workdir.resolve()
    endpoint.stop_previous(workdir)  # before the folder goes: its processes would outlive it, unfindable
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    env = demo_environment(workdir, demo_dags(dags_folder.resolve(), workdir))
    env["AIRFLOW__MLOPS__ENDPOINTS_ROOT"] = str(endpoint.endpoints_root(workdir))
    try:
        outcomes = _runs(env, workdir, started)
        print(
            f"\nTask logs: {workdir / 'logs'}  |  MLflow UI: mlflow ui --backend-store-uri sqlite:///{workdir}/mlflow.db"
        )
    finally:
        # Whatever happened, even a failed run or Ctrl-C, nothing keeps running without the user being told.
        if endpoint.write_url(workdir):
            target = yaml.safe_load((dags_folder / PIPELINE).read_text())["data"]["target"]
            endpoint.write_request(workdir, DAG_ID, str(target))
            _step("A local endpoint serves the champion, and keeps serving after the demo", started)
            endpoint.announce(workdir, env)
    return 1 if any(o["state"] != "success" for o in outcomes) else 0


def _runs(env: dict[str, str], workdir: Path, started: float) -> list[dict[str, object]]:
    from airflow_mlops.demo.data_repo import commit_data_version, create_data_repo
    from airflow_mlops.demo.datasets import data_versions, to_csv_bytes

    _step(f"Preparing the embedded default in {workdir}", started)
    subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    repo = create_data_repo(workdir / "data-repo", workdir / "dvc-remote")
    v1, v2 = data_versions()
    commit_data_version(repo, "data/breast_cancer.csv", to_csv_bytes(v1), "data v1: first labelled batch", "data-v1")
    print(f"    data v1 committed: {len(v1)} rows, tag data-v1, pushed to the DVC remote")

    _step("Run 1: no champion yet (first-run policy decides); a pipeline run takes 30 to 60 s", started)
    first = _run_pipeline(env, workdir, "run1")
    print(_summary(env, first, f"Run 1 ({first['state']}): {first['run_id']}"))

    commit_data_version(repo, "data/breast_cancer.csv", to_csv_bytes(v2), "data v2: more labels", "data-v2")
    print(f"\n    data v2 committed: {len(v2)} rows, tag data-v2")
    _step("Run 2: challenger vs champion on the same test rows", started)
    second = _run_pipeline(env, workdir, "run2")
    print(_summary(env, second, f"Run 2 ({second['state']}): {second['run_id']}"))

    _step("Run 3: the same data and YAML again; each step looks for run 2's result (step caching)", started)
    third = _run_pipeline(env, workdir, "run3")
    print(_summary(env, third, f"Run 3 ({third['state']}): {third['run_id']}"))
    return [first, second, third]
