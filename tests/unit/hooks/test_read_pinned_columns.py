"""read_pinned with ``columns``: a snapshot's Parquet file read for the columns asked for, in the file's order."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from airflow_mlops.hooks.snapshot import read_pinned


def _snapshot(tmp_path: Path, frame: pd.DataFrame) -> dict[str, object]:
    path = tmp_path / "snapshot.parquet"
    frame.to_parquet(path, index=False)
    md5 = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
    return {"source": "sql", "repo": "conn", "uri": f"file://{path}", "md5": md5, "commit": md5, "path": str(path)}


def test_a_snapshot_is_read_for_the_columns_asked_for(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None], "c": [0.5, 1.5, 2.5]})
    ref = _snapshot(tmp_path, frame)

    pd.testing.assert_frame_equal(read_pinned(ref, columns=["c", "nope", "a"]), frame[["a", "c"]])
    pd.testing.assert_frame_equal(read_pinned(ref), frame)
    pd.testing.assert_frame_equal(read_pinned(ref, columns=["nope"]), frame)  # none of them: every column
