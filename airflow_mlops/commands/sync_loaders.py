"""``airflow-mlops sync-loaders``: one loader stub beside each pipeline file.

Airflow isolates import errors per Python file, so each pipeline gets its own tiny loader;
this keeps those stubs in step with the YAML files. ``--check`` is for CI: it changes
nothing and fails if a stub is missing, outdated or orphaned.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _run(args: argparse.Namespace) -> int:
    from airflow_mlops.factory.loader import sync_loaders

    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"{folder}: not a folder", file=sys.stderr)
        return 1
    report = sync_loaders(folder, write=not args.check, prune=args.prune and not args.check)
    verbs = {
        "created": "missing" if args.check else "created",
        "outdated": "outdated" if args.check else "rewritten",
        "orphaned": "orphaned (its pipeline file is gone)" if not args.prune else "removed",
    }
    for kind, stubs in report.items():
        for stub in stubs:
            print(f"{stub}: {verbs[kind]}")
    problems = report["created"] + report["outdated"] + report["orphaned"]
    if args.check and problems:
        print("run `airflow-mlops sync-loaders` to fix", file=sys.stderr)
        return 1
    if not problems:
        print(f"{folder}: every pipeline has its loader")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("sync-loaders", help="write a DAG loader stub beside each pipeline file")
    parser.add_argument("folder", help="folder of pipeline YAML files (searched recursively)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if any stub needs work")
    parser.add_argument("--prune", action="store_true", help="delete stubs whose pipeline file is gone")
    parser.set_defaults(func=_run)
