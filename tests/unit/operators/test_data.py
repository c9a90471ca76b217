"""resolve_data on a real DVC repository: a branch becomes a commit and an md5."""

from __future__ import annotations

import pygit2

from .conftest import DATA_PATH, Stack, commit_data, resolve


def test_resolve_pins_the_branch_to_its_commit_and_md5(stack: Stack) -> None:
    ref = resolve(stack)
    head = str(pygit2.Repository(str(stack.repo)).head.target)
    assert (ref["repo"], ref["path"], ref["rev"], ref["commit"]) == (str(stack.repo), DATA_PATH, "main", head)
    assert ref["md5"] == stack.md5()


def test_resolve_follows_the_branch_to_a_new_commit(stack: Stack) -> None:
    first = resolve(stack)
    commit = commit_data(stack.repo, stack.frame.iloc[:200], "v2")
    second = resolve(stack)
    assert second["commit"] == commit != first["commit"]
    assert second["md5"] == stack.md5() != first["md5"]
