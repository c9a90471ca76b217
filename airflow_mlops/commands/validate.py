"""``airflow-mlops validate``: check pipeline files before Airflow ever sees them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _run(args: argparse.Namespace) -> int:
    from airflow_mlops import settings
    from airflow_mlops.errors import PipelineConfigError
    from airflow_mlops.factory.loader import pipeline_files
    from airflow_mlops.spec.loader import load_pipeline_spec
    from airflow_mlops.spec.models import RetrainingPipelineSpec
    from airflow_mlops.spec.models_across import PromotionPipelineSpec
    from airflow_mlops.spec.models_ingestion import IngestionPipelineSpec

    files: list[tuple[Path, Path]] = []
    for raw in args.paths:
        path = Path(raw)
        if path.is_dir():
            root = Path(args.defaults_root) if args.defaults_root else path
            files.extend((file, root) for file in pipeline_files(path))
        else:
            files.append((path, Path(args.defaults_root) if args.defaults_root else _default_root(path)))
    failures = 0
    prefixes = settings.allowed_import_prefixes()  # the same allowlist Airflow's loader applies
    for file, root in files:
        try:
            spec = load_pipeline_spec(file, defaults_root=root, allowed_import_prefixes=prefixes)
        except PipelineConfigError as err:
            failures += 1
            print(err, file=sys.stderr)
        except Exception as err:
            # A loader bug must not end the run with a traceback and leave the remaining files
            # unchecked: report it against the file, like any other problem, and carry on.
            failures += 1
            print(f"{file}: {_unexpected(err)}", file=sys.stderr)
        else:
            if isinstance(spec, RetrainingPipelineSpec):
                detail = f"{len(spec.models)} candidates"
            elif isinstance(spec, IngestionPipelineSpec):
                detail = f"{spec.data.source} -> {spec.output.path}@{spec.output.branch}"
            elif isinstance(spec, PromotionPipelineSpec):
                detail = " -> ".join(spec.promotion.through)
            else:
                detail = f"model {spec.model.name}@{spec.model.alias}"
            print(f"{file}: ok ({spec.pipeline}, {spec.template}, {detail})")
    return 1 if failures else 0


def _unexpected(err: Exception) -> str:
    """One line naming what went wrong inside the loader, without a traceback."""
    if isinstance(err, RecursionError):
        detail = "the document is nested too deeply (or refers to itself through an alias)"
    else:
        detail = " ".join(str(err).split())[:200]
    return f"cannot be validated: {type(err).__name__}: {detail} (this is a bug in airflow-mlops; please report it)"


def _default_root(file: Path) -> Path:
    """Defaults apply from the current folder down, like running from the top of a dags repo."""
    cwd = Path.cwd().resolve()
    return cwd if cwd in file.resolve().parents else file.resolve().parent


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("validate", help="check pipeline YAML files or folders")
    parser.add_argument("paths", nargs="+")
    parser.add_argument(
        "--defaults-root",
        help="outermost folder whose defaults.yaml applies (default: each folder argument, "
        "or the current folder for files below it); use your dags folder to match Airflow",
    )
    parser.set_defaults(func=_run)
