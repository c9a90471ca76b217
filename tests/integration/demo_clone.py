"""One run of the demo as a newcomer's ``make demo`` runs it, for the files that read it.

A folder with ``.venv`` and ``.demo`` side by side, the repository's dags folder. test_ui.py
serves its record through ``airflow api-server``; test_demo.py checks its summary and then drills
on it (a rollback, the README's stop command). The demo costs two pipeline runs and a
deployment, so the two files share one (``demo_clone`` in conftest.py): tests/conftest.py
schedules them on one xdist worker, test_ui.py's tests first, since they only read what the drill
then changes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class DemoClone:
    here: Path  # where `make demo` ran
    workdir: Path  # here/.demo
    result: subprocess.CompletedProcess[str]


def demo_clone() -> Iterator[DemoClone]:
    """Run the demo, hand over where it ran, then stop what it left serving and delete it all."""
    # A short, neutral folder rather than pytest's /tmp/pytest-of-<user>/pytest-<n>/...: the UI's run
    # view shows the data repo's path, and the screenshots in docs/ come from test_ui.py.
    here = Path(tempfile.mkdtemp(prefix="mlops-demo-"))
    (here / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    workdir = here / ".demo"
    try:
        result = subprocess.run(
            [str(here / ".venv" / "bin" / "python"), "-m", "airflow_mlops.cli", "demo", "--workdir", ".demo",
             "--dags-folder", str(REPO_ROOT / "dags")],
            cwd=here, capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        yield DemoClone(here=here, workdir=workdir, result=result)
    finally:  # whatever a failed test left running: the fixture started it
        from airflow_mlops.deploy.local import LocalEndpoints

        # The demo leaves its endpoint serving on purpose (a user's `make demo` does): stop it before its folder goes.
        LocalEndpoints(str(workdir / "endpoints")).delete_all()
        shutil.rmtree(here, ignore_errors=True)
