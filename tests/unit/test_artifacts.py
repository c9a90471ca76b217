"""Splits travel between tasks as parquet files under the artifact root, through ObjectStoragePath."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from airflow_mlops import artifacts


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [0.5, 1.5, None, 3.25],
            "n": [1, 2, 3, 4],
            "label": ["a", "b", "a", None],
            "when": pd.to_datetime(["2026-01-01", "2026-01-02", None, "2026-01-04"]),
        }
    )


@pytest.mark.parametrize("scheme", ["file", "memory"])
def test_a_split_reads_back_exactly_as_written(tmp_path: Path, scheme: str) -> None:
    # memory:// is fsspec's in-process object store: a real filesystem other than the local one,
    # attached the way a deployment attaches any fsspec store Airflow has no provider for.
    from airflow.sdk.io import attach
    from fsspec.implementations.memory import MemoryFileSystem

    attach("memory", fs=MemoryFileSystem())
    uri = f"file://{tmp_path}/run/train.parquet" if scheme == "file" else f"memory://{tmp_path.name}/run/train.parquet"

    assert artifacts.write_parquet(_frame(), uri) == uri

    pd.testing.assert_frame_equal(artifacts.read_parquet(uri), _frame())


def test_a_local_split_is_a_plain_parquet_file_in_a_folder_it_made(tmp_path: Path) -> None:
    artifacts.write_parquet(_frame(), f"file://{tmp_path}/a/b/test.parquet")

    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a" / "b" / "test.parquet"), _frame())


def test_writing_again_replaces_the_split(tmp_path: Path) -> None:
    uri = f"file://{tmp_path}/train.parquet"
    artifacts.write_parquet(_frame(), uri)

    artifacts.write_parquet(_frame().head(2), uri)

    pd.testing.assert_frame_equal(artifacts.read_parquet(uri), _frame().head(2))


def test_the_md5_hashed_beside_the_write_is_the_written_files(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": range(50_000), "text": ["a", "b"] * 25_000})
    uri, md5 = artifacts.write_parquet_hashed(frame, str(tmp_path / "split" / "train.parquet"))
    written = (tmp_path / "split" / "train.parquet").read_bytes()
    assert md5 == hashlib.md5(written).hexdigest()
    assert artifacts.file_md5(uri) == md5


def test_a_local_file_hashed_in_the_background_is_its_md5_and_a_missing_one_says_so(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"pinned bytes" * 100_000)
    assert artifacts.local_file_md5(str(path)).result() == hashlib.md5(path.read_bytes()).hexdigest()
    with pytest.raises(FileNotFoundError):
        artifacts.local_file_md5(str(tmp_path / "gone.bin")).result()
