"""DvcPublisher against a real git + DVC repository: a push that fails half way is finished by the retry.

The origin refuses the git push with a real ``pre-receive`` hook after ``dvc push`` has already
sent the data, which is the half-done state a network cut between the two pushes leaves.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from airflow_mlops.demo.data_repo import create_data_repo
from airflow_mlops.errors import TransientError
from airflow_mlops.hooks.dvc_commit import DvcPublisher
from airflow_mlops.hooks.extract import take_snapshot

PATH = "data/orders.parquet"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def test_a_half_done_push_is_finished_by_the_retry_without_a_duplicate(tmp_path: Path) -> None:
    origin = create_data_repo(tmp_path / "origin", tmp_path / "remote")
    _git(origin, "config", "receive.denyCurrentBranch", "updateInstead")
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    refuse = hooks / "pre-receive"
    refuse.write_text("#!/bin/sh\necho 'refused by the test' >&2\nexit 1\n")
    refuse.chmod(0o755)
    _git(origin, "config", "core.hooksPath", str(hooks))

    source = tmp_path / "orders.parquet"
    pd.DataFrame({"id": [1, 2, 3], "total": [9.5, 3.0, 4.25]}).to_parquet(source, index=False)
    snapshot = take_snapshot(
        "orders_ingest",
        f"file://{tmp_path / 'artifacts'}",
        object_storage={"uri": f"file://{source}", "format": "parquet"},
    )
    publisher = DvcPublisher(str(origin), "main", PATH)
    lineage = {"source": "object_storage", "origin": f"file://{source}", "rows": 3}
    head = _git(origin, "rev-parse", "HEAD")

    with pytest.raises(TransientError, match=r"git push to branch 'main'.*refused by the test"):
        publisher.publish(snapshot, lineage, "orders_ingest/run_1")
    assert _git(origin, "rev-parse", "HEAD") == head  # no commit reached the branch
    md5 = snapshot["md5"]
    assert (tmp_path / "remote" / "files" / "md5" / md5[:2] / md5[2:]).is_file()  # but the data did

    _git(origin, "config", "core.hooksPath", "/dev/null")
    retried = publisher.publish(snapshot, lineage, "orders_ingest/run_1")
    assert retried.changed and _git(origin, "rev-list", "--count", f"{head}..HEAD") == "1"
    assert _git(origin, "rev-parse", "HEAD") == retried.commit

    again = publisher.publish(snapshot, lineage, "orders_ingest/run_1")  # the task died after the push
    assert (again.changed, again.commit) == (True, retried.commit)
    other = publisher.publish(snapshot, lineage, "orders_ingest/run_2")  # a later run, same content
    assert (other.changed, other.commit) == (False, retried.commit)
    assert _git(origin, "rev-list", "--count", f"{head}..HEAD") == "1"
