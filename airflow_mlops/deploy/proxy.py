"""The local endpoint's stable address: a small loopback reverse proxy in front of the model servers.

Run as ``python -m airflow_mlops.deploy.proxy --port P --route FILE`` (standard library only, so
it starts in a fraction of a second). It owns the endpoint's port for the endpoint's whole life;
model servers come and go behind it. What it routes to is ``route.json``, which a deploy
replaces atomically: the proxy notices a new file (inode or mtime) on the next request and
switches, so a switch needs no restart and drops no connection. A request goes to a backend
picked by weight (a canary's share); when that backend refuses the connection or drops it
before answering (it is being stopped), the request is sent to the others of the current route,
since a prediction is safe to repeat. Only when none answers does the caller get a 502.

``GET /-/mlops/status`` tells a deploy which route generation is loaded and how many requests
each backend has in flight, so it stops an old server only once it is idle, and counts the
answers per backend and status.

What the bake watches (airflow_mlops/deploy/bake.py):
- every answer carries ``X-Mlops-Backend`` (the server's address) and ``X-Mlops-Model-Uri`` (the
  version that answered);
- a request with ``X-Mlops-Pin: <version>`` (``3`` or ``models:/m/3``) goes to that version only,
  never to another; a version the route does not serve gets 409;
- ``GET /-/mlops/stats?since=<epoch seconds>`` gives, per version, the requests answered since then,
  the errors among them (no answer, or HTTP 5xx; a 4xx is the caller's mistake) and the p50/p95/max
  latency of the backend's answers, from the last :data:`KEPT_ANSWERS` answers kept in memory.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

STATUS_PATH = "/-/mlops/status"
STATS_PATH = "/-/mlops/stats"
PIN_HEADER = "X-Mlops-Pin"
BACKEND_HEADER = "X-Mlops-Backend"
MODEL_URI_HEADER = "X-Mlops-Model-Uri"
#: Answers kept for ``/-/mlops/stats`` (time, version, error or not, milliseconds): a bounded memory.
KEPT_ANSWERS = 20_000
#: Headers that belong to one hop, never forwarded (RFC 9110 7.6.1).
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host"}
)


@dataclass
class Router:
    """The route file as last loaded, and counters, shared by the request threads under one lock."""

    route_path: Path
    timeout: float
    generation: int = -1
    backends: list[tuple[int, int]] = field(default_factory=list)
    model_uris: dict[int, str] = field(default_factory=dict)
    inflight: dict[int, int] = field(default_factory=dict)
    answers: dict[str, int] = field(default_factory=dict)
    recent: deque[tuple[float, str, bool, float]] = field(default_factory=lambda: deque(maxlen=KEPT_ANSWERS))
    _key: tuple[int, int] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def refresh(self) -> None:
        """Reload the route when the file was replaced; a missing or torn file keeps the last route."""
        try:
            stat = os.stat(self.route_path)
        except OSError:
            return
        key = (stat.st_ino, stat.st_mtime_ns)
        if key == self._key:
            return
        try:
            data = json.loads(self.route_path.read_text())
            backends = [(int(b["port"]), int(b["weight"])) for b in data["backends"]]
            uris = {int(b["port"]): str(b["model_uri"]) for b in data["backends"] if b.get("model_uri")}
            generation = int(data["generation"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return
        with self._lock:
            self._key, self.backends, self.generation = key, backends, generation
            self.model_uris.update(uris)  # kept for a drained backend's last answers

    def pinned(self, pin: str) -> set[int]:
        """The ports serving version ``pin`` (``3`` or ``models:/m/3``) in the current route."""
        with self._lock:
            return {
                port
                for port, _ in self.backends
                if (uri := self.model_uris.get(port)) is not None and pin in (uri, uri.rsplit("/", 1)[-1])
            }

    def pick(self, exclude: set[int], only: set[int] | None = None) -> int | None:
        """A backend by weight among those not tried yet (and in ``only``), counted in flight until :meth:`done`."""
        with self._lock:
            choices = [
                (port, weight)
                for port, weight in self.backends
                if port not in exclude and (weight > 0 if only is None else port in only)
            ]
            if not choices:
                return None
            port = random.choices([p for p, _ in choices], weights=[w for _, w in choices])[0]
            self.inflight[port] = self.inflight.get(port, 0) + 1
            return port

    def done(self, port: int, status: int | None, elapsed_ms: float) -> None:
        with self._lock:
            self.inflight[port] -= 1
            key = f"{port}:{status if status is not None else 'failed'}"
            self.answers[key] = self.answers.get(key, 0) + 1
            error = status is None or status >= 500
            self.recent.append((time.time(), self.model_uris.get(port, str(port)), error, elapsed_ms))

    def stats(self, since: float) -> dict[str, Any]:
        """Per version, the answers since ``since``: requests, errors, p50/p95/max latency in ms."""
        with self._lock:
            seen = [r for r in self.recent if r[0] >= since]
            oldest = self.recent[0][0] if self.recent else None
        grouped: dict[str, list[tuple[bool, float]]] = {}
        for _, uri, error, elapsed in seen:
            grouped.setdefault(uri, []).append((error, elapsed))
        versions = {}
        for uri, answers in grouped.items():
            times = sorted(elapsed for _, elapsed in answers)
            versions[uri] = {
                "requests": len(answers),
                "errors": sum(1 for error, _ in answers if error),
                "p50_ms": round(_quantile(times, 0.50), 3),
                "p95_ms": round(_quantile(times, 0.95), 3),
                "max_ms": round(times[-1], 3),
            }
        return {"since": since, "now": time.time(), "oldest_kept": oldest, "versions": versions}

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "generation": self.generation,
                "backends": [
                    {"port": p, "weight": w, **({"model_uri": self.model_uris[p]} if p in self.model_uris else {})}
                    for p, w in self.backends
                ],
                "inflight": {str(p): n for p, n in self.inflight.items() if n},
                "answers": dict(self.answers),
                "pid": os.getpid(),
            }


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ProxyServer

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: a served endpoint would fill the disk."""

    def do_GET(self) -> None:
        if self.path == STATUS_PATH:
            self.server.router.refresh()
            self._reply(200, json.dumps(self.server.router.status()).encode())
            return
        if self.path.split("?", 1)[0] == STATS_PATH:
            try:
                since = float(parse_qs(urlsplit(self.path).query).get("since", ["0"])[0])
            except ValueError:
                self._reply(400, json.dumps({"error_code": "BAD_REQUEST", "message": "since: epoch seconds"}).encode())
                return
            self._reply(200, json.dumps(self.server.router.stats(since)).encode())
            return
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        pin = self.headers.get(PIN_HEADER)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP and k != PIN_HEADER}
        router = self.server.router
        router.refresh()
        only = None
        if pin is not None:
            only = router.pinned(pin.strip())
            if not only:
                message = f"version {pin!r} is not serving on this endpoint ({PIN_HEADER})"
                self._reply(409, json.dumps({"error_code": "CONFLICT", "message": message}).encode())
                return
        tried: set[int] = set()
        last_error = "no version is serving on this endpoint"
        while (port := router.pick(tried, only)) is not None:
            tried.add(port)
            status = None
            started = time.perf_counter()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=router.timeout)
                try:
                    connection.request(self.command, self.path, body=body, headers=headers)
                    response = connection.getresponse()
                    data = response.read()
                    status = response.status
                finally:
                    connection.close()
            except (OSError, http.client.HTTPException) as err:
                last_error = f"backend 127.0.0.1:{port}: {type(err).__name__}: {err}"
                continue
            finally:
                router.done(port, status, (time.perf_counter() - started) * 1000)
            passed = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP | {"content-length"}]
            passed.append((BACKEND_HEADER, f"127.0.0.1:{port}"))
            if (uri := router.model_uris.get(port)) is not None:
                passed.append((MODEL_URI_HEADER, uri))
            self._reply(status, data, passed)
            return
        self._reply(502 if tried else 503, json.dumps({"error_code": "BAD_GATEWAY", "message": last_error}).encode())

    def _reply(self, status: int, body: bytes, headers: list[tuple[str, str]] | None = None) -> None:
        self.send_response(status)
        sent = {k.lower() for k, _ in headers or []}
        for key, value in headers or []:
            self.send_header(key, value)
        if "content-type" not in sent:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, router: Router) -> None:
        self.router = router
        super().__init__(("127.0.0.1", port), ProxyHandler)


def _quantile(ordered: list[float], q: float) -> float:
    """The nearest-rank quantile of sorted values (as airflow_mlops.gates.serving.p95 takes it)."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--route", type=Path, required=True)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for a backend's answer")
    args = parser.parse_args(argv)
    router = Router(args.route, args.timeout)
    router.refresh()
    with ProxyServer(args.port, router) as server:
        print(f"proxy on 127.0.0.1:{args.port} routing by {args.route}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
