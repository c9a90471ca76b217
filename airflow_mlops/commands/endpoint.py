"""``airflow-mlops endpoint``: what an on-call engineer needs for local endpoints: status, redeploy, stop.

The local target's processes outlive the task that started them (they are the service), so this
is how a person sees them and stops them: ``status`` lists every endpoint with its version, URL
and process ids, ``stop`` ends all of an endpoint's processes (``--all``: every endpoint's, e.g.
before the folder is deleted). Each reads the endpoints folder
(``[mlops] endpoints_root``, or ``--root``), the same state the deploy tasks write.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from airflow_mlops.commands import add_mlflow_args


def _endpoints(args: argparse.Namespace) -> Any:
    from airflow_mlops.deploy.local import LocalEndpoints
    from airflow_mlops.settings import endpoints_root

    return LocalEndpoints(args.root or endpoints_root())


def _line(deployment: dict[str, Any]) -> str:
    serving = ", ".join(f"{s['label']} ({s['weight']} %, pid {s['process']['pid']})" for s in deployment["serving"])
    health = "answering" if deployment["answering"] else "NOT ANSWERING"
    last = deployment["history"][-1] if deployment["history"] else {}
    when = f"; last change {last.get('action')} at {last.get('at')}" if last else ""
    proxy = deployment.get("proxy") or {}
    proxied = f"; proxy pid {proxy['pid']}" if deployment.get("proxy_running") and proxy.get("pid") else ""
    return f"{deployment['name']}: {deployment['url']} {health}; serving {serving or 'nothing'}{proxied}{when}"


def _status(args: argparse.Namespace) -> int:
    from airflow_mlops.governance.cli import run_cli

    def action() -> int:
        endpoints = _endpoints(args)
        names = [args.name] if args.name else endpoints.names()
        found = [endpoints.get(name) for name in names]
        if args.json:
            print(json.dumps(found, indent=2))
        elif not found:
            print(f"no local endpoint under {endpoints.store.root}")
        for deployment in [] if args.json else found:
            print(_line(deployment))
        return 0

    return run_cli("endpoint status", action)


def _stop(args: argparse.Namespace) -> int:
    from airflow_mlops.governance.cli import run_cli

    def action() -> int:
        endpoints = _endpoints(args)
        if args.all:
            stopped = endpoints.delete_all()
            for name in stopped:
                print(f"endpoint {name!r} stopped: its proxy and model servers are gone")
            if not stopped:
                print(f"no local endpoint under {endpoints.store.root}: nothing to stop")
            return 0
        if not endpoints.delete(args.name):
            print(f"no local endpoint {args.name!r} under {endpoints.store.root}: nothing to stop")
            return 1
        print(f"endpoint {args.name!r} stopped: its proxy and model servers are gone")
        return 0

    return run_cli("endpoint stop", action)


def _redeploy(args: argparse.Namespace) -> int:
    from airflow_mlops.governance.cli import open_client, run_cli

    def action() -> int:
        import mlflow

        with open_client(args.conn_id, args.tracking_uri):
            if args.tracking_uri:  # the download and the alias lookup use MLflow's global URIs
                mlflow.set_tracking_uri(args.tracking_uri)
                mlflow.set_registry_uri(args.tracking_uri)
            deployment = _endpoints(args).deploy(args.name, args.model_uri, reason=args.reason or "manual redeploy")
        print(_line(deployment))
        return 0

    return run_cli("endpoint redeploy", action)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "endpoint",
        help="status, redeploy or stop a local endpoint (the mlops-local deployment target)",
        description="Local endpoints: a stable loopback URL in front of a model server, kept running after "
        "the task that deployed it. See docs/deployment.md.",
    )
    actions = parser.add_subparsers(dest="endpoint_command", required=True)
    status = actions.add_parser("status", help="each endpoint's URL, health, version serving and processes")
    status.add_argument("name", nargs="?", metavar="NAME", help="one endpoint (default: all)")
    status.add_argument("--json", action="store_true", help="the full recorded state, history included")
    status.set_defaults(func=_status)
    stop = actions.add_parser("stop", help="stop every process of an endpoint (or of all) and forget it")
    which = stop.add_mutually_exclusive_group(required=True)
    which.add_argument("name", nargs="?", metavar="NAME")
    which.add_argument(
        "--all", action="store_true", help="every endpoint under the folder, and any process still marked as one"
    )
    stop.set_defaults(func=_stop)
    redeploy = actions.add_parser(
        "redeploy", help="serve a model version at an endpoint (created if absent), switching without downtime"
    )
    redeploy.add_argument("name", metavar="NAME")
    redeploy.add_argument("model_uri", metavar="MODEL_URI", help="models:/NAME/VERSION or models:/NAME@ALIAS")
    redeploy.add_argument("--reason", help="why; kept in the endpoint's history")
    add_mlflow_args(redeploy)
    redeploy.set_defaults(func=_redeploy)
    for command in (status, stop, redeploy):
        command.add_argument("--root", help="endpoints folder (default: [mlops] endpoints_root)")
