"""``airflow-mlops card``: print a registered version's model card as Markdown (or HTML)."""

from __future__ import annotations

import argparse
import sys

from airflow_mlops.commands import add_mlflow_args
from airflow_mlops.commands.lineage import parse_model_ref


def _run(args: argparse.Namespace) -> int:
    from airflow_mlops.card.render import to_html, to_markdown
    from airflow_mlops.governance.card import version_card
    from airflow_mlops.governance.cli import open_client, run_cli

    model, ref = args.ref

    def action() -> int:
        with open_client(args.conn_id, args.tracking_uri) as client:
            card, stored = version_card(client, model, ref)
        if not stored:
            print(
                f"note: {model} v{card.version} has no stored model card; this one is rebuilt from its tags",
                file=sys.stderr,
            )
        print(to_html(card) if args.html else to_markdown(card), end="")
        return 0

    return run_cli("card", action)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "card",
        help="print the model card of MODEL@ALIAS or MODEL/VERSION",
        description="The model card register stored for a version (intended use, data, validation, metrics "
        "overall and per slice, the widest slice gaps, gate verdict, approval, lineage), as Markdown.",
    )
    parser.add_argument("ref", metavar="MODEL@ALIAS|MODEL/VERSION", type=parse_model_ref)
    parser.add_argument("--html", action="store_true", help="a standalone HTML page instead of Markdown")
    add_mlflow_args(parser)
    parser.set_defaults(func=_run)
