"""Operators run in-process against a real sqlite MLflow store and a real git + DVC data repository.

Nothing here starts a process: the data repository is built with pygit2 (libgit2, in-process)
and DVC's Python API, and every test module runs with process creation forbidden, so an operator
that shells out fails here rather than slowing down every task of every pipeline.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

MLFLOW_CONN = "mlflow_ops"
DVC_CONN = "dvc_ops"
DATA_PATH = "data/cancer.csv"
FEATURES = ["mean radius", "mean texture", "mean perimeter", "mean area", "mean smoothness"]
CANDIDATES = [
    {"name": "logreg", "estimator": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 500}},
    {
        "name": "tree",
        "estimator": "sklearn.tree.DecisionTreeClassifier",
        "params": {"max_depth": 3, "random_state": 0},
        "preprocessing": {"scale": "none"},
    },
]


class SubprocessForbidden(PermissionError):
    """A PermissionError, so libraries that probe for an executable (GitPython) take it as 'not available'."""


@pytest.fixture(scope="module", autouse=True)
def _no_subprocesses() -> Iterator[None]:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise SubprocessForbidden("tests/unit/operators run operators in-process: no subprocess may start")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "_execute_child", forbidden)
        for name in ("fork", "forkpty", "system", "posix_spawn", "posix_spawnp", "execv", "execve"):
            if hasattr(os, name):
                patch.setattr(os, name, forbidden)
        yield


@dataclass
class Stack:
    """One module's MLflow store and data repository."""

    root: Path
    repo: Path
    frame: Any  # the pandas DataFrame committed as DATA_PATH

    @property
    def hook(self) -> Any:
        from airflow_mlops.hooks.mlflow import MlflowHook

        return MlflowHook(MLFLOW_CONN)

    def client(self) -> Any:
        return self.hook.get_client()

    def md5(self) -> str:
        return hashlib.md5((self.repo / DATA_PATH).read_bytes(), usedforsecurity=False).hexdigest()


def commit_data(repo_dir: Path, frame: Any, message: str) -> str:
    """Write ``frame`` as DATA_PATH, track and push it with DVC, commit with pygit2; the commit sha."""
    import pygit2
    from dvc.repo import Repo

    target = repo_dir / DATA_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(target, index=False)
    with Repo(str(repo_dir)) as dvc_repo:
        dvc_repo.add(str(target))
        dvc_repo.push()
    git = pygit2.Repository(str(repo_dir))
    index = git.index
    for path in (".dvc/config", ".dvc/.gitignore", ".dvcignore", f"{DATA_PATH}.dvc", "data/.gitignore"):
        index.add(path)
    index.write()
    signature = pygit2.Signature("tests", "tests@localhost")
    parents = [] if git.head_is_unborn else [git.head.target]
    return str(git.create_commit("HEAD", signature, signature, message, index.write_tree(), parents))


@contextlib.contextmanager
def open_stack(root: Path) -> Iterator[Stack]:
    """A sqlite MLflow store, a git + DVC data repository and the connections to both, under ``root``.

    Shared with the integration tests that run an operator beside a real server process.
    """
    import pygit2
    from dvc.repo import Repo
    from sklearn.datasets import load_breast_cancer

    repo_dir, remote = root / "data-repo", root / "dvc-remote"
    remote.mkdir()
    pygit2.init_repository(str(repo_dir), initial_head="main")
    with Repo.init(str(repo_dir)) as dvc_repo, dvc_repo.config.edit() as conf:
        conf["remote"]["local"] = {"url": str(remote)}
        conf["core"]["remote"] = "local"
        conf["core"]["analytics"] = False
    cancer = load_breast_cancer(as_frame=True).frame
    frame = cancer[[*FEATURES, "target"]].iloc[:240].reset_index(drop=True)
    commit_data(repo_dir, frame, "v1")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DVC_NO_ANALYTICS", "1")
        patch.setenv(
            f"AIRFLOW_CONN_{MLFLOW_CONN.upper()}",
            json.dumps(
                {
                    "conn_type": "mlflow",
                    "extra": {
                        "tracking_uri": f"sqlite:///{root}/mlflow.db",
                        "artifact_location": str(root / "mlruns"),
                        "create_store": True,
                    },
                }
            ),
        )
        patch.setenv(
            f"AIRFLOW_CONN_{DVC_CONN.upper()}", json.dumps({"conn_type": "dvc", "extra": {"repo": str(repo_dir)}})
        )
        # Task outputs (the prepared splits, the predictions) go under the artifact root.
        patch.setenv("AIRFLOW__MLOPS__ARTIFACT_ROOT", f"file://{root}/artifacts")
        yield Stack(root=root, repo=repo_dir, frame=frame)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, _no_subprocesses: None) -> Iterator[Stack]:
    with open_stack(tmp_path_factory.mktemp("operators")) as opened:
        yield opened


def context(dag_id: str, run_id: str, try_number: int = 1) -> Any:
    """The part of an Airflow task context the operators read, with asset events collected."""
    events: defaultdict[Any, SimpleNamespace] = defaultdict(lambda: SimpleNamespace(extra=None))
    ti = SimpleNamespace(dag_id=dag_id, run_id=run_id, task_id="task", map_index=-1, try_number=try_number)
    return {"dag_run": SimpleNamespace(dag_id=dag_id, run_id=run_id), "ti": ti, "outlet_events": events}


# --- the steps of a retraining run, each one operator's execute() ------------------------------------


def resolve(stack: Stack, dag_id: str = "d", run_id: str = "r") -> Any:
    from airflow_mlops.operators.data import ResolveDataVersionOperator

    op = ResolveDataVersionOperator(task_id="resolve_data", path=DATA_PATH, rev="main", dvc_conn_id=DVC_CONN)
    return op.execute(context(dag_id, run_id))


def prepare(stack: Stack, data: Any, dag_id: str = "d", run_id: str = "r", **kwargs: Any) -> Any:
    from airflow_mlops.operators.prepare import PrepareDatasetOperator

    args = {"target": "target", "test_size": 0.25, "seed": 7, "dvc_conn_id": DVC_CONN, **kwargs}
    return PrepareDatasetOperator(task_id="prepare_data", data=data, **args).execute(context(dag_id, run_id))


def train(stack: Stack, dataset: Any, candidate: dict[str, Any], experiment: str, dag_id: str, run_id: str) -> Any:
    from airflow_mlops.operators.train import TrainCandidateOperator

    op = TrainCandidateOperator(
        task_id="train", dataset=dataset, candidate=candidate, experiment=experiment, mlflow_conn_id=MLFLOW_CONN
    )
    return op.execute(context(dag_id, run_id))


def evaluate(
    stack: Stack,
    dataset: Any,
    trained: list[Any],
    experiment: str,
    model: str,
    dag_id: str,
    run_id: str,
    **kwargs: Any,
) -> Any:
    from airflow_mlops.operators.evaluate import EvaluateCandidatesOperator

    op = EvaluateCandidatesOperator(
        task_id="evaluate",
        dataset=dataset,
        trained=trained,
        experiment=experiment,
        model_name=model,
        mlflow_conn_id=MLFLOW_CONN,
        **kwargs,
    )
    return op.execute(context(dag_id, run_id))


def gate(evaluation: Any, dag_id: str, run_id: str, rules: list[dict[str, Any]] | None = None, **kwargs: Any) -> Any:
    from airflow_mlops.operators.gate import EvaluationGateOperator

    op = EvaluationGateOperator(
        task_id="gate",
        evaluation=evaluation,
        rules=rules if rules is not None else [{"metric": "f1", "min": 0.5}],
        select_by="f1",
        mlflow_conn_id=MLFLOW_CONN,
        **kwargs,
    )
    return op.execute(context(dag_id, run_id))


@dataclass
class Chain:
    """What one retraining run hands from task to task, up to the gate."""

    data: Any
    dataset: Any
    trained: list[Any]
    evaluation: Any
    gate: Any


def run_to_gate(stack: Stack, experiment: str, model: str, dag_id: str, run_id: str) -> Chain:
    data = resolve(stack, dag_id, run_id)
    dataset = prepare(stack, data, dag_id, run_id)
    trained = [train(stack, dataset, c, experiment, dag_id, run_id) for c in CANDIDATES]
    evaluation = evaluate(stack, dataset, trained, experiment, model, dag_id, run_id)
    return Chain(data, dataset, trained, evaluation, gate(evaluation, dag_id, run_id))


def validation_digest(run_id: str) -> dict[str, Any]:
    """A passing validation digest, as register reads it (its own operator is tested in test_validation)."""
    return {
        "success": True,
        "suite": "s",
        "statistics": {"evaluated_expectations": 1, "successful_expectations": 1, "success_percent": 100.0},
        "failed": [],
        "n_failed": 0,
        "rows": 240,
        "artifact": "validation/result.json",
        "mlflow_run_id": run_id,
    }
