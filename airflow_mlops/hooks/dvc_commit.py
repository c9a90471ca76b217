"""Commit a pinned snapshot as the next version of a DVC-tracked file, and push it, exactly once.

The ingestion template's last step. It works in a fresh clone of the branch (never in anyone's
workspace) and makes the three outcomes a retry can meet safe:

- **Unchanged content** (the branch's file already has this md5, from an earlier run): no commit,
  no push, and the caller sends no ``new_data_version`` event.
- **Already committed by this run** (the commit reached the branch but the task died before it
  returned): the branch's last commit of the file carries this run's marker, so the retry makes no
  second commit and still reports the change, so the event is sent.
- **An appended interval** (``output.incremental``): the branch's file is fetched, the interval's
  rows are replaced by the snapshot's, and the result's md5 is what the two checks above compare,
  so a rerun of an interval is unchanged content or a replacement, never a duplicate.
- **Half-done push**: the data goes to the DVC remote before the commit goes to git, so a branch
  never names data the remote lacks. If the git push failed, the commit never left the clone; the
  retry clones again, commits again and pushes (``dvc push`` skips what the remote already has).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_mlops.errors import DataContractError, DataVersionError, TransientError
from airflow_mlops.record.paths import SNAPSHOT_LINEAGE_SUFFIX

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_mlops.hooks.increment import Increment

#: The trailer that ties a commit to the DAG run that made it (``git log --grep`` finds it).
RUN_TRAILER = "Mlops-Run"
_GIT_IDENTITY = ("user.name=airflow-mlops", "user.email=airflow-mlops@localhost", "commit.gpgsign=false")


@dataclass(frozen=True)
class Published:
    """The file's version on the branch after publishing, and whether this run made it."""

    commit: str
    md5: str
    changed: bool
    #: The file's rows when this publish wrote them (an appended interval); None when not counted.
    rows: int | None = None


def _git(cwd: Path | None, *args: str) -> str:
    cmd = ["git"]
    for setting in _GIT_IDENTITY:
        cmd += ["-c", setting]
    cmd += list(args)
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, cmd, result.stdout, result.stderr)
    return result.stdout.strip()


def _tracked_md5(dvc_file: Path) -> str | None:
    import yaml

    if not dvc_file.is_file():
        return None
    outs = (yaml.safe_load(dvc_file.read_text()) or {}).get("outs") or [{}]
    md5 = outs[0].get("md5")
    return str(md5) if md5 else None


class DvcPublisher:
    """Publish snapshots to ``path`` on ``branch`` of the git + DVC repository ``repo_url``."""

    def __init__(self, repo_url: str, branch: str, path: str) -> None:
        self.repo_url = repo_url
        self.branch = branch
        self.path = path

    def _error(self, reason: str) -> DataVersionError:
        return DataVersionError(f"DVC data '{self.path}' on branch '{self.branch}' of repo '{self.repo_url}': {reason}")

    def publish(
        self, snapshot: Mapping[str, Any], lineage: Mapping[str, Any], run: str, increment: Increment | None = None
    ) -> Published:
        """Make the pinned ``snapshot`` (a data ref) the file's content on the branch, once per run.

        With ``increment``, the snapshot is one data interval: it replaces that interval's rows in
        the file on the branch (hooks/increment.py) and the result is what gets committed.
        """
        from airflow_mlops.hooks.snapshot import copy_snapshot

        md5 = str(snapshot["md5"])
        os.environ.setdefault("DVC_NO_ANALYTICS", "1")
        with tempfile.TemporaryDirectory(prefix="mlops-ingest-") as tmp:
            work = Path(tmp) / "repo"
            self._clone(work)
            dvc_file = work / f"{self.path}.dvc"
            target = work / self.path
            target.parent.mkdir(parents=True, exist_ok=True)
            rows: int | None = None
            if increment is not None:
                md5, rows = self._append(work, target, snapshot, increment, run)
                # The file is the union of the intervals: its rows, and this interval's snapshot by name
                # only (a model trained on the file must not name one interval's snapshot as its data).
                lineage = {key: value for key, value in lineage.items() if key != "uri"}
                lineage.update(increment.as_lineage(), rows=rows, interval_rows=lineage.get("rows"))
                lineage["interval_uri"] = snapshot.get("uri")
            if _tracked_md5(dvc_file) == md5:
                last = _git(work, "log", "-1", "--format=%H%n%B", "--", str(dvc_file)).split("\n", 1)
                made_by_this_run = f"{RUN_TRAILER}: {run}" in (last[1] if len(last) > 1 else "")
                return Published(commit=last[0], md5=md5, changed=made_by_this_run, rows=rows)
            if increment is None:
                copy_snapshot(snapshot, target)
            sidecar = work / f"{self.path}{SNAPSHOT_LINEAGE_SUFFIX}"
            sidecar.write_text(json.dumps({**lineage, "md5": md5, "ingested_by": run}, indent=2, sort_keys=True) + "\n")
            self._dvc_add_and_push(work, target)
            _git(work, "add", str(dvc_file), str(sidecar), str(target.parent / ".gitignore"))
            message = f"data: {self.path} from {lineage.get('source')} source {lineage.get('origin')!r}\n\n"
            if increment is not None:
                message += f"appended {increment.describe()}: {lineage.get('interval_rows')} rows\n"
            message += f"md5 {md5}, {lineage.get('rows')} rows\n\n{RUN_TRAILER}: {run}\n"
            _git(work, "commit", "--quiet", "-m", message)
            commit = _git(work, "rev-parse", "HEAD")
            self._push(work)
        return Published(commit=commit, md5=md5, changed=True, rows=rows)

    def _append(
        self, work: Path, target: Path, snapshot: Mapping[str, Any], increment: Increment, run: str
    ) -> tuple[str, int]:
        """Replace the interval's rows of the branch's file (fetched from the remote) by the snapshot's."""
        from airflow_mlops.hooks.increment import append_interval
        from airflow_mlops.hooks.snapshot import copy_snapshot, file_md5

        local = work.parent / "interval.parquet"
        copy_snapshot(snapshot, local)
        existing = None
        if _tracked_md5(work / f"{self.path}.dvc") is not None:
            self._pull(work, target)
            existing = target
        try:
            rows = append_interval(existing, local, target, increment)
        except DataContractError as exc:
            raise DataContractError(f"run '{run}', DVC data '{self.path}' on branch '{self.branch}': {exc}") from exc
        return file_md5(target), rows

    def _pull(self, work: Path, target: Path) -> None:
        from dvc.exceptions import DvcException
        from dvc.repo import Repo

        with Repo(str(work)) as repo:
            try:
                repo.pull(targets=[str(target)])
            except DvcException as exc:
                raise TransientError(
                    f"DVC data '{self.path}': cannot fetch the current version to append to: {exc}"
                ) from exc

    def _clone(self, work: Path) -> None:
        try:
            _git(None, "clone", "--quiet", "--single-branch", "--branch", self.branch, self.repo_url, str(work))
        except subprocess.CalledProcessError as exc:
            raise self._error(f"cannot clone the branch: {exc.stderr.strip()}") from exc

    def _dvc_add_and_push(self, work: Path, target: Path) -> None:
        from dvc.exceptions import DvcException
        from dvc.repo import Repo

        with Repo(str(work)) as repo:
            repo.add(str(target))
            try:
                repo.push(targets=[str(target)])
            except DvcException as exc:
                # Nothing is committed yet: a retry starts over from a fresh clone.
                raise TransientError(f"DVC data '{self.path}': dvc push to the remote failed: {exc}") from exc

    def _push(self, work: Path) -> None:
        try:
            _git(work, "push", "--quiet", "origin", f"HEAD:refs/heads/{self.branch}")
        except subprocess.CalledProcessError as exc:
            # The commit never left this clone: a retry clones the branch as it is now and commits again.
            raise TransientError(
                f"DVC data '{self.path}': git push to branch '{self.branch}' of repo '{self.repo_url}' failed "
                f"(the data is on the DVC remote; a retry commits again): {exc.stderr.strip()}"
            ) from exc
