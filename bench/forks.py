"""Fresh processes without fresh imports: children forked from a server that imported their libraries once.

The operator and step-cache rounds run a child each, and each child paid 8-15 s to import GX,
scikit-learn, skops, MLflow and DVC before its untimed warm-up pass and its timed chain (the
imports are not what those rows measure: the import rows do that). A fork of a process that has
imported them is what a task gets from a pre-importing executor: a new process with its own heap,
the libraries already in memory. Its first touches of those libraries' pages (copy-on-write and
re-faulted shared-library pages) land in the warm-up, so the timed chain sees what it would in a
fresh interpreter (run.py's ``FORKED_KINDS``; children timed without a warm-up are not forked).
``serve`` is that process (``children.py forkserver``); ``ForkServers`` is run.py's side. A
request is one JSON line, ``{"kind", "args", "log"}``; the fork runs ``children.KINDS[kind](args)``
with its stdout and stderr in ``log`` and prints ``RESULT=`` there, as a child started by
``subprocess`` does on its own stdout; the server answers ``FORKED <exit code>``.
"""

from __future__ import annotations

import importlib
import json
import os
import queue
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

READY, DONE = "FORKSERVER READY", "FORKED "


def serve(libraries: list[str], kinds: dict[str, Callable[[dict[str, Any]], dict[str, Any]]]) -> None:
    """Import ``libraries``, then run each request read from stdin in a fork, one at a time."""
    for name in libraries:
        importlib.import_module(name)
    answer = os.fdopen(os.dup(1), "w")  # the protocol's own stream: the forks write to their logs
    print(READY, file=answer, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _run_forked(request, kinds)
        _, status = os.waitpid(pid, 0)
        print(f"{DONE}{os.waitstatus_to_exitcode(status)}", file=answer, flush=True)


def _run_forked(request: dict[str, Any], kinds: dict[str, Callable[[dict[str, Any]], dict[str, Any]]]) -> None:
    code = 1
    try:
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        result = kinds[request["kind"]](request["args"])
        print("RESULT=" + json.dumps(result, default=str), flush=True)
        code = 0
    except BaseException:  # whatever it was, the server must go on and the log must say it
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # no interpreter teardown in a fork: the server's atexit hooks are not the child's


class _Server:
    def __init__(self, child: Path, libraries: tuple[str, ...], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.log = log
        self.errors = log.with_suffix(".server.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, str(child), "forkserver", json.dumps({"libraries": list(libraries)})],
            env=env, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors, text=True,
        )  # fmt: skip

    def wait_ready(self) -> None:
        self._expect(READY)

    def _expect(self, prefix: str) -> str:
        stdout: TextIO | None = self.proc.stdout
        assert stdout is not None
        for line in stdout:
            if line.startswith(prefix):
                return line.removeprefix(prefix).strip()
        self.proc.wait()
        tail = Path(self.errors.name).read_text()[-1500:]
        raise RuntimeError(f"fork server exited {self.proc.returncode} before {prefix!r}:\n{tail}")

    def run(self, kind: str, args: dict[str, Any]) -> tuple[int, str]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"kind": kind, "args": args, "log": str(self.log)}) + "\n")
        self.proc.stdin.flush()
        code = int(self._expect(DONE))
        return code, self.log.read_text()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.errors.close()


class ForkServers:
    """``jobs`` servers, so that as many children can run at once as with ``subprocess``."""

    def __init__(self, servers: list[_Server]) -> None:
        self._free: queue.Queue[_Server] = queue.Queue()
        for server in servers:
            self._free.put(server)

    def run(self, kind: str, args: dict[str, Any]) -> tuple[int, str]:
        """The fork's exit code and everything it wrote (its ``RESULT=`` line among it)."""
        server = self._free.get()
        try:
            return server.run(kind, args)
        finally:
            self._free.put(server)


@contextmanager
def fork_servers(
    child: Path, libraries: tuple[str, ...], env: dict[str, str], work: Path, jobs: int = 1
) -> Iterator[ForkServers]:
    servers: list[_Server] = []
    try:
        for number in range(max(1, jobs)):  # all started first: they import at the same time
            servers.append(_Server(child, libraries, env, work, work / f"fork-{number}.log"))
        for server in servers:
            server.wait_ready()
        yield ForkServers(servers)
    finally:
        for server in servers:
            server.close()
