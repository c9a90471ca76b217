"""``[core] hostname_callable`` for the loopback tier's Celery workers.

Both workers run on one machine, so the default (the machine's FQDN) would record the same
``hostname`` on every task instance. Each worker's environment names it instead, and the task
instances then say which worker ran them.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("MLOPS_TEST_WORKER_NAME") or socket.getfqdn()
