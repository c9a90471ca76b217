"""``airflow-mlops rollback``: put the previous champion back in one command."""

from __future__ import annotations

import argparse

from airflow_mlops.commands import add_mlflow_args


def _run(args: argparse.Namespace) -> int:
    from airflow_mlops.governance.cli import cli_actor, open_client, run_cli
    from airflow_mlops.governance.promotion import rollback

    def action() -> int:
        with open_client(args.conn_id, args.tracking_uri) as client:
            result = rollback(
                client,
                args.model,
                to_version=args.to,
                alias=args.alias,
                previous_alias=args.previous_alias,
                actor=cli_actor(),
                reason=args.reason or "",
            )
        previous = result["previous"]
        moved_from = f"v{previous}" if previous else "nothing"
        kept = f"@{args.previous_alias} = v{previous}" if previous else f"no @{args.previous_alias}"
        print(f"@{args.alias} of {args.model} rolled back: {moved_from} -> v{result['version']} ({kept})")
        return 0

    return run_cli("rollback", action, metrics=True)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "rollback",
        help="restore @previous (or --to VERSION) as champion",
        description="Move @champion back to @previous, or to an earlier champion named with --to; the "
        "displaced champion becomes @previous. No gate: the target already held the alias.",
    )
    parser.add_argument("model", metavar="MODEL", help="registered model name")
    parser.add_argument("--to", metavar="VERSION", help="an earlier champion to restore instead of @previous")
    parser.add_argument("--reason", help="why; recorded on the version and in the promotion history")
    add_mlflow_args(parser, aliases=True)
    parser.set_defaults(func=_run)
