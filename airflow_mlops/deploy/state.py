"""A local endpoint's state on disk: which version serves, its processes, the stable port, the history.

The state outlives the Airflow task that wrote it: the next deploy, a retried one, the CLI and
the UI read it back. One folder per endpoint under the target's root::

    <root>/<name>/state.json     this module's EndpointState (written atomically)
    <root>/<name>/route.json     what the proxy routes to (deploy/route.py)
    <root>/<name>/lock           held (flock) by whoever changes the endpoint
    <root>/<name>/slots/<slot>/  one served version: its model files and server log

The lock is an ``flock``: the kernel releases it when its holder dies, even by SIGKILL, so a
retried task never waits for a dead one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow_mlops.deploy.processes import Identity
from airflow_mlops.errors import TransientError

#: Rollout records kept per endpoint (the newest).
HISTORY_KEPT = 50


@dataclass
class Slot:
    """One model server: the version it serves, where it listens, the process, its share of traffic."""

    slot: str
    model_uri: str
    port: int
    process: Identity
    weight: int = 100
    version: str | None = None
    registered_model: str | None = None
    since: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["process"] = self.process.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Slot:
        return cls(**{**data, "process": Identity(**data["process"])})

    def label(self) -> str:
        return f"{self.registered_model} v{self.version}" if self.version else self.model_uri


@dataclass
class EndpointState:
    """Everything a later process needs to find, check, switch or stop this endpoint.

    ``serving`` gets traffic (one slot, or two during a canary); ``pending`` was started but gets
    none yet; ``draining`` got traffic before the last switch and is stopped once idle. After a
    finished rollout only ``serving`` is non-empty.
    """

    name: str
    port: int
    proxy: Identity | None = None
    serving: list[Slot] = field(default_factory=list)
    pending: list[Slot] = field(default_factory=list)
    draining: list[Slot] = field(default_factory=list)
    previous: dict[str, Any] | None = None
    generation: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def record(self, action: str, **detail: Any) -> None:
        at = datetime.now(UTC).isoformat(timespec="seconds")
        self.history = [*self.history, {"at": at, "action": action, **detail}][-HISTORY_KEPT:]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "port": self.port,
            "url": self.url,
            "proxy": self.proxy.to_dict() if self.proxy else None,
            "serving": [s.to_dict() for s in self.serving],
            "pending": [s.to_dict() for s in self.pending],
            "draining": [s.to_dict() for s in self.draining],
            "previous": self.previous,
            "generation": self.generation,
            "history": self.history,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EndpointState:
        proxy = data.get("proxy")
        return cls(
            name=data["name"],
            port=int(data["port"]),
            proxy=Identity(**proxy) if proxy else None,
            serving=[Slot.from_dict(s) for s in data.get("serving", [])],
            pending=[Slot.from_dict(s) for s in data.get("pending", [])],
            draining=[Slot.from_dict(s) for s in data.get("draining", [])],
            previous=data.get("previous"),
            generation=int(data.get("generation", 0)),
            history=list(data.get("history", [])),
        )


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write then rename: a reader (another task, the proxy) sees the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


class EndpointStore:
    """The folders of one target's endpoints."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().absolute()

    def folder(self, name: str) -> Path:
        return self.root / name

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "state.json").is_file())

    def load(self, name: str) -> EndpointState | None:
        try:
            return EndpointState.from_dict(json.loads((self.folder(name) / "state.json").read_text()))
        except FileNotFoundError:
            return None

    def save(self, state: EndpointState) -> None:
        self.folder(state.name).mkdir(parents=True, exist_ok=True)
        write_json(self.folder(state.name) / "state.json", state.to_dict())

    @contextlib.contextmanager
    def locked(self, name: str, timeout: float = 300.0) -> Iterator[None]:
        """Hold the endpoint's lock; a holder that died released it with its file descriptor."""
        folder = self.folder(name)
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "lock").open("a+") as handle:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        handle.seek(0)
                        holder = handle.read().strip() or "unknown"
                        raise TransientError(
                            f"endpoint {name!r} ({folder}) is being changed by another process ({holder}) "
                            f"for more than {timeout:g} s"
                        ) from None
                    time.sleep(0.1)
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}")
            handle.flush()
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
