"""One module per ``airflow-mlops`` subcommand; each exposes ``register(subparsers)``.

Command modules import their heavy dependencies inside the handler, so ``--help`` and
``validate`` stay instant.
"""

COMMAND_MODULES = (
    "airflow_mlops.commands.validate",
    "airflow_mlops.commands.render",
    "airflow_mlops.commands.schema",
    "airflow_mlops.commands.demo",
    "airflow_mlops.commands.sync_loaders",
    "airflow_mlops.commands.promote",
    "airflow_mlops.commands.rollback",
    "airflow_mlops.commands.lineage",
)
