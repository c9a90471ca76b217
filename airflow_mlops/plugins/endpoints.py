"""What the model view reads of the ``mlops-local`` target's endpoints: their state on this machine, now.

The local target keeps each endpoint's state in a folder (``deploy/state.py``), so when the API
server runs where the endpoints do, the page can say which version serves with which weight and
whether the URL answers, rather than what the deploy step last recorded. Reading is looking
only: no lock is taken, nothing is reconciled, no process is started, stopped or signalled (that
is ``deploy`` and ``airflow-mlops endpoint``'s job), and ``/ping`` gets a short timeout, so a
proxy that hangs costs a page about a second.

The reader is a FastAPI dependency (``endpoint_reader``), like the MLflow reader, so a test hands
the app a reader of its own folder instead of patching modules.
"""

from __future__ import annotations

import os
from typing import Any

from airflow_mlops.errors import NotFoundError
from airflow_mlops.spec.models_deployment import LOCAL_TARGET

#: Seconds the page waits for an endpoint's ``/ping``.
PING_TIMEOUT = 1.0
#: Endpoints looked at under the folder when finding those serving a model (their state files only).
MAX_SCANNED = 200


class EndpointReader:
    """Reads endpoint state under the target's folder; ``default_root`` stands for plain ``mlops-local``."""

    def __init__(self, default_root: str | None = None, ping_timeout: float = PING_TIMEOUT) -> None:
        self.default_root = default_root
        self.ping_timeout = ping_timeout

    def root(self, target: str) -> str | None:
        """The endpoints folder of a local target URI; None for another target (nothing to read here)."""
        from airflow_mlops.deploy.local import root_of

        return root_of(target, self.default_root)

    def key(self, target: str, name: str) -> tuple[str, str]:
        """One key per endpoint, whichever way its target was written (``mlops-local`` or with its folder)."""
        root = self.root(target)
        return (os.path.abspath(os.path.expanduser(root)) if root is not None else target, name)

    def read(self, target: str, name: str) -> tuple[dict[str, Any] | None, str | None]:
        """The endpoint as it is now and, when there is none to show, why (None: not a local target)."""
        from airflow_mlops.deploy.local import LocalEndpoints

        root = self.root(target)
        if root is None:
            return None, None
        try:
            return LocalEndpoints(root).get(name, ping_timeout=self.ping_timeout), None
        except NotFoundError:
            return None, f"no endpoint state under {root} on the API server's machine (stopped, or served elsewhere)"
        except (OSError, ValueError, KeyError, TypeError) as err:  # a state file cut short or edited by hand
            return None, f"the endpoint's state under {root} could not be read ({type(err).__name__})"

    def serving(self, model_name: str) -> list[str]:
        """Names of the endpoints under the default folder that serve a version of ``model_name`` now.

        Finds endpoints deployed by hand (``airflow-mlops endpoint redeploy``, MLflow's client),
        which no version's deploy record names.
        """
        from airflow_mlops.deploy.state import EndpointStore

        root = self.root(LOCAL_TARGET)
        if root is None:
            return []
        store = EndpointStore(root)
        found = []
        try:
            names = store.names()[:MAX_SCANNED]
        except OSError:
            return []
        for name in names:
            try:
                state = store.load(name)
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if state is not None and any(s.registered_model == model_name for s in state.serving):
                found.append(name)
        return found


def endpoint_reader() -> EndpointReader:
    """The reader of ``[mlops] endpoints_root``, as a FastAPI dependency of the model pages (tests override it)."""
    return EndpointReader()
