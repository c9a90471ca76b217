"""The ``local`` deployment target: model servers as managed processes behind one stable loopback URL.

Each endpoint is a small reverse proxy (``proxy.py``) that owns the endpoint's port for its whole
life, in front of MLflow's scoring server for the version being served. A rollout starts the new
version on a free port, waits for its ``/ping``, switches the proxy's route, waits until the old
server has nothing in flight and stops it, so the URL answers throughout. A canary serves the new
version to a share of requests beside the old one until :meth:`LocalEndpoints.settle` keeps one.

The processes outlive the task that started them (they are the service), so the endpoint's state
(``state.py``) records each one by pid and start time; ``delete`` (``airflow-mlops endpoint
stop``, MLflow's ``delete_deployment``) stops them all. Every change takes the endpoint's lock
and first reconciles, so a retried or cleared deploy task ends with exactly one version serving.
"""

from __future__ import annotations

import dataclasses
import http.client
import re
import shutil
from typing import Any, Literal

from airflow_mlops.deploy import processes
from airflow_mlops.deploy.endpoint import Endpoint, Timeouts, http_call
from airflow_mlops.deploy.models import ModelRef, resolve
from airflow_mlops.deploy.state import EndpointState, EndpointStore, Slot
from airflow_mlops.errors import DeploymentError, NotFoundError
from airflow_mlops.spec.models_deployment import LOCAL_TARGET, target_scheme

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
#: How long ``get`` waits for the endpoint's ``/ping`` by default.
PING_TIMEOUT = 5.0


def root_of(target_uri: str, default: str | None = None) -> str | None:
    """The endpoints folder of an ``mlops-local`` target URI; None for another target.

    ``mlops-local:/folder`` names it; plain ``mlops-local`` means ``default``, else ``[mlops] endpoints_root``.
    """
    if target_scheme(target_uri) != LOCAL_TARGET:
        return None
    _, _, root = target_uri.partition(":")
    if root:
        return root
    if default:
        return default
    from airflow_mlops.settings import endpoints_root

    return endpoints_root()


def _check_name(name: str) -> None:
    if not NAME.match(name):
        raise DeploymentError(
            f"endpoint name {name!r}: use letters, digits, '.', '_' and '-' (at most 100, not starting with a sign)"
        )


class LocalEndpoints:
    """The endpoints kept under one folder (the target URI's path, or ``[mlops] endpoints_root``)."""

    def __init__(self, root: str, timeouts: Timeouts | None = None) -> None:
        self.store = EndpointStore(root)
        self.timeouts = timeouts or Timeouts()

    # --- changes (each under the endpoint's lock, reconciling first) -------------------------------

    def deploy(
        self,
        name: str,
        model_uri: str,
        *,
        exists: bool | None = None,
        port: int | None = None,
        canary_percent: int | None = None,
        reason: str = "",
        rollback: bool = False,
    ) -> dict[str, Any]:
        """Serve ``model_uri`` at the endpoint: all traffic, or ``canary_percent`` of it beside the current one.

        ``exists`` True refuses to create the endpoint, False refuses to replace one (MLflow's
        update/create). Deploying the version already serving alone changes nothing. ``rollback``
        records the switch as one in the history (``rollback``), where the UI looks for rollbacks.
        """
        _check_name(name)
        if canary_percent is not None and not 0 < canary_percent < 100:
            raise DeploymentError(f"canary percent {canary_percent} for endpoint {name!r}: between 1 and 99")
        with self.store.locked(name):
            created = self.store.load(name) is None
            endpoint = self._open(name, exists=exists, port=port)
            state = endpoint.state
            try:
                endpoint.reconcile()
                ref = resolve(model_uri)
                if canary_percent is None and [s.model_uri for s in state.serving] == [ref.uri]:
                    state.record("unchanged", model_uri=ref.uri, reason=reason)
                    endpoint.save()
                    return self._describe(state)
                if canary_percent is not None and len(state.serving) != 1:
                    raise DeploymentError(
                        f"endpoint {name!r}: a canary needs exactly one version serving, found {len(state.serving)}"
                    )
                new = endpoint.start(ref)
            except BaseException:
                if created:  # a first deploy that failed leaves no endpoint (and no proxy) behind
                    endpoint.stop_all()
                    shutil.rmtree(self.store.folder(name), ignore_errors=True)
                raise
            old = list(state.serving)
            state.pending = [s for s in state.pending if s.slot != new.slot]
            if canary_percent is None:
                new.weight = 100
                state.serving, state.draining = [new], [*state.draining, *old]
                if old:
                    state.previous = _ref_of(old[0])
            else:
                new.weight, old[0].weight = canary_percent, 100 - canary_percent
                state.serving = [old[0], new]
            action = "canary" if canary_percent is not None else "rollback" if rollback else "deploy"
            state.record(action, model_uri=ref.uri, replaced=[s.model_uri for s in old], reason=reason)
            endpoint.save()
            endpoint.route()
            endpoint.drain()
            return self._describe(state)

    def settle(self, name: str, keep: Literal["new", "old"], reason: str = "") -> dict[str, Any]:
        """End a canary: keep the new version (all traffic to it) or the old one (the canary is stopped)."""
        with self.store.locked(name):
            endpoint = self._open(name, exists=True)
            endpoint.reconcile()
            state = endpoint.state
            if len(state.serving) != 2:
                raise DeploymentError(f"endpoint {name!r} has no canary to settle ({len(state.serving)} serving)")
            old, new = state.serving
            kept, dropped = (new, old) if keep == "new" else (old, new)
            kept.weight = 100
            state.serving, state.draining = [kept], [*state.draining, dropped]
            if keep == "new":
                state.previous = _ref_of(old)
            state.record(f"canary_{keep}", model_uri=kept.model_uri, stopped=dropped.model_uri, reason=reason)
            endpoint.save()
            endpoint.route()
            endpoint.drain()
            return self._describe(state)

    def rollback(self, name: str, reason: str = "") -> dict[str, Any]:
        """Serve the version served before the last switch again (a canary is settled on the old one)."""
        state = self.store.load(name)
        if state is None:
            raise NotFoundError(f"no local endpoint {name!r} under {self.store.root}")
        if len(state.serving) == 2:
            return self.settle(name, "old", reason)
        if not state.previous:
            raise DeploymentError(f"endpoint {name!r} has no previous version to roll back to")
        # ``previous`` is a ModelRef as a dict (_ref_of): the URI is under "uri"
        return self.deploy(name, state.previous["uri"], exists=True, reason=reason or "rollback", rollback=True)

    def delete(self, name: str) -> bool:
        """Stop every process of the endpoint and forget it; False when there was no such endpoint."""
        _check_name(name)
        with self.store.locked(name):
            state = self.store.load(name)
            if state is None:
                return False
            Endpoint(self.store, state, self.timeouts).stop_all()
            shutil.rmtree(self.store.folder(name), ignore_errors=True)
        return True

    def delete_all(self) -> list[str]:
        """Every endpoint under the root stopped and forgotten, then any process still marked as one of them.

        For whoever is about to delete the root (``make clean``, a new ``make demo``): an endpoint
        whose state is gone would otherwise keep running, with nothing left to find it by but its mark.
        """
        stopped = [name for name in self.names() if self.delete(name)]
        for stray in processes.marked_under(str(self.store.root)):
            processes.stop(stray)
        return stopped

    # --- reads -------------------------------------------------------------------------------------

    def names(self) -> list[str]:
        return self.store.names()

    def get(self, name: str, *, ping_timeout: float = PING_TIMEOUT) -> dict[str, Any]:
        """The endpoint as recorded, with which of its processes run and whether its URL answers /ping.

        Only reads: no lock, no reconcile, no process started or stopped (the UI calls it per page).
        """
        state = self.store.load(name)
        if state is None:
            raise NotFoundError(f"no local endpoint {name!r} under {self.store.root}")
        return self._describe(state, ping_timeout)

    def predict(self, name: str, body: bytes) -> bytes:
        """POST ``body`` (MLflow's scoring JSON) to the endpoint's ``/invocations``; the answer's JSON."""
        state = self.store.load(name)
        if state is None:
            raise NotFoundError(f"no local endpoint {name!r} under {self.store.root}")
        try:
            status, data = http_call(state.port, "POST", "/invocations", body, timeout=self.timeouts.request)
        except OSError as err:
            raise DeploymentError(f"endpoint {name!r} at {state.url} did not answer: {err}") from err
        if status != 200:
            raise DeploymentError(f"endpoint {name!r} at {state.url} answered {status}: {data[:500]!r}")
        return data

    # --- helpers -----------------------------------------------------------------------------------

    def _open(self, name: str, *, exists: bool | None, port: int | None = None) -> Endpoint:
        from airflow_mlops.hooks.model_server import free_loopback_port

        state = self.store.load(name)
        if state is None and exists:
            raise NotFoundError(f"no local endpoint {name!r} under {self.store.root}; create it first")
        if state is not None and exists is False:
            raise DeploymentError(f"endpoint {name!r} already exists at {state.url}; update it instead")
        if state is None:
            state = EndpointState(name=name, port=port or free_loopback_port())
            state.record("create", port=state.port)
        endpoint = Endpoint(self.store, state, self.timeouts)
        endpoint.save()
        return endpoint

    def _describe(self, state: EndpointState, ping_timeout: float = PING_TIMEOUT) -> dict[str, Any]:
        serving = [{**s.to_dict(), "running": processes.alive(s.process), "label": s.label()} for s in state.serving]
        answering = False
        if processes.alive(state.proxy):
            try:
                answering = http_call(state.port, "GET", "/ping", timeout=ping_timeout)[0] == 200
            except (OSError, http.client.HTTPException):  # nothing, or not HTTP, answered in time
                answering = False
        return {
            **state.to_dict(),
            "serving": serving,
            "proxy_running": processes.alive(state.proxy),
            "answering": answering,
            "model_uri": serving[-1]["model_uri"] if serving else None,
        }


def _ref_of(slot: Slot) -> dict[str, Any]:
    return dataclasses.asdict(ModelRef(slot.model_uri, slot.registered_model, slot.version))
