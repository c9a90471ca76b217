"""The ``airflow-mlops`` command.

Kept import-light: each subcommand imports what it needs, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_demo(args: argparse.Namespace) -> int:
    from airflow_mlops.demo.runner import run_demo

    return run_demo(Path(args.workdir), Path(args.dags_folder))


def _cmd_validate(args: argparse.Namespace) -> int:
    from airflow_mlops.factory.loader import pipeline_files
    from airflow_mlops.spec.errors import PipelineConfigError
    from airflow_mlops.spec.loader import load_pipeline_spec

    files: list[Path] = []
    for raw in args.paths:
        path = Path(raw)
        files.extend(pipeline_files(path) if path.is_dir() else [path])
    failures = 0
    for file in files:
        try:
            spec = load_pipeline_spec(file)
        except PipelineConfigError as err:
            failures += 1
            print(err, file=sys.stderr)
        else:
            print(f"{file}: ok ({spec.pipeline}, {len(spec.models)} candidates)")
    return 1 if failures else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="airflow-mlops", description="Governed ML pipelines for Airflow 3.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the example retraining pipeline twice on the embedded default")
    demo.add_argument("--workdir", default=".demo", help="where the demo keeps its state (recreated)")
    demo.add_argument("--dags-folder", default="dags", help="folder holding mlops_pipelines.py and pipelines/")
    demo.set_defaults(func=_cmd_demo)
    validate = sub.add_parser("validate", help="check pipeline YAML files or folders")
    validate.add_argument("paths", nargs="+")
    validate.set_defaults(func=_cmd_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
