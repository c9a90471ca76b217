"""``airflow-mlops promote --from dev --to prod``: the cross-environment half of the promote command."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

ENVIRONMENTS_VARIABLE = "AIRFLOW_MLOPS_ENVIRONMENTS"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("across environments (instead of MODEL VERSION)")
    group.add_argument("--from", dest="source", metavar="ENV", help="the environment the version comes from")
    group.add_argument("--to", dest="target", metavar="ENV", help="the environment it is promoted into")
    group.add_argument(
        "--version",
        dest="source_ref",
        default="champion",
        metavar="REF",
        help="version number or alias in the source environment (default: champion)",
    )
    group.add_argument(
        "--environments",
        metavar="FILE",
        help=f"the YAML file declaring `environments:`, e.g. your dags folder's defaults.yaml "
        f"(default: ${ENVIRONMENTS_VARIABLE})",
    )
    answer = group.add_mutually_exclusive_group()
    answer.add_argument("--approved-by", metavar="USER", help="the person who approved this promotion (recorded)")
    answer.add_argument("--rejected-by", metavar="USER", help="the person who rejected it: recorded, nothing moves")


def check_usage(args: argparse.Namespace) -> None:
    """Across environments, or within one registry: never a mix of the two spellings."""
    across = args.source or args.target
    if across and (args.model or args.version):
        args.usage_error("give either MODEL VERSION or --from ENV --to ENV, not both")
    if across and not (args.source and args.target):
        args.usage_error("--from and --to go together")
    if not across and not (args.model and args.version):
        args.usage_error("give MODEL VERSION, or --from ENV --to ENV")
    if not across and (args.approved_by or args.rejected_by or args.environments):
        args.usage_error("--approved-by, --rejected-by and --environments go with --from/--to")
    if across and not (args.environments or os.environ.get(ENVIRONMENTS_VARIABLE)):
        args.usage_error(f"--from/--to need --environments FILE (or ${ENVIRONMENTS_VARIABLE})")


def approval_record(args: argparse.Namespace) -> dict[str, str] | None:
    """The person's answer given on the command line, as the HITL task would record it."""
    from airflow_mlops.governance.history import now_iso

    by = args.approved_by or args.rejected_by
    if not by:
        return None
    decision = "approved" if args.approved_by else "rejected"
    return {"decision": decision, "by": by, "at": now_iso(), "reason": args.reason or ""}


def run(args: argparse.Namespace) -> int:
    from airflow_mlops.errors import PipelineConfigError
    from airflow_mlops.governance.across import promote_across
    from airflow_mlops.governance.cli import cli_actor, run_cli, use_airflow_connections
    from airflow_mlops.spec.environments_file import load_environments

    try:
        environments = load_environments(args.environments or os.environ[ENVIRONMENTS_VARIABLE])
    except (PipelineConfigError, OSError) as err:
        print(f"airflow-mlops promote: {err}", file=sys.stderr)
        return 1

    def action() -> int:
        use_airflow_connections()
        result = promote_across(
            environments,
            args.source,
            args.target,
            ref=args.source_ref,
            actor=cli_actor(),
            reason=args.reason or "",
            approval=approval_record(args),
            force=args.force,
        )
        print_result(result)
        return 0

    return run_cli("promote", action, metrics=True)


def print_result(result: dict[str, Any]) -> None:
    source, target = result["source"], result["environment"]
    previous = f"v{result['previous']}" if result.get("previous") else "nothing"
    print(
        f"{source['environment']} {source['model_name']} v{source['version']} -> {target} "
        f"{result['model_name']} v{result['version']}: @{result['alias']} {previous} -> v{result['version']}"
    )
    check = result.get("check")
    if isinstance(check, dict):
        data = check["data"]
        print(f"re-gate on {check['n_test']} rows of {data['path']} @ {data['rev']} (commit {data['commit'][:12]}):")
        print(f"  {check['verdict']['summary']}")
        for outcome in check["verdict"]["outcomes"]:
            print(f"  {'ok' if outcome['passed'] else 'NO'}  {outcome['reason']}")
    print(result["why"])
    if result.get("forced"):
        print("forced: the gates were not applied; recorded as forced in both registries")
