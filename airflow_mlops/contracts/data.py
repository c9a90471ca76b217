"""What the data tasks hand on: the pinned data version, its validation, the split.

See :mod:`airflow_mlops.contracts`.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class DataRef(TypedDict):
    """The pinned data every data task reads (``resolve_data``).

    A DVC file pinned to a commit; or a snapshot of a SQL or object-storage source
    (``source`` is then ``sql`` or ``object_storage``): ``repo`` names the source, ``path`` and
    ``uri`` the content-addressed snapshot, ``commit`` and ``md5`` its content hash. A DVC file
    written by an ``ingestion`` pipeline carries the snapshot's lineage too (its sidecar file).
    """

    repo: str
    path: str
    rev: str
    commit: str
    md5: str
    size: NotRequired[int | None]
    remote_url: NotRequired[str | None]
    source: NotRequired[str]
    uri: NotRequired[str]
    rows: NotRequired[int]
    columns: NotRequired[dict[str, str]]
    conn_id: NotRequired[str]
    query: NotRequired[str]
    source_uri: NotRequired[str]
    ingested_by: NotRequired[str]


class DataDigest(TypedDict):
    """A data reference as recorded, read back from tags: a field an old record lacks is None."""

    repo: str | None
    path: str | None
    rev: str | None
    commit: str | None
    md5: str | None
    source: NotRequired[str]
    uri: NotRequired[str]


class ValidationFailure(TypedDict):
    type: str | None
    column: str | None
    reason: str


class ValidationDigest(TypedDict):
    """``validate_data``: the verdict and counts; the full GX result is an MLflow artifact."""

    success: bool
    suite: str | None
    statistics: dict[str, Any]
    failed: list[ValidationFailure]
    n_failed: int
    rows: int
    artifact: str
    mlflow_run_id: str


class PipelineRecord(TypedDict):
    """Where one DAG run's MLflow record is: its experiment and its pipeline run.

    Handed downstream with the split, so the tasks after ``prepare_data`` write to the same
    pipeline run without looking it up again (two MLflow round trips per task). A task uses it
    only when it names the task's own experiment and DAG run.
    """

    experiment: str
    experiment_id: str
    pipeline_run_id: str
    dag_id: str
    run_id: str


class PreparedDataset(TypedDict):
    """``prepare_data``: the train and test splits every candidate and the champion are judged on."""

    train_uri: str
    test_uri: str
    n_train: int
    n_test: int
    target: str
    features: list[str]
    data: DataRef
    #: The data contract the split was checked against and trained on (DataContract JSON).
    contract: NotRequired[str]
    #: The md5 of each split file as written: a later run reusing the split checks them first.
    train_md5: NotRequired[str]
    test_md5: NotRequired[str]
    #: The digest of the step cache key this split was made under (record/cache.py): the key of
    #: every step downstream includes it.
    cache_key: NotRequired[str]
    #: The DAG run whose split this is, when this run reused it instead of splitting again.
    reused_from: NotRequired[str]
    #: This DAG run's MLflow record, when prepare_data keeps one (it has an ``experiment``).
    record: NotRequired[PipelineRecord]
