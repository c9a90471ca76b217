"""``airflow-mlops promote``: make a version champion by hand, through the pipeline's own gate."""

from __future__ import annotations

import argparse

from airflow_mlops.commands import add_mlflow_args
from airflow_mlops.commands.promote_across import add_arguments, check_usage
from airflow_mlops.commands.promote_across import run as run_across


def _run(args: argparse.Namespace) -> int:
    check_usage(args)
    if args.force and not (args.reason or "").strip():
        # A bypass nobody can explain later is exactly what the audit trail exists to prevent.
        args.usage_error("--force needs --reason TEXT: say why the gate is being bypassed")
    if args.source:
        return run_across(args)
    from airflow_mlops.governance.cli import cli_actor, open_client, run_cli
    from airflow_mlops.governance.promotion import request_promotion

    def action() -> int:
        with open_client(args.conn_id, args.tracking_uri) as client:
            result = request_promotion(
                client,
                args.model,
                args.version,
                force=args.force,
                alias=args.alias,
                previous_alias=args.previous_alias,
                actor=cli_actor(),
                reason=args.reason or "",
            )
        _print_result(result, args.model, args.previous_alias)
        return 0

    return run_cli("promote", action, metrics=True)


def _print_result(result: dict[str, object], model: str, previous_alias: str) -> None:
    alias, version = result["alias"], result["version"]
    if not result["changed"]:
        print(f"@{alias} of {model} already points at v{version}; nothing to do")
        return
    previous = result["previous"]
    moved_from = f"v{previous}" if previous else "nothing"
    kept = f"@{previous_alias} = v{previous}" if previous else f"no @{previous_alias}"
    print(f"@{alias} of {model}: {moved_from} -> v{version} ({kept})")
    check = result.get("check")
    if isinstance(check, dict):
        verdict = check["verdict"]
        print(f"gate re-check on {check['n_test']} recorded test rows: {verdict['summary']}")
        for outcome in verdict["outcomes"]:
            print(f"  {'ok' if outcome['passed'] else 'NO'}  {outcome['reason']}")
    if result.get("forced"):
        print("forced: the gate was not applied; recorded as forced in the promotion history")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "promote",
        help="make VERSION the champion (or copy one from --from ENV into --to ENV); re-applies the gate",
        description="Move @champion to VERSION. Without --force the rules the version's own pipeline run "
        "recorded are applied again, against today's champion, on that run's test rows. With --from/--to, "
        "the version is deep-copied from one environment's registry into the next, re-gated on the target's "
        "holdout data against its champion, approved where its policy says, and made champion there.",
    )
    parser.add_argument("model", metavar="MODEL", nargs="?", help="registered model name")
    parser.add_argument("version", metavar="VERSION", nargs="?", help="model version number")
    parser.add_argument("--force", action="store_true", help="skip the gate (needs --reason; recorded as forced)")
    parser.add_argument("--reason", help="why; recorded on the version and in the promotion history")
    add_mlflow_args(parser, aliases=True)
    add_arguments(parser)
    parser.set_defaults(func=_run, usage_error=parser.error)
