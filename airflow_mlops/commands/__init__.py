"""One module per ``airflow-mlops`` subcommand; each exposes ``register(subparsers)``.

Command modules import their heavy dependencies inside the handler, so ``--help`` and
``validate`` stay instant.
"""

from __future__ import annotations

import argparse

COMMAND_MODULES = (
    "airflow_mlops.commands.validate",
    "airflow_mlops.commands.render",
    "airflow_mlops.commands.schema",
    "airflow_mlops.commands.demo",
    "airflow_mlops.commands.sync_loaders",
    "airflow_mlops.commands.promote",
    "airflow_mlops.commands.rollback",
    "airflow_mlops.commands.lineage",
    "airflow_mlops.commands.card",
    "airflow_mlops.commands.endpoint",
)


def add_mlflow_args(parser: argparse.ArgumentParser, *, aliases: bool = False) -> None:
    """Where the on-call commands find MLflow (and which aliases they move): one spelling for all."""
    if aliases:
        parser.add_argument("--alias", default="champion", help="alias to move (default: champion)")
        parser.add_argument("--previous-alias", default="previous", help="alias kept on the old champion")
    parser.add_argument(
        "--conn-id", default="mlflow_default", help="Airflow connection of MLflow (default: %(default)s)"
    )
    parser.add_argument("--tracking-uri", help="MLflow tracking URI; overrides the connection")
