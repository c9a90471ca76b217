"""``airflow-mlops lineage``: where a model version came from and how it got its aliases."""

from __future__ import annotations

import argparse
import json

from airflow_mlops.commands import add_mlflow_args


def parse_model_ref(text: str) -> tuple[str, str]:
    """``MODEL@ALIAS`` or ``MODEL/VERSION`` -> (model, alias or version).

    Plain string work, so a mistyped reference is a usage error before anything heavy loads.
    """
    name, sep, alias = text.rpartition("@")
    if sep and name and alias:
        return name, alias
    name, sep, version = text.rpartition("/")
    if sep and name and version.isdigit():
        return name, version
    raise argparse.ArgumentTypeError(f"expected MODEL@ALIAS or MODEL/VERSION, got {text!r}")


def _run(args: argparse.Namespace) -> int:
    from airflow_mlops.governance.cli import open_client, run_cli
    from airflow_mlops.governance.lineage import lineage
    from airflow_mlops.report.lineage_text import format_lineage

    model, ref = args.ref

    def action() -> int:
        with open_client(args.conn_id, args.tracking_uri) as client:
            info = lineage(client, model, ref)
        print(json.dumps(info, indent=2, sort_keys=True) if args.json else format_lineage(info))
        return 0

    return run_cli("lineage", action)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "lineage",
        help="print the provenance chain of MODEL@ALIAS or MODEL/VERSION",
        description="Data version and md5, validation, code version, params, metrics, gate verdict, "
        "approval and promotion history of one model version, read back from MLflow.",
    )
    parser.add_argument("ref", metavar="MODEL@ALIAS|MODEL/VERSION", type=parse_model_ref)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_mlflow_args(parser)
    parser.set_defaults(func=_run)
