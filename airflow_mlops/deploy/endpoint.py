"""The moves of one local endpoint, each made while its lock is held: start, route, drain, reconcile.

Every step writes the state before it acts on the world, in an order that leaves a retry a
clear job when the process doing it dies at any point:
- a new server is recorded as ``pending`` right after it is spawned (and marked by its
  environment before that), so it is never lost;
- a switch records the new ``serving`` and old ``draining`` slots, then writes the route, waits
  until the proxy has loaded it, waits until the old servers have no request in flight and only
  then stops them;
- :meth:`Endpoint.reconcile`, run first by every change, drops servers found dead, routes to
  what ``serving`` says, and stops whatever is ``pending``, ``draining`` or marked but unknown.
So once any change has finished, exactly the ``serving`` slots run, and the proxy routes to them.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from airflow_mlops.deploy import processes
from airflow_mlops.deploy.models import ModelRef, download
from airflow_mlops.deploy.processes import ENDPOINT_ENV, Identity
from airflow_mlops.deploy.proxy import STATUS_PATH
from airflow_mlops.deploy.state import EndpointState, EndpointStore, Slot, write_json
from airflow_mlops.errors import DeploymentError, TransientError


@dataclass(frozen=True)
class Timeouts:
    """How long a deploy waits: for a new server's /ping, for old servers to go idle, for one request."""

    startup: float = 120.0
    drain: float = 30.0
    request: float = 60.0


def http_call(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    timeout: float,
    headers: dict[str, str] | None = None,
    received: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """One request to 127.0.0.1:``port``; raises OSError or HTTPException when nothing answers.

    ``received``, when given, is filled with the answer's headers.
    """
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        sent = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers={**sent, **(headers or {})})
        response = connection.getresponse()
        if received is not None:
            received.update(response.getheaders())
        return response.status, response.read()
    finally:
        connection.close()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Endpoint:
    """One endpoint's state and the steps that change it; the caller holds the endpoint's lock."""

    def __init__(self, store: EndpointStore, state: EndpointState, timeouts: Timeouts) -> None:
        self.store = store
        self.state = state
        self.timeouts = timeouts
        self.folder = store.folder(state.name)

    def save(self) -> None:
        self.store.save(self.state)

    # --- servers -----------------------------------------------------------------------------------

    def start(self, ref: ModelRef) -> Slot:
        """A new model server for ``ref``, answering /ping, recorded as pending (no traffic yet)."""
        from airflow_mlops.hooks.model_server import ModelServer

        name = f"{ref.version or 'model'}-{uuid.uuid4().hex[:8]}"
        folder = self.folder / "slots" / name
        local = download(ref, folder / "model")
        server = ModelServer(
            local,
            model_uri=ref.uri,
            workdir=folder,
            startup_timeout=self.timeouts.startup,
            request_timeout=self.timeouts.request,
            detached=True,
            extra_env={ENDPOINT_ENV: str(self.folder)},
        )
        server.start()
        assert server.process is not None and server.port is not None
        identity = processes.identify(server.process.pid) or Identity(server.process.pid, -1)
        slot = Slot(name, ref.uri, server.port, identity, 0, ref.version, ref.registered_model, now())
        self.state.pending.append(slot)
        self.save()
        try:
            server.wait_ready()
        except BaseException:
            self.retire([slot], "pending")
            raise
        return slot

    def retire(self, slots: list[Slot], where: str) -> None:
        """Stop these servers and forget them (from ``pending`` or ``draining``) with their files."""
        for slot in slots:
            processes.stop(slot.process)
            kept = [s for s in getattr(self.state, where) if s.slot != slot.slot]
            setattr(self.state, where, kept)
            self.save()
            shutil.rmtree(self.folder / "slots" / slot.slot, ignore_errors=True)

    # --- traffic -----------------------------------------------------------------------------------

    def route(self) -> None:
        """Make the proxy route to exactly the ``serving`` slots, by weight, and wait until it does."""
        self.ensure_proxy()
        wanted = [{"port": s.port, "weight": s.weight, "model_uri": s.model_uri} for s in self.state.serving]
        status = self.proxy_status()
        if status is not None and status["generation"] == self.state.generation and status["backends"] == wanted:
            return
        self.state.generation += 1
        self.save()
        write_json(self.folder / "route.json", {"generation": self.state.generation, "backends": wanted})
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            status = self.proxy_status()
            if status is not None and status["generation"] >= self.state.generation:
                return
            time.sleep(0.05)
        raise TransientError(f"the proxy of endpoint {self.state.name!r} on {self.state.url} did not load its route")

    def drain(self) -> None:
        """Stop the ``draining`` servers once the proxy has no request in flight to them (or after the drain time)."""
        if not self.state.draining:
            return
        ports = {str(s.port) for s in self.state.draining}
        deadline = time.monotonic() + self.timeouts.drain
        while time.monotonic() < deadline:
            status = self.proxy_status()
            if status is None or not ports & set(status["inflight"]):
                break
            time.sleep(0.05)
        self.retire(list(self.state.draining), "draining")

    def proxy_status(self) -> dict[str, Any] | None:
        if not processes.alive(self.state.proxy):
            return None
        try:
            code, body = http_call(self.state.port, "GET", STATUS_PATH, timeout=5.0)
        except (OSError, http.client.HTTPException):
            return None
        return json.loads(body) if code == 200 else None

    def ensure_proxy(self) -> None:
        """The proxy on the endpoint's stable port, started (again) when it is not running."""
        if processes.alive(self.state.proxy):
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        route = self.folder / "route.json"
        if not route.exists():
            write_json(route, {"generation": 0, "backends": []})
        command = [sys.executable, "-m", "airflow_mlops.deploy.proxy", "--port", str(self.state.port)]
        command += ["--route", str(route), "--timeout", str(self.timeouts.request)]
        with (self.folder / "proxy.log").open("ab") as log:
            process = subprocess.Popen(
                command,
                env={**_environ(), ENDPOINT_ENV: str(self.folder)},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.state.proxy = processes.identify(process.pid) or Identity(process.pid, -1)
        self.save()
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = (self.folder / "proxy.log").read_text(errors="replace").splitlines()[-5:]
                raise DeploymentError(
                    f"the proxy of endpoint {self.state.name!r} could not listen on {self.state.url}: "
                    + " | ".join(tail)
                )
            if self.proxy_status() is not None:
                return
            time.sleep(0.05)
        raise TransientError(f"the proxy of endpoint {self.state.name!r} did not answer on {self.state.url}")

    # --- recovery ----------------------------------------------------------------------------------

    def reconcile(self) -> None:
        """Bring the world back to what the state says after a process died mid-change (ours or a server)."""
        state = self.state
        dead = [s for s in state.serving if not processes.alive(s.process)]
        if dead:
            state.serving = [s for s in state.serving if processes.alive(s.process)]
            if len(state.serving) == 1:
                state.serving[0].weight = 100
            state.record("found_dead", slots=[s.label() for s in dead])
            self.save()
        if state.pending:
            state.record("abandoned", slots=[s.label() for s in state.pending])
            self.retire(list(state.pending), "pending")
        self.route()
        self.drain()
        known = {s.process for s in state.serving} | {state.proxy}
        strays = [p for p in processes.marked(str(self.folder)) if p not in known]
        for stray in strays:
            processes.stop(stray)
        if strays:
            state.record("strays_stopped", pids=[p.pid for p in strays])
            self.save()

    def stop_all(self) -> None:
        """Stop the proxy first (no new request is accepted), then every server of the endpoint."""
        processes.stop(self.state.proxy)
        for slot in [*self.state.serving, *self.state.pending, *self.state.draining]:
            processes.stop(slot.process)
        for stray in processes.marked(str(self.folder)):
            processes.stop(stray)


def _environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
