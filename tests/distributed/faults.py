"""Fault injection for the loopback tier: the pipelines the fault tests run, and a proxy that kills MLflow.

``FaultProxy`` is an HTTP proxy in front of the MLflow server that makes the server "die" at a
chosen moment.

Killing the real server lands wherever the server happens to be; the worst moment for
idempotency is narrower: the server has committed a write (a new model version) and dies before
the client hears back. The client then sees a dead connection and must not write again on retry.
This proxy forwards every request to the real server, and on the first request whose path
contains a trigger it lets the server commit, drops the client's connection without an answer,
and then drops every connection for ``down_seconds``, like a server that crashed and restarts.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

#: Fast retries with exponential backoff (5 s, then 10 s, 20 s, capped at 40 s), so an outage of
#: a few seconds to half a minute costs a test one to three retries rather than the product default's minutes.
RETRIES = {"retries": 4, "delay_seconds": 5, "backoff_multiplier": 2, "max_delay_seconds": 40}

#: dag_id -> (registered model, connection id, candidates or None for the example's two).
#: Each fault gets its own pipeline and model, so one test's leftovers cannot mask another's.
FAULT_PIPELINES: dict[str, dict[str, object]] = {
    "faults_mlflow_train": {"registry": {"model_name": "faults_mlflow_train_model"}, "retries": RETRIES},
    "faults_mlflow_register": {
        "registry": {"model_name": "faults_mlflow_register_model"},
        "retries": RETRIES,
        "mlflow_conn_id": "mlflow_faulty",  # through FaultProxy
    },
    "faults_worker": {
        "registry": {"model_name": "faults_worker_model"},
        "retries": RETRIES,
        # a forest big enough that the worker can be killed while it is still training
        "models": [
            {"name": "logreg", "estimator": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 5000}},
            {"name": "forest", "estimator": "sklearn.ensemble.RandomForestClassifier",
             "params": {"n_estimators": 800, "random_state": 0}, "preprocessing": {"scale": "none"}},
        ],
    },
}  # fmt: skip

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection", "host"}


@dataclass
class Outage:
    trigger: str
    down_seconds: float
    started: float | None = None
    dropped: list[str] = field(default_factory=list)  # "METHOD path" of every request that got no answer

    def active(self) -> bool:
        return self.started is not None and time.monotonic() < self.started + self.down_seconds


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.outage: Outage | None = None
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def die_after(self, trigger: str, down_seconds: float) -> Outage:
        """Arm: the next request whose path contains ``trigger`` is the server's last words."""
        with self._lock:
            self.outage = Outage(trigger, down_seconds)
            return self.outage

    def _decide(self, method: str, path: str) -> str:
        """'drop' (server is down), 'last' (forward, then die) or 'forward'."""
        with self._lock:
            outage = self.outage
            if outage is None:
                return "forward"
            if outage.active():
                outage.dropped.append(f"{method} {path}")
                return "drop"
            if outage.started is None and outage.trigger in path:
                outage.started = time.monotonic()
                outage.dropped.append(f"{method} {path} (committed)")
                return "last"
            return "forward"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _forward(self) -> None:
        proxy: FaultProxy = self.server.proxy  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        action = proxy._decide(self.command, self.path)
        if action == "drop":
            self.close_connection = True  # no status line: the client sees the connection die
            return
        upstream = http.client.HTTPConnection(*proxy.upstream, timeout=300)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
        except OSError:
            self.close_connection = True  # the real server is down: so is the proxy
            return
        finally:
            upstream.close()
        if action == "last":
            self.close_connection = True  # committed upstream, never answered
            return
        self.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward
