"""Datasets move between tasks by reference: a URI under the artifact root, never XCom bytes.

On a distributed executor the next task runs on another machine, so nothing may be read
from a local path another task wrote; everything goes through ObjectStoragePath, which is a
local folder by default and ``s3://...`` (or any fsspec scheme) in production.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from airflow_mlops import settings

if TYPE_CHECKING:
    import pandas as pd


def run_prefix(dag_id: str, run_id: str) -> str:
    """A per-DAG-run folder; run ids contain ':' and '+', which object stores dislike."""
    safe_run = re.sub(r"[^A-Za-z0-9._-]+", "_", run_id)
    return f"{settings.artifact_root()}/{dag_id}/{safe_run}"


def write_parquet(frame: pd.DataFrame, uri: str) -> str:
    from airflow.sdk import ObjectStoragePath

    path = ObjectStoragePath(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:  # type: ignore[no-untyped-call]
        frame.to_parquet(handle, index=False)
    return uri


def read_parquet(uri: str) -> pd.DataFrame:
    import pandas as pd
    from airflow.sdk import ObjectStoragePath

    with ObjectStoragePath(uri).open("rb") as handle:  # type: ignore[no-untyped-call]
        return pd.read_parquet(handle)
