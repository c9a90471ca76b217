"""The demo's local endpoint: what it leaves running, how to send it a request, and how it is stopped.

The demo's pipeline deploys each new champion to the ``mlops-local`` target, whose proxy and model
server outlive the run on purpose (they are the service a newcomer tries afterwards). So nothing
may run without the user being told: the demo ends by printing the endpoint, its pids and the two
commands to use and to stop it, and it writes what the request command needs into the workdir
(``endpoint-url``, ``request.json``). Everything lives under the workdir's ``endpoints/`` folder, and
a new demo stops whatever an earlier one left there before it deletes the workdir.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ENDPOINTS = "endpoints"
URL_FILE = "endpoint-url"
REQUEST_FILE = "request.json"
#: Test rows in the request: a few, so the answer fits on a line.
REQUEST_ROWS = 3


def endpoints_root(workdir: Path) -> Path:
    return workdir / ENDPOINTS


def stop_previous(workdir: Path) -> list[str]:
    """Stop every endpoint an earlier demo left in ``workdir``: its folder is about to be deleted."""
    from airflow_mlops.deploy.local import LocalEndpoints

    root = endpoints_root(workdir)
    if not root.is_dir():
        return []
    stopped = LocalEndpoints(str(root)).delete_all()
    for name in stopped:
        print(f"    stopped the previous demo's endpoint {name!r}")
    return stopped


def write_request(workdir: Path, dag_id: str, target: str) -> Path | None:
    """``request.json``: the first rows of the newest test split, features only, in MLflow's scoring format.

    The split is the one ``prepare_data`` pinned (seeded, from a tagged DVC revision), so the same
    demo writes the same rows and the endpoint gives the same answer.
    """
    import pandas as pd

    from airflow_mlops.ml.serving_requests import frame_body

    splits = sorted((workdir / "artifacts" / dag_id).glob("*/test.parquet"), key=lambda p: p.stat().st_mtime)
    if not splits:
        return None
    rows = pd.read_parquet(splits[-1]).drop(columns=[target]).head(REQUEST_ROWS)
    path = workdir / REQUEST_FILE
    path.write_bytes(frame_body(rows) + b"\n")
    return path


def write_url(workdir: Path) -> str | None:
    """``endpoint-url``: the demo endpoint's stable URL, for ``$(cat .demo/endpoint-url)``; None without one."""
    from airflow_mlops.deploy.state import EndpointStore

    store = EndpointStore(endpoints_root(workdir))
    states = [state for name in store.names() if (state := store.load(name)) is not None]
    if not states:
        return None
    (workdir / URL_FILE).write_text(states[0].url + "\n")
    return states[0].url


def shown(path: Path) -> str:
    """``path`` as the user would type it from where they ran the demo: relative when inside it."""
    here = Path.cwd()
    return os.path.relpath(path, here) if path.is_relative_to(here) else str(path)


def commands(workdir: Path) -> dict[str, str]:
    """The commands to use the endpoint after the demo, exactly as the README shows them (a test compares)."""
    cli = shown(Path(sys.executable).with_name("airflow-mlops"))
    where, root = shown(workdir), shown(endpoints_root(workdir))
    return {
        "request": (
            f'curl -s -X POST "$(cat {where}/{URL_FILE})/invocations" '
            f"-H 'Content-Type: application/json' --data @{where}/{REQUEST_FILE}"
        ),
        "status": f"{cli} endpoint status --root {root}",
        "stop": f"{cli} endpoint stop --all --root {root}",
    }


def announce(workdir: Path, env: dict[str, str]) -> bool:
    """Say what is still running (through ``endpoint status``: URL, version, pids) and how to use and stop it.

    False, and nothing said, when no endpoint is left under the workdir.
    """
    from airflow_mlops.deploy.state import EndpointStore

    if not EndpointStore(endpoints_root(workdir)).names():
        return False
    said = commands(workdir)
    status = subprocess.run(
        [sys.executable, "-m", "airflow_mlops.cli", "endpoint", "status", "--root", str(endpoints_root(workdir))],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    print(f"\nA local endpoint is still running (it serves the champion until you stop it):\n  $ {said['status']}")
    print("\n".join(f"  {line}" for line in (status.stdout + status.stderr).strip().splitlines()))
    if (workdir / REQUEST_FILE).exists():
        print(f"Send it {REQUEST_ROWS} test rows and get predictions back:\n  {said['request']}")
    print(f"Stop it (make clean and the next make demo stop it too):\n  {said['stop']}")
    return True
