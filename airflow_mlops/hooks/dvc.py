"""Pin a DVC-tracked file to an exact version, then read exactly that version back.

A retraining run must be reproducible and auditable: "trained on data-v3" is not enough,
because a tag or a branch can move between the task that validates the data and the task
that trains on it. ``resolve`` therefore turns a moving rev into a small, JSON-able *data
ref* (git commit + DVC md5) that travels through XCom and into MLflow, and every later read
goes through that ref, never through the rev.

Reads always go through DVC at the pinned commit, so the bytes come from the DVC cache or
the remote, never from whatever happens to sit in somebody's workspace.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_mlops.artifacts import local_file_md5, release_arrow_memory
from airflow_mlops.errors import ConfigurationError, DataVersionError

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pandas
    from dvc.api import DVCFileSystem
    from dvc.repo import Repo

    from airflow_mlops.contracts import DataRef

_CSV_SUFFIXES = frozenset({".csv"})
_PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})


@dataclass(frozen=True)
class _Target:
    """The data a failure is about, so every error names it the same way."""

    repo: str
    path: str
    rev: str
    commit: str | None = None

    def error(self, reason: str) -> DataVersionError:
        # One message shape everywhere, so an on-call engineer can grep a failure back to the
        # exact data, revision and repository without reading a traceback.
        at = f"rev '{self.rev}'"
        if self.commit is not None and self.commit != self.rev:
            at += f" (commit {self.commit})"
        return DataVersionError(f"DVC data '{self.path}' at {at} in repo '{self.repo}': {reason}")


def _root_cause(exc: BaseException) -> str:
    # DVC wraps failures several times and the outer messages are often generic
    # ("SCM error"); the innermost one says what actually went wrong.
    messages: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(messages) < 10:
        text = str(current).strip()
        if text and text not in messages:
            messages.append(text)
        current = current.__cause__ or current.__context__
    return messages[-1] if messages else type(exc).__name__


class DvcHook(BaseHook):
    """Resolve and read versioned data in a git + DVC repository (local path or git URL).

    The repository comes from the ``repo`` argument or from the connection's ``repo`` extra,
    so DAG authors can point a whole deployment at a different data registry by changing one
    connection instead of every pipeline file.
    """

    conn_name_attr = "dvc_conn_id"
    default_conn_name = "dvc_default"
    conn_type = "dvc"
    hook_name = "DVC"

    def __init__(self, dvc_conn_id: str = default_conn_name, repo: str | None = None) -> None:
        super().__init__()
        self.dvc_conn_id = dvc_conn_id
        self._repo = repo
        self._conn_repo: str | None = None

    @property
    def repo_url(self) -> str:
        if self._repo is not None:
            return self._repo
        if self._conn_repo is None:
            self._conn_repo = self._repo_from_connection()
        return self._conn_repo

    def _repo_from_connection(self) -> str:
        how_to = (
            f"set the connection's extra field 'repo', e.g. "
            f"AIRFLOW_CONN_{self.dvc_conn_id.upper()}="
            '\'{"conn_type":"dvc","extra":{"repo":"/path/or/git-url"}}\''
        )
        try:
            conn = self.get_connection(self.dvc_conn_id)
        except AirflowNotFoundException as exc:
            raise ConfigurationError(
                f"DVC connection '{self.dvc_conn_id}' is not defined; create it and {how_to}"
            ) from exc
        repo = conn.extra_dejson.get("repo")
        if not isinstance(repo, str) or not repo.strip():
            raise ConfigurationError(f"DVC connection '{self.dvc_conn_id}' has no 'repo' extra; {how_to}")
        return repo.strip()

    # -- pinning ---------------------------------------------------------------------------

    def resolve(self, path: str, rev: str) -> DataRef:
        """Pin ``path`` at ``rev`` to a commit and md5, failing now if the data is unreadable.

        Availability is checked here rather than left to the first read, so a missing
        ``dvc push`` fails the resolve task, before any validation or training time is spent.
        """
        os.environ.setdefault("DVC_NO_ANALYTICS", "1")
        from dvc.api import DVCFileSystem

        target = _Target(repo=self.repo_url, path=path, rev=rev)
        with self._open_repo(target) as repo:
            commit = str(repo.get_rev())
            target = replace(target, commit=commit)
            fs = DVCFileSystem(repo=repo, subrepos=True)
            dvc_info = self._dvc_info(fs, target)
            remote_url = self._remote_url(repo, target)
            self._probe(fs, target, remote_url)
            lineage = self._snapshot_lineage(fs, target, str(dvc_info["md5"]))

        size = dvc_info.get("size")
        ref: DataRef = {
            "repo": target.repo,
            "path": path,
            "rev": rev,
            "commit": commit,
            "md5": str(dvc_info["md5"]),
            "size": int(size) if size is not None else None,
            "remote_url": remote_url,
        }
        ref.update(lineage)  # type: ignore[typeddict-item]
        self.log.info("Pinned DVC data %s@%s to commit %s (md5 %s)", path, rev, target.commit, ref["md5"])
        return ref

    @staticmethod
    @contextmanager
    def _open_repo(target: _Target) -> Iterator[Repo]:
        from dvc.exceptions import NotDvcRepoError
        from dvc.repo import Repo
        from dvc.scm import CloneError, RevError, SCMError

        rev = target.commit or target.rev
        try:
            # subrepos/uninitialized match dvc.api, so a ref resolves exactly where dvc.api reads.
            repo = Repo.open(target.repo, rev=rev, subrepos=True, uninitialized=True)
        except RevError as exc:
            raise target.error("revision not found") from exc
        except CloneError as exc:
            raise target.error(f"repository cannot be opened or cloned: {_root_cause(exc)}") from exc
        except (SCMError, NotDvcRepoError) as exc:
            raise target.error(f"not a git repository with DVC: {_root_cause(exc)}") from exc
        with repo:
            yield repo

    @staticmethod
    def _dvc_info(fs: DVCFileSystem, target: _Target) -> dict[str, Any]:
        try:
            info = fs.info(target.path)
        except FileNotFoundError as exc:
            raise target.error("file is not tracked by DVC at that revision (no such file or DVC output)") from exc
        dvc_info = info.get("dvc_info")
        if not dvc_info or not dvc_info.get("md5"):
            raise target.error("file is not tracked by DVC at that revision (it is a plain git file)")
        if dvc_info.get("type") == "directory":
            raise target.error("is a DVC-tracked directory; point at a single file inside it")
        return dict(dvc_info)

    @staticmethod
    def _snapshot_lineage(fs: DVCFileSystem, target: _Target, md5: str) -> dict[str, Any]:
        """The lineage an ingestion pipeline committed beside the file, if it describes this very content.

        ``source`` stays ``dvc`` (the ref is read through DVC); the query, connection id, row count
        and snapshot URI say where the content was extracted from.
        """
        from airflow_mlops.record.paths import SNAPSHOT_LINEAGE_SUFFIX
        from airflow_mlops.record.tag import SNAPSHOT_FIELDS

        try:
            with fs.open(target.path + SNAPSHOT_LINEAGE_SUFFIX, mode="rb") as handle:
                recorded = json.loads(handle.read())
        except (FileNotFoundError, ValueError):
            return {}
        if not isinstance(recorded, dict) or recorded.get("md5") != md5:
            return {}  # a sidecar left from another version of the file says nothing about this one
        return {key: recorded[key] for key in SNAPSHOT_FIELDS if key != "source" and recorded.get(key) is not None}

    @staticmethod
    def _remote_url(repo: Repo, target: _Target) -> str | None:
        # The same lookup dvc.api.get_url makes, on the repository that is already open at
        # the pinned commit: get_url would open (and for a git URL, clone) it a second time.
        from dvc.config import NoRemoteError
        from dvc.exceptions import DvcException
        from dvc_data.index import StorageKeyError

        try:
            index, entry = repo.get_data_index_entry(target.path)
            remote_fs, remote_path = index.storage_map.get_remote(entry)
            return str(remote_fs.unstrip_protocol(remote_path))
        except (NoRemoteError, StorageKeyError, DvcException, KeyError, OSError, ValueError):
            # No default remote is a legitimate setup (cache-only repo); the ref just
            # cannot say where the data lives remotely.
            return None

    @staticmethod
    def _probe(fs: DVCFileSystem, target: _Target, remote_url: str | None) -> None:
        # Opening (without reading) makes DVC locate the object in the cache or on the
        # remote, which is exactly the check we want and costs no download.
        with DvcHook._storage_errors(target, remote_url), fs.open(target.path, mode="rb"):
            pass

    @staticmethod
    @contextmanager
    def _storage_errors(target: _Target, remote_url: str | None) -> Iterator[None]:
        try:
            yield
        except FileNotFoundError as exc:
            # DVC reports this as "does not exist ... neither as a DVC output nor as a
            # Git-tracked file", which misleads: the output exists, its bytes do not.
            where = f"remote '{remote_url}'" if remote_url else "DVC remote"
            raise target.error(
                f"DVC remote is unreachable: the data is neither in the local DVC cache nor on the {where}"
            ) from exc
        except Exception as exc:
            # Remote backends raise their own types (botocore, aiohttp, paramiko, ...).
            raise target.error(f"DVC remote is unreachable: {_root_cause(exc)}") from exc

    # -- reading ---------------------------------------------------------------------------

    def read_bytes(self, ref: Mapping[str, Any]) -> bytes:
        """Return the pinned bytes, read at the ref's commit rather than its (movable) rev.

        The md5 is re-checked so a remote object that was overwritten or truncated after
        pinning fails loudly instead of silently training on different data.
        """
        with self._pinned_file(ref, in_memory=True) as handle:
            return handle.read()  # an unread BytesIO hands back the bytes it was made of, uncopied

    @contextmanager
    def _pinned_file(self, ref: Mapping[str, Any], *, in_memory: bool = False) -> Iterator[BinaryIO]:
        """The pinned file open at its start: a local file as it is, anything else in memory.

        A local object (the DVC cache, a folder remote) is hashed block by block on a second thread
        while the caller parses it from disk, so its bytes are never held whole beside the frame
        parsed from them (at 5M rows that was the frame's size again, issue #22); a remote object is
        read once, into memory. Either way the md5 is checked before the caller's with-block ends, so
        what it parsed from other bytes never leaves it, and a parse error on such bytes is reported
        as the md5 mismatch that explains it.
        """
        os.environ.setdefault("DVC_NO_ANALYTICS", "1")
        from dvc.api import DVCFileSystem

        target = self._target_of(ref)
        expected = ref.get("md5")
        remote_url = ref.get("remote_url")
        with self._open_repo(target) as repo, ExitStack() as opened:
            fs = DVCFileSystem(repo=repo, subrepos=True)
            with self._storage_errors(target, remote_url):
                handle: BinaryIO = opened.enter_context(fs.open(target.path, mode="rb"))
                if in_memory or not isinstance(handle, io.BufferedReader) or not isinstance(handle.name, str):
                    data = handle.read()
                    digest = hashlib.md5(data, usedforsecurity=False).hexdigest
                    handle = io.BytesIO(data)
                else:
                    digest = local_file_md5(handle.name).result

            def verify() -> None:
                with self._storage_errors(target, remote_url):
                    actual = digest()
                # Bytes that hash to the md5 pinned at resolve time are the pinned DVC output itself,
                # so the DVC lookup (a few ms) is only made to explain a mismatch or an unpinned ref.
                if not expected or actual != expected:
                    self._verify(actual, expected, self._dvc_info(fs, target), target)

            try:
                yield handle
            except Exception:
                verify()
                raise
            verify()

    @staticmethod
    def _verify(actual: str, expected: str | None, dvc_info: dict[str, Any], target: _Target) -> None:
        entry = dvc_info.get("entry")
        hash_name = getattr(getattr(entry, "hash_info", None), "name", "md5")
        # DVC 2 ("md5-dos2unix") hashes text with CRLF normalised, so a plain md5 of the
        # bytes cannot be compared; DVC 3 hashes the raw bytes.
        if not expected or hash_name != "md5":
            return
        if actual != expected:
            raise target.error(
                f"content md5 {actual} does not match the pinned md5 {expected}; the stored object is corrupt"
            )

    def read_dataframe(self, ref: Mapping[str, Any], columns: Sequence[str] | None = None) -> pandas.DataFrame:
        """Load the pinned file as a DataFrame, choosing the parser from the file extension.

        ``columns``: only those of them the file has, in the file's order (every column when it has
        none of them): a Parquet file is then read column chunk by chunk, the rest never decoded.
        """
        import pandas as pd

        target = self._target_of(ref)
        suffix = PurePosixPath(target.path).suffix.lower()
        if suffix not in _CSV_SUFFIXES | _PARQUET_SUFFIXES:
            raise target.error(f"unsupported file type '{suffix or '(none)'}'; expected .csv or .parquet")

        with self._pinned_file(ref) as handle:
            header = _refuse_duplicate_header(handle, target)
            keep = set(columns or ())
            wanted = [name for name in header or [] if name in keep] or None
            try:
                if suffix in _CSV_SUFFIXES:  # the names as pandas reads them, whatever the csv module made of them
                    return pd.read_csv(handle, usecols=(lambda name: name in keep) if wanted else None)
                frame = pd.read_parquet(handle, columns=wanted)
            except (ValueError, OSError, NotImplementedError) as exc:
                # pandas/pyarrow parse errors (ParserError, EmptyDataError, ArrowInvalid,
                # UnicodeDecodeError) all derive from these.
                raise target.error(f"corrupt or unreadable file: {type(exc).__name__}: {exc}") from exc
        release_arrow_memory()
        return frame

    @staticmethod
    def _target_of(ref: Mapping[str, Any]) -> _Target:
        # A ref crosses XCom and may have been hand-written or truncated; say which key is
        # missing instead of failing with a KeyError deep inside DVC.
        fields: dict[str, str] = {}
        for key in ("repo", "path", "commit"):
            value = ref.get(key) if isinstance(ref, Mapping) else None
            if not isinstance(value, str) or not value:
                raise DataVersionError(
                    f"Malformed DVC data ref (no '{key}'): {ref!r}; pass the dict DvcHook.resolve returned"
                )
            fields[key] = value
        rev = ref.get("rev")
        return _Target(
            repo=fields["repo"],
            path=fields["path"],
            rev=rev if isinstance(rev, str) and rev else fields["commit"],
            commit=fields["commit"],
        )


def _refuse_duplicate_header(data: bytes | BinaryIO, target: _Target) -> list[str] | None:
    """Stop on a header that repeats a name, before pandas renames the copy (``target`` -> ``target.1``).

    The renamed copy would be a feature like any other, and a second label column holding the
    answer trains a model that scores perfectly and is promoted; no later check can tell.
    Returns the header (None when it cannot be read); ``data`` is the file's bytes or the open file.
    """
    from airflow_mlops.data_contract.header import header_issues, raw_header
    from airflow_mlops.errors import DataContractError

    try:
        header = raw_header(data, target.path)
    except Exception:  # an unreadable file is reported by the parser below, with its error
        return None
    issues = header_issues(header)
    if issues:
        names = ", ".join(repr(issue.column) for issue in issues)
        where = f"{target.path}@{(target.commit or target.rev)[:12]} in repo '{target.repo}'"
        details = "; ".join(str(issue) for issue in issues)
        raise DataContractError(f"data {where} repeats column name(s) {names} in its header: {details}")
    return header
