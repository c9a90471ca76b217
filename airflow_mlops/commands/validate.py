"""``airflow-mlops validate``: check pipeline files before Airflow ever sees them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _run(args: argparse.Namespace) -> int:
    from airflow_mlops.factory.loader import pipeline_files
    from airflow_mlops.spec.errors import PipelineConfigError
    from airflow_mlops.spec.loader import load_pipeline_spec
    from airflow_mlops.spec.models import RetrainingPipelineSpec

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
            detail = (
                f"{len(spec.models)} candidates"
                if isinstance(spec, RetrainingPipelineSpec)
                else f"model {spec.model.name}@{spec.model.alias}"
            )
            print(f"{file}: ok ({spec.pipeline}, {spec.template}, {detail})")
    return 1 if failures else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("validate", help="check pipeline YAML files or folders")
    parser.add_argument("paths", nargs="+")
    parser.set_defaults(func=_run)
