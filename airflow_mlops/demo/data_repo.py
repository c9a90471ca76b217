"""Build a real git + DVC data repository with a local-folder remote.

The demo and the integration tests need versioned data that behaves exactly like a team's
data registry (tags, branches, a remote to pull from) but without any network or cloud
account. A plain directory as the DVC remote gives that, and building it through the same
git and DVC machinery a user would run keeps the tests honest about what DvcHook sees.

Git runs as a subprocess with the system and global config switched off, so a developer's
``~/.gitconfig`` (commit signing, hooks, a different default branch) cannot change the result.
"""

from __future__ import annotations

import logging
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

_AUTHOR_NAME = "airflow-mlops demo"
_AUTHOR_EMAIL = "demo@localhost"
_REMOTE_NAME = "local"

# Passed on every git call as well as written to the local config: `-c` wins over any config
# file, so even the first commands (before the local config exists) behave the same everywhere.
_GIT_OVERRIDES = (
    f"user.name={_AUTHOR_NAME}",
    f"user.email={_AUTHOR_EMAIL}",
    "commit.gpgsign=false",
    "tag.gpgsign=false",
    "init.defaultBranch=main",
    "core.hooksPath=/dev/null",
)


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["GIT_CONFIG_GLOBAL"] = os.devnull
    env["GIT_TERMINAL_PROMPT"] = "0"
    # Author/committer variables from the caller's shell would override user.name/email.
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        env.pop(var, None)
    return env


def _git(repo_dir: Path, *args: str) -> str:
    cmd = ["git"]
    for override in _GIT_OVERRIDES:
        cmd += ["-c", override]
    cmd += ["-C", str(repo_dir), *args]
    try:
        result = subprocess.run(cmd, env=_git_env(), check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"`git {' '.join(args)}` failed in {repo_dir}: {exc.stderr.strip()}") from exc
    return result.stdout.strip()


@contextmanager
def _quiet_dvc() -> Iterator[None]:
    # Importing dvc attaches stdout handlers to its loggers; its INFO hints ("To track the
    # changes with git, run ...") describe steps this module already performs.
    loggers = [logging.getLogger(name) for name in ("dvc", "dvc_data", "dvc_objects")]
    previous = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, previous, strict=True):
            lg.setLevel(level)


def _is_data_repo(repo_dir: Path) -> bool:
    return (repo_dir / ".git").exists() and (repo_dir / ".dvc" / "config").is_file()


def create_data_repo(repo_dir: Path, remote_dir: Path) -> Path:
    """Create (or reuse) a git + DVC repository whose default DVC remote is ``remote_dir``.

    Idempotent so that `make demo` can be rerun without wiping the data history a previous
    run built up.
    """
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    repo_dir = Path(repo_dir).resolve()
    if _is_data_repo(repo_dir):
        return repo_dir

    from dvc.repo import Repo

    remote_dir = Path(remote_dir).resolve()
    repo_dir.mkdir(parents=True, exist_ok=True)
    remote_dir.mkdir(parents=True, exist_ok=True)

    if not (repo_dir / ".git").exists():
        _git(repo_dir, "init", "--initial-branch=main")
    for override in _GIT_OVERRIDES:
        key, value = override.split("=", 1)
        _git(repo_dir, "config", "--local", key, value)

    with _quiet_dvc(), Repo.init(str(repo_dir)) as repo, repo.config.edit() as conf:
        conf["remote"][_REMOTE_NAME] = {"url": str(remote_dir)}
        conf["core"]["remote"] = _REMOTE_NAME
        conf["core"]["analytics"] = False

    _git(repo_dir, "add", ".dvc/config", ".dvc/.gitignore", ".dvcignore")
    _git(repo_dir, "commit", "--quiet", "-m", "Initialise DVC with a local remote")
    return repo_dir


def commit_data_version(repo_dir: Path, rel_path: str, content: bytes, message: str, tag: str | None = None) -> str:
    """Record ``content`` as the next version of ``rel_path`` and return the new commit sha.

    The data is pushed to the remote before the git commit exists, so no commit ever points
    at data that only lives in this machine's cache.
    """
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    from dvc.repo import Repo

    repo_dir = Path(repo_dir).resolve()
    target = repo_dir / rel_path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)

    with _quiet_dvc(), Repo(str(repo_dir)) as repo:
        repo.add(str(target))
        repo.push(targets=[str(target)])

    dvc_file = target.with_name(target.name + ".dvc")
    gitignore = target.parent / ".gitignore"
    _git(repo_dir, "add", str(dvc_file), str(gitignore))
    # --allow-empty: re-committing identical bytes is a legitimate new version (e.g. a retag).
    _git(repo_dir, "commit", "--quiet", "--allow-empty", "-m", message)
    if tag is not None:
        _git(repo_dir, "tag", tag)
    return _git(repo_dir, "rev-parse", "HEAD")
