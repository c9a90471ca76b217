"""A real StatsD listener for tests: a UDP socket on 127.0.0.1 that keeps every packet it receives."""

from __future__ import annotations

import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    """One StatsD line: ``airflow.mlops.gate.passed.p:1|g`` (InfluxDB-style tags follow the name after commas)."""

    name: str
    value: float
    kind: str
    tags: dict[str, str]


def parse(line: str) -> Sample:
    name_and_tags, _, rest = line.partition(":")
    value, _, kind = rest.partition("|")
    name, *tags = name_and_tags.split(",")
    return Sample(name, float(value), kind.split("|")[0], dict(t.split("=", 1) for t in tags))


class StatsdListener:
    """Bound on a free loopback port at construction; :meth:`samples` drains what has arrived."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.received: list[Sample] = []

    def samples(self) -> list[Sample]:
        """Every sample received so far (a packet may hold several lines)."""
        while True:
            try:
                packet = self.sock.recv(65535)
            except TimeoutError:
                return list(self.received)
            self.received.extend(parse(line) for line in packet.decode().splitlines() if line)

    def named(self, prefix: str) -> dict[str, float]:
        """The last value of every sample whose name starts with ``prefix``."""
        return {s.name: s.value for s in self.samples() if s.name.startswith(prefix)}

    def close(self) -> None:
        self.sock.close()
