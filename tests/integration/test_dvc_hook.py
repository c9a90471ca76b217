"""DvcHook against real git + DVC repositories with a local-folder remote (no network)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from airflow_mlops.demo.data_repo import commit_data_version, create_data_repo
from airflow_mlops.errors import ConfigurationError, DataVersionError
from airflow_mlops.hooks.dvc import DvcHook

CSV_PATH = "data/train.csv"
V1 = b"x,y\n1,a\n2,b\n"
V2 = b"x,y\n1,a\n2,b\n3,c\n4,d\n"


@dataclass
class DataRepo:
    root: Path
    remote: Path
    v1_commit: str
    v2_commit: str

    @property
    def url(self) -> str:
        return str(self.root)

    def dvc_file_md5(self, commit: str, rel_path: str = CSV_PATH) -> str:
        text = _git(self.root, "show", f"{commit}:{rel_path}.dvc")
        return str(yaml.safe_load(text)["outs"][0]["md5"])

    def clear_local_cache(self) -> None:
        shutil.rmtree(self.root / ".dvc" / "cache", ignore_errors=True)
        assert not (self.root / ".dvc" / "cache").exists()


@pytest.fixture(autouse=True)
def _dvc_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(tmp_path / "dvc-site-cache"))


@pytest.fixture
def data_repo(tmp_path: Path) -> DataRepo:
    root = create_data_repo(tmp_path / "repo", tmp_path / "remote")
    v1 = commit_data_version(root, CSV_PATH, V1, "data v1", tag="data-v1")
    v2 = commit_data_version(root, CSV_PATH, V2, "data v2", tag="data-v2")
    return DataRepo(root=root, remote=(tmp_path / "remote").resolve(), v1_commit=v1, v2_commit=v2)


def _git(root: Path, *args: str) -> str:
    # Same isolation as the data_repo utility: a developer's global git config must not matter.
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    identity = ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    result = subprocess.run(
        ["git", *identity, "-c", "tag.gpgsign=false", "-C", str(root), *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


def _git_commit_plain_file(root: Path, rel_path: str, content: bytes) -> None:
    (root / rel_path).write_bytes(content)
    _git(root, "add", rel_path)
    _git(root, "commit", "-qm", "plain file")


def test_create_data_repo_is_isolated_and_idempotent(data_repo: DataRepo, tmp_path: Path) -> None:
    head = _git(data_repo.root, "rev-parse", "HEAD").strip()

    again = create_data_repo(data_repo.root, tmp_path / "another-remote")

    assert again == data_repo.root
    assert _git(data_repo.root, "rev-parse", "HEAD").strip() == head == data_repo.v2_commit
    assert _git(data_repo.root, "branch", "--show-current").strip() == "main"
    assert _git(data_repo.root, "config", "--local", "user.email").strip() == "demo@localhost"
    assert _git(data_repo.root, "log", "-1", "--format=%an").strip() == "airflow-mlops demo"
    dvc_config = (data_repo.root / ".dvc" / "config").read_text()
    assert f"url = {data_repo.remote}" in dvc_config
    assert "remote = local" in dvc_config
    assert not (tmp_path / "another-remote").exists()
    assert _git(data_repo.root, "status", "--porcelain").strip() == ""


# -- resolve -------------------------------------------------------------------------------


def test_resolve_tag_pins_commit_md5_and_remote(data_repo: DataRepo) -> None:
    ref = DvcHook(repo=data_repo.url).resolve(CSV_PATH, "data-v1")

    assert re.fullmatch(r"[0-9a-f]{40}", ref["commit"])
    assert ref["commit"] == data_repo.v1_commit
    assert ref["md5"] == data_repo.dvc_file_md5(data_repo.v1_commit) == hashlib.md5(V1).hexdigest()
    assert ref["size"] == len(V1)
    assert ref["repo"] == data_repo.url
    assert ref["path"] == CSV_PATH
    assert ref["rev"] == "data-v1"
    md5 = ref["md5"]
    assert ref["remote_url"] == str(data_repo.remote / "files" / "md5" / md5[:2] / md5[2:])
    assert Path(ref["remote_url"]).read_bytes() == V1
    assert json.loads(json.dumps(ref)) == ref


def test_remote_url_is_what_dvc_api_get_url_reports(data_repo: DataRepo) -> None:
    import dvc.api

    ref = DvcHook(repo=data_repo.url).resolve(CSV_PATH, "data-v2")

    assert ref["remote_url"] == dvc.api.get_url(CSV_PATH, repo=data_repo.url, rev=data_repo.v2_commit)


def test_repo_without_a_default_remote_points_at_its_cache(data_repo: DataRepo) -> None:
    import dvc.api

    (data_repo.root / ".dvc" / "config").write_text("")
    _git(data_repo.root, "commit", "-qam", "no remote")
    hook = DvcHook(repo=data_repo.url)

    ref = hook.resolve(CSV_PATH, "HEAD")

    md5 = hashlib.md5(V2).hexdigest()
    assert ref["md5"] == md5
    assert ref["remote_url"] == str(data_repo.root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:])
    assert ref["remote_url"] == dvc.api.get_url(CSV_PATH, repo=data_repo.url, rev=ref["commit"])
    assert hook.read_bytes(ref) == V2


def test_resolve_branch_follows_branch_head(data_repo: DataRepo) -> None:
    ref = DvcHook(repo=data_repo.url).resolve(CSV_PATH, "main")

    assert ref["rev"] == "main"
    assert ref["commit"] == data_repo.v2_commit
    assert ref["md5"] == data_repo.dvc_file_md5(data_repo.v2_commit) == hashlib.md5(V2).hexdigest()
    assert ref["size"] == len(V2)


def test_annotated_tag_and_short_sha_resolve_to_the_commit(data_repo: DataRepo) -> None:
    _git(data_repo.root, "tag", "-a", "release-1", "-m", "annotated", data_repo.v1_commit)
    hook = DvcHook(repo=data_repo.url)

    assert hook.resolve(CSV_PATH, "release-1")["commit"] == data_repo.v1_commit
    assert hook.resolve(CSV_PATH, data_repo.v1_commit[:10])["commit"] == data_repo.v1_commit


def test_file_inside_a_tracked_directory_resolves_but_the_directory_does_not(data_repo: DataRepo) -> None:
    from dvc.repo import Repo

    part = b"a\n1\n2\n"
    (data_repo.root / "features").mkdir()
    (data_repo.root / "features" / "part-0.csv").write_bytes(part)
    with Repo(data_repo.url) as repo:
        repo.add(str(data_repo.root / "features"))
        repo.push()
    _git(data_repo.root, "add", "features.dvc", ".gitignore")
    _git(data_repo.root, "commit", "-qm", "features dir")
    hook = DvcHook(repo=data_repo.url)

    ref = hook.resolve("features/part-0.csv", "main")
    assert ref["md5"] == hashlib.md5(part).hexdigest()
    assert hook.read_bytes(ref) == part
    with pytest.raises(DataVersionError, match=r"'features' at rev 'main'.*DVC-tracked directory"):
        hook.resolve("features", "main")


# -- versions and reading ------------------------------------------------------------------


def test_ref_keeps_reading_its_version_after_the_branch_moves(tmp_path: Path) -> None:
    root = create_data_repo(tmp_path / "repo", tmp_path / "remote")
    hook = DvcHook(repo=str(root))
    commit_data_version(root, CSV_PATH, V1, "v1")
    ref1 = hook.resolve(CSV_PATH, "main")

    commit_data_version(root, CSV_PATH, V2, "v2")
    ref2 = hook.resolve(CSV_PATH, "main")

    assert ref1["rev"] == ref2["rev"] == "main"
    assert ref1["commit"] != ref2["commit"]
    assert ref1["md5"] != ref2["md5"]
    assert (root / CSV_PATH).read_bytes() == V2  # the workspace holds v2 ...
    assert hook.read_bytes(ref1) == V1  # ... yet the old ref still reads v1
    assert hook.read_bytes(ref2) == V2


def test_read_pulls_from_remote_without_workspace_file_or_cache(data_repo: DataRepo) -> None:
    hook = DvcHook(repo=data_repo.url)
    ref = hook.resolve(CSV_PATH, "data-v1")
    (data_repo.root / CSV_PATH).unlink()
    data_repo.clear_local_cache()

    assert hook.read_bytes(ref) == V1
    assert hook.read_dataframe(ref)["y"].tolist() == ["a", "b"]


def test_read_bytes_uses_the_ref_repo_not_the_hook_connection(data_repo: DataRepo) -> None:
    ref = DvcHook(repo=data_repo.url).resolve(CSV_PATH, "data-v2")

    assert DvcHook(dvc_conn_id="never_defined_anywhere", repo="/elsewhere").read_bytes(ref) == V2


def test_read_dataframe_csv(data_repo: DataRepo) -> None:
    hook = DvcHook(repo=data_repo.url)
    df = hook.read_dataframe(hook.resolve(CSV_PATH, "data-v2"))

    assert list(df.columns) == ["x", "y"]
    assert df["x"].tolist() == [1, 2, 3, 4]
    assert df["y"].tolist() == ["a", "b", "c", "d"]


def test_read_dataframe_parquet(data_repo: DataRepo) -> None:
    expected = pd.DataFrame({"f1": [0.5, 1.5, 2.5], "label": [0, 1, 0]})
    buffer = io.BytesIO()
    expected.to_parquet(buffer, index=False)
    commit_data_version(data_repo.root, "data/train.parquet", buffer.getvalue(), "parquet", tag="pq-v1")
    hook = DvcHook(repo=data_repo.url)

    df = hook.read_dataframe(hook.resolve("data/train.parquet", "pq-v1"))

    pd.testing.assert_frame_equal(df, expected)


def test_read_dataframe_reads_only_the_columns_asked_for_in_the_files_order(data_repo: DataRepo) -> None:
    # What validate_data asks for (hooks/gx_columns.py): the columns its rules name, one the file lacks included.
    whole = pd.DataFrame({"f1": [0.5, 1.5, 2.5], "name": ["a", "b", None], "label": [0, 1, 0]})
    buffer = io.BytesIO()
    whole.to_parquet(buffer, index=False)
    commit_data_version(data_repo.root, "data/cols.parquet", buffer.getvalue(), "parquet", tag="cols-v1")
    hook = DvcHook(repo=data_repo.url)
    parquet, csv = hook.resolve("data/cols.parquet", "cols-v1"), hook.resolve(CSV_PATH, "data-v2")

    pd.testing.assert_frame_equal(hook.read_dataframe(parquet, columns=["label", "nope", "f1"]), whole[["f1", "label"]])
    pd.testing.assert_frame_equal(hook.read_dataframe(csv, columns=["y"]), hook.read_dataframe(csv)[["y"]])
    # none of them in the file: every column, so a row count still counts the file's rows
    pd.testing.assert_frame_equal(hook.read_dataframe(parquet, columns=["nope"]), whole)


# -- failures ------------------------------------------------------------------------------


def test_unknown_rev_names_path_rev_and_repo(data_repo: DataRepo) -> None:
    with pytest.raises(DataVersionError) as excinfo:
        DvcHook(repo=data_repo.url).resolve(CSV_PATH, "nope")

    message = str(excinfo.value)
    assert f"'{CSV_PATH}'" in message
    assert "rev 'nope'" in message
    assert f"repo '{data_repo.url}'" in message
    assert "revision not found" in message


def test_plain_git_file_is_not_dvc_tracked(data_repo: DataRepo) -> None:
    _git_commit_plain_file(data_repo.root, "README.md", b"# data\n")

    with pytest.raises(DataVersionError, match=r"'README\.md' at rev 'main'.*not tracked by DVC"):
        DvcHook(repo=data_repo.url).resolve("README.md", "main")


def test_missing_path_is_not_dvc_tracked(data_repo: DataRepo) -> None:
    with pytest.raises(DataVersionError, match=r"'data/absent\.csv' at rev 'data-v1'.*not tracked by DVC"):
        DvcHook(repo=data_repo.url).resolve("data/absent.csv", "data-v1")


def test_file_added_later_is_not_tracked_at_an_older_rev(data_repo: DataRepo) -> None:
    commit_data_version(data_repo.root, "data/new.csv", b"a\n1\n", "new file")
    hook = DvcHook(repo=data_repo.url)

    assert hook.resolve("data/new.csv", "main")["size"] == 4
    with pytest.raises(DataVersionError, match="not tracked by DVC at that revision"):
        hook.resolve("data/new.csv", "data-v2")


def test_missing_remote_fails_resolve_and_read(data_repo: DataRepo) -> None:
    hook = DvcHook(repo=data_repo.url)
    ref = hook.resolve(CSV_PATH, "data-v1")
    shutil.rmtree(data_repo.remote)
    data_repo.clear_local_cache()
    # The workspace still holds a copy; it must not be used as a fallback.
    assert (data_repo.root / CSV_PATH).read_bytes() == V2

    with pytest.raises(DataVersionError) as read_error:
        hook.read_bytes(ref)
    with pytest.raises(DataVersionError) as resolve_error:
        hook.resolve(CSV_PATH, "data-v1")

    for error in (read_error, resolve_error):
        message = str(error.value)
        assert f"'{CSV_PATH}'" in message
        assert data_repo.v1_commit in message
        assert f"repo '{data_repo.url}'" in message
        assert "DVC remote is unreachable" in message


def test_tampered_remote_object_fails_md5_check(data_repo: DataRepo) -> None:
    hook = DvcHook(repo=data_repo.url)
    ref = hook.resolve(CSV_PATH, "data-v1")
    data_repo.clear_local_cache()
    remote_object = Path(ref["remote_url"])
    os.chmod(remote_object, 0o644)
    remote_object.write_bytes(b"x,y\n9,z\n")

    with pytest.raises(DataVersionError, match=f"does not match the pinned md5 {ref['md5']}"):
        hook.read_bytes(ref)


@pytest.mark.parametrize("tampered", [b"x,y\n9,z\n", b"a,b\n1,2\n3,4,5,6,7\n"], ids=["parses", "unparsable"])
def test_a_tampered_cache_object_fails_the_md5_check_whether_or_not_it_parses(
    data_repo: DataRepo, tampered: bytes
) -> None:
    # A local object is parsed from disk while a second thread hashes it (DvcHook._pinned_file): a frame
    # parsed from other bytes never leaves the hook, and a parse error on them is reported as the mismatch.
    hook = DvcHook(repo=data_repo.url)
    ref = hook.resolve(CSV_PATH, "data-v1")
    cached = data_repo.root / ".dvc" / "cache" / "files" / "md5" / ref["md5"][:2] / ref["md5"][2:]
    os.chmod(cached, 0o644)
    cached.write_bytes(tampered)

    with pytest.raises(DataVersionError, match=f"does not match the pinned md5 {ref['md5']}"):
        hook.read_dataframe(ref)


@pytest.mark.parametrize(
    ("rel_path", "content"),
    [
        ("data/bad.csv", b"a,b\n1,2\n3,4,5,6,7\n"),
        ("data/binary.csv", b"\xff\xfe\x00\x81 not text"),
        ("data/bad.parquet", b"PAR1 definitely not parquet PAR1"),
    ],
)
def test_corrupt_file_raises_data_version_error(data_repo: DataRepo, rel_path: str, content: bytes) -> None:
    commit = commit_data_version(data_repo.root, rel_path, content, "corrupt")
    hook = DvcHook(repo=data_repo.url)
    ref = hook.resolve(rel_path, "main")
    assert hook.read_bytes(ref) == content  # the bytes are fine; only parsing fails

    with pytest.raises(DataVersionError) as excinfo:
        hook.read_dataframe(ref)

    message = str(excinfo.value)
    assert f"'{rel_path}'" in message
    assert commit in message
    assert "corrupt or unreadable file" in message


def test_malformed_ref_is_rejected(data_repo: DataRepo) -> None:
    with pytest.raises(DataVersionError, match="no 'commit'"):
        DvcHook(repo=data_repo.url).read_bytes({"repo": data_repo.url, "path": CSV_PATH, "rev": "main"})


# -- connection ----------------------------------------------------------------------------


def test_repo_from_connection_extra(data_repo: DataRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DVC_TEST", json.dumps({"conn_type": "dvc", "extra": {"repo": data_repo.url}}))
    hook = DvcHook(dvc_conn_id="dvc_test")

    assert hook.repo_url == data_repo.url
    assert hook.resolve(CSV_PATH, "data-v1")["commit"] == data_repo.v1_commit


def test_explicit_repo_wins_and_skips_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DVC_TEST", json.dumps({"conn_type": "dvc", "extra": {"repo": "/from/conn"}}))
    monkeypatch.delenv("AIRFLOW_CONN_DVC_UNDEFINED", raising=False)

    assert DvcHook(dvc_conn_id="dvc_test", repo="/explicit").repo_url == "/explicit"
    assert DvcHook(dvc_conn_id="dvc_undefined", repo="/explicit").repo_url == "/explicit"


def test_missing_connection_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_DVC_UNDEFINED", raising=False)

    with pytest.raises(ConfigurationError) as excinfo:
        _ = DvcHook(dvc_conn_id="dvc_undefined").repo_url

    assert "'dvc_undefined'" in str(excinfo.value)
    assert "AIRFLOW_CONN_DVC_UNDEFINED=" in str(excinfo.value)


def test_connection_without_repo_extra_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DVC_TEST", json.dumps({"conn_type": "dvc", "extra": {"other": "x"}}))

    with pytest.raises(ConfigurationError, match=r"'dvc_test' has no 'repo' extra.*AIRFLOW_CONN_DVC_TEST="):
        _ = DvcHook(dvc_conn_id="dvc_test").repo_url
