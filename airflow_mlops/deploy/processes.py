"""Processes a deployment owns but did not stay the parent of: found, checked and stopped by a recorded identity.

A deployed model server and the endpoint's proxy outlive the Airflow task that started them, so
the next task (or the CLI) only has a pid from the endpoint's state file. A pid alone can be reused
by an unrelated process after a reboot or a long time, so each is recorded with its start time
(``/proc/<pid>/stat`` field 22, in clock ticks since boot): a process is ours only when both match,
and nothing else is ever signalled. Every process a deployment starts also carries
:data:`ENDPOINT_ENV` in its environment, naming the endpoint's folder, so one started by a task
killed before it could record it is still found (:func:`marked`) and stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

#: Environment variable every process of a local endpoint carries: the endpoint folder's absolute path.
ENDPOINT_ENV = "MLOPS_LOCAL_ENDPOINT"
PROC = Path("/proc")


@dataclass(frozen=True)
class Identity:
    """A process as recorded: its pid and its start time, which together never name another process."""

    pid: int
    started: int

    def to_dict(self) -> dict[str, int]:
        return {"pid": self.pid, "started": self.started}


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after its closing one.
    return stat.rsplit(")", 1)[1].split()


def identify(pid: int) -> Identity | None:
    """The identity of a running (not zombie) process, None when it is gone."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return Identity(pid, int(fields[19]))


def alive(identity: Identity | None) -> bool:
    """True while the very process recorded runs (a reused pid is another process: False)."""
    return identity is not None and identify(identity.pid) == identity


def _reap(pid: int) -> None:
    """Collect the exit status when the process is our child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop(identity: Identity | None, *, grace: float = 10.0) -> bool:
    """Stop the recorded process and its group: SIGTERM, then SIGKILL after ``grace`` seconds.

    Only when the process running under that pid is the one recorded. True when it was running.
    Each is started in its own session (``start_new_session``), so its group holds its children too.
    """
    if not alive(identity):
        return False
    assert identity is not None
    _signal(identity, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(identity.pid)
        if not alive(identity):
            return True
        time.sleep(0.05)
    _signal(identity, signal.SIGKILL)
    while alive(identity):
        _reap(identity.pid)
        time.sleep(0.05)
    return True


def _signal(identity: Identity, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(identity.pid) == identity.pid:
            os.killpg(identity.pid, signum)
        else:
            os.kill(identity.pid, signum)


def marked(endpoint_dir: str) -> list[Identity]:
    """Every live process of this user whose environment names ``endpoint_dir`` in :data:`ENDPOINT_ENV`."""
    return [identity for folder, identity in _marked_processes() if folder == endpoint_dir]


def marked_under(root: str) -> list[Identity]:
    """Every live process of this user marked with an endpoint folder inside ``root`` (any endpoint there).

    What is left to stop before ``root`` is deleted: an endpoint whose state file is gone is
    still found by its processes' mark.
    """
    top = os.path.realpath(root)
    return [i for folder, i in _marked_processes() if os.path.dirname(os.path.realpath(folder)) == top]


def _marked_processes() -> list[tuple[str, Identity]]:
    """(endpoint folder, identity) of every live process of this user that carries :data:`ENDPOINT_ENV`."""
    prefix = f"{ENDPOINT_ENV}=".encode()
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # another user's process, or gone meanwhile
            continue
        for variable in environ.split(b"\0"):
            if variable.startswith(prefix):
                identity = identify(int(entry.name))
                if identity is not None:
                    found.append((variable[len(prefix) :].decode(errors="replace"), identity))
                break
    return found
