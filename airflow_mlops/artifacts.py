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
    # pyarrow writes a file in many small pieces; through an fsspec handle each one is a Python
    # call, which made the split writes a third slower than pandas writing to a local path.
    # Encoded in memory first (parquet is a fraction of the frame's size), the file is one write.
    return write_parquet_hashed(frame, uri)[0]


def write_parquet_hashed(frame: pd.DataFrame, uri: str) -> tuple[str, str]:
    """:func:`write_parquet`, also returning the file's md5: what a cached split is checked against later."""
    import hashlib
    import io

    from airflow.sdk import ObjectStoragePath

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    release_arrow_memory()  # the Arrow table it was encoded from
    path = ObjectStoragePath(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    with buffer.getbuffer() as encoded:  # the buffer's own bytes: getvalue() would copy the file once more
        path.write_bytes(encoded)  # type: ignore[arg-type]  # takes any bytes-like object (memoryview(data))
        return uri, hashlib.md5(encoded, usedforsecurity=False).hexdigest()


def file_md5(uri: str) -> str | None:
    """The md5 of the file at ``uri``, or None when it is gone: a deleted split is a cache miss."""
    import hashlib

    from airflow.sdk import ObjectStoragePath

    digest = hashlib.md5(usedforsecurity=False)
    try:
        with ObjectStoragePath(uri).open("rb") as handle:  # type: ignore[no-untyped-call]
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except (FileNotFoundError, OSError):
        return None
    return digest.hexdigest()


def read_parquet(uri: str) -> pd.DataFrame:
    import pandas as pd
    from airflow.sdk import ObjectStoragePath

    with ObjectStoragePath(uri).open("rb") as handle:  # type: ignore[no-untyped-call]
        frame = pd.read_parquet(handle)
    release_arrow_memory()
    return frame


def release_arrow_memory() -> None:
    """Give the OS back the pages Arrow's allocator kept from buffers already freed.

    A Parquet file is decoded into Arrow buffers, freed once pandas holds the frame; the allocator
    (mimalloc) keeps their pages for later Arrow allocations, which numpy cannot use, so every copy
    a task made of its data afterwards stacked on top of about a frame's worth of idle memory
    (issue #22: prepare_data at 1M rows). Once per file read it costs about a millisecond.
    """
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
