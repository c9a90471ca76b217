"""The ``airflow-mlops`` command: subcommands live in ``airflow_mlops.commands``."""

from __future__ import annotations

import argparse
import importlib
import sys

from airflow_mlops.commands import COMMAND_MODULES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="airflow-mlops", description="Governed ML pipelines for Airflow 3.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
