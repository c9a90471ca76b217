"""``python -m airflow_mlops.deploy.sweep FOLDER``: stop every local-endpoint process under FOLDER.

``make clean`` deletes ``.demo/``, where the demo's endpoint lives, and its processes outlive
whoever started them: deleted first, they would keep serving from a folder that is gone. This runs
on any Python 3 with the standard library alone (the package's ``__init__`` files and
``processes.py`` import nothing else), so it still works when the virtualenv was removed first.
It finds the processes by the mark every one of them carries, not by the state files.
"""

from __future__ import annotations

import sys

from airflow_mlops.deploy import processes


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m airflow_mlops.deploy.sweep ENDPOINTS_FOLDER", file=sys.stderr)
        return 2
    found = processes.marked_under(argv[0])
    for identity in found:
        processes.stop(identity)
    if found:
        print(f"stopped {len(found)} local endpoint process(es) under {argv[0]}: pids {[i.pid for i in found]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
