"""A throwaway embedded-default deployment for integration tests.

Each pipeline run goes through ``dag.test()`` in a child process, because Airflow reads its
home, database and dags folder at import time and this test process has its own settings.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from airflow_mlops.demo.data_repo import commit_data_version, create_data_repo
from airflow_mlops.demo.runner import demo_environment

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_PIPELINE = REPO_ROOT / "dags" / "pipelines" / "breast_cancer.yaml"
EXAMPLE_SUITE = REPO_ROOT / "dags" / "pipelines" / "suites" / "breast_cancer.yaml"
DATA_PATH = "data/breast_cancer.csv"


class PipelineEnv:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.dags = root / "dags"
        (self.dags / "pipelines" / "suites").mkdir(parents=True)
        shutil.copy(REPO_ROOT / "dags" / "mlops_pipelines.py", self.dags / "mlops_pipelines.py")
        shutil.copy(EXAMPLE_SUITE, self.dags / "pipelines" / "suites" / "breast_cancer.yaml")
        self.env = demo_environment(root, self.dags)
        self.tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
        subprocess.run(
            [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
            env=self.env,
            check=True,
            capture_output=True,
        )
        self.repo = create_data_repo(root / "data-repo", root / "dvc-remote")
        self._runs = 0

    def commit_data(self, content: bytes, message: str, tag: str | None = None) -> str:
        return commit_data_version(self.repo, DATA_PATH, content, message, tag)

    def write_pipeline(self, dag_id: str, **overrides: Any) -> dict[str, Any]:
        """The example pipeline under another dag_id, with top-level sections replaced."""
        spec = yaml.safe_load(EXAMPLE_PIPELINE.read_text())
        spec["pipeline"] = dag_id
        spec["retries"] = {"retries": 0}
        spec["models"][1]["params"]["n_estimators"] = 25
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(spec.get(key), dict):
                spec[key] = {**spec[key], **value}
            else:
                spec[key] = value
        (self.dags / "pipelines" / f"{dag_id}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
        return spec

    def run(self, dag_id: str) -> dict[str, Any]:
        self._runs += 1
        out = self.root / "logs" / f"{self._runs}-{dag_id}.json"
        log = out.with_suffix(".log")
        out.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as handle:
            code = subprocess.call(
                [sys.executable, "-m", "airflow_mlops.demo.run_dag", dag_id, str(out)],
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                cwd=self.root,
            )
        if code != 0 or not out.exists():
            raise AssertionError(f"run of {dag_id} did not complete (exit {code}):\n{log.read_text()[-4000:]}")
        outcome: dict[str, Any] = json.loads(out.read_text())
        outcome["log"] = log.read_text()
        return outcome

    def client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri)
