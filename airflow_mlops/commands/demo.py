"""``airflow-mlops demo``: the example pipeline twice on the embedded default, its champion left serving."""

from __future__ import annotations

import argparse
from pathlib import Path


def _run(args: argparse.Namespace) -> int:
    from airflow_mlops.demo.runner import run_demo

    return run_demo(Path(args.workdir), Path(args.dags_folder))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "demo", help="run the example retraining pipeline twice on the embedded default and serve its champion locally"
    )
    parser.add_argument(
        "--workdir",
        default=".demo",
        help="where the demo keeps its state (recreated; an earlier demo's endpoint there is stopped first)",
    )
    parser.add_argument(
        "--dags-folder",
        default="dags",
        help="the dags folder holding pipelines/breast_cancer.yaml, its loader and suites (copied into the workdir)",
    )
    parser.set_defaults(func=_run)
