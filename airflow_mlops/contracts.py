"""What one task hands the next through XCom, as typed dictionaries.

A TypedDict is a plain ``dict`` at run time, so XCom stores the same JSON and the UI plugin reads
the same keys; only mypy sees the types. Each operator's ``execute()`` returns one of these and
types its inputs with the ones it consumes, so ``mypy --strict`` checks the pipeline's data flow
end to end: a key renamed by one task is an error in the task that reads it.

Imported by every operator at DAG parse time: the standard library's ``typing`` only.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

# --- data ----------------------------------------------------------------------------------------


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


# --- training and evaluation ---------------------------------------------------------------------


class TrainedCandidate(TypedDict):
    """``train``: one candidate's finished MLflow run and the model it logged."""

    candidate: str
    estimator: str
    params: dict[str, Any]
    preprocessing: dict[str, Any]
    mlflow_run_id: str
    experiment_id: str
    model_uri: str
    model_id: str | None
    #: True when training raised and ``on_failure`` is drop: ``model_uri`` is empty, the run FAILED.
    dropped: NotRequired[bool]
    #: Why a dropped candidate failed (``ExceptionType: message``).
    error: NotRequired[str]
    #: With cross-validation: ``cv_<metric>_mean`` / ``cv_<metric>_std`` over the training folds.
    cv_metrics: NotRequired[dict[str, float]]
    #: The digest of the step cache key the model was trained under (record/cache.py).
    cache_key: NotRequired[str]
    #: The DAG run that trained the model, when this run reused it instead of training again.
    reused_from: NotRequired[str]


class TunedShare(TypedDict):
    """``tune_<candidate>``: what one worker of a spread search ran (its trials are MLflow runs)."""

    candidate: str
    worker: int
    #: The pipeline's run, which the trials nest under until ``train`` moves them under the candidate's.
    mlflow_run_id: str
    experiment_id: str
    #: The trial numbers of this worker's share, and those this attempt ran.
    trials: list[int]
    ran: list[int]
    complete: int
    pruned: int
    failed: int
    #: Trials of the share an earlier attempt had finished.
    resumed: int


class DroppedCandidate(TypedDict):
    """A candidate that failed to train and was left out of the gate, with its error."""

    candidate: str
    error: str
    mlflow_run_id: str | None


class EvaluatedCandidate(TrainedCandidate):
    """A trained candidate with its metrics on the shared test split.

    ``metrics`` holds finite numbers only; a metric that could not be computed is absent there
    and named in ``not_computable`` with its reason, so XCom and MLflow stay strict JSON.
    """

    metrics: dict[str, float]
    not_computable: NotRequired[dict[str, str]]


class ChampionScore(TypedDict):
    """The current champion, by version number, scored on the same test split."""

    version: str
    run_id: str | None
    model_uri: str
    metrics: dict[str, float]
    not_computable: NotRequired[dict[str, str]]
    #: The logged model the version was registered from (``m-<id>``): a candidate with the same is the champion.
    model_id: NotRequired[str]


class Evaluation(TypedDict):
    """``evaluate``: every candidate and the champion on one test snapshot."""

    n_test: int
    test_uri: str
    candidates: list[EvaluatedCandidate]
    champion: ChampionScore | None
    model_name: str
    mlflow_run_id: str
    #: The gate's slice specs, each with the slices too small to judge (``{value: rows}``).
    slices: NotRequired[list[dict[str, Any]]]
    slice_metric_names: NotRequired[dict[str, str]]
    #: Candidates that failed to train (``candidates.on_failure: drop``), not scored.
    dropped: NotRequired[list[DroppedCandidate]]
    #: Classification: the ``average`` asked for, and how precision, recall, f1 and roc_auc were
    #: combined over the test set's classes ("positive class 1", "weighted average over 3 classes").
    average: NotRequired[str]
    averaging: NotRequired[str]


# --- the gate and the registry ---------------------------------------------------------------------


class OutcomeRecord(TypedDict):
    """One rule's outcome, as ``gates.verdict.RuleOutcome`` writes it (non-finite numbers as None)."""

    rule: str
    metric: str
    kind: Literal["threshold", "champion", "sample_size", "slice", "slice_gap"]
    candidate_value: float | None
    champion_value: float | None
    threshold: float | None
    passed: bool
    reason: str


class VerdictRecord(TypedDict):
    """``gates.verdict.Verdict`` as JSON: what the gate decided and why."""

    decision: Literal["promote", "reject", "unchanged"]
    candidate: str
    champion_version: str | None
    first_run: bool
    n_test: int
    outcomes: list[OutcomeRecord]
    summary: str
    #: ``{candidate: error}`` of the candidates that failed to train and were not judged.
    dropped: NotRequired[dict[str, str]]
    #: How the class-averaged metrics were combined (``Evaluation.averaging``).
    averaging: NotRequired[str]


class GateResult(TypedDict):
    """``gate``: the verdict on the best candidate, with what it was measured against."""

    verdict: VerdictRecord
    candidate: EvaluatedCandidate
    champion: ChampionScore | None


class ServingOutcomeRecord(TypedDict):
    """One check of the serving check, as ``gates.serving.ServingOutcome`` writes it."""

    check: str
    kind: Literal["parity", "latency", "malformed", "startup"]
    passed: bool
    reason: str
    value: float | None
    limit: float | None


class ServingCheckResult(TypedDict):
    """``serving_check``: how the gate's winner answered in a real model server (only a pass is returned)."""

    decision: Literal["pass", "fail"]
    model_uri: str
    rows: int
    outcomes: list[ServingOutcomeRecord]
    summary: str
    #: The server's loopback port and how long it took to answer /ping, for the log and the bench.
    port: int
    startup_seconds: float


class ApprovalRecord(TypedDict):
    """``approve``: who signed off (or rejected), when and why."""

    decision: Literal["approved", "rejected"]
    by: str
    at: str
    reason: str


class EnvironmentApproval(ApprovalRecord):
    """``approve_<env>``: the answer, and the source version it was given about (the promotion moves that one)."""

    version: str


class Registration(TypedDict):
    """``register``: the model version created for the gate's winner."""

    model_name: str
    version: str
    model_uri: str
    source_run_id: str
    url: str | None


class Promotion(TypedDict):
    """``promote``: where the alias points now and where it pointed before."""

    model_name: str
    alias: str
    version: str
    previous: str | None


class PromotionAcross(TypedDict):
    """``promote_<from>_to_<to>``: the version copied into the target environment and its alias there.

    ``version`` is the target registry's new version; ``source`` says where it came from, so the
    next hop (staging -> prod) promotes exactly this version, not whatever holds @champion by then.
    """

    environment: str
    model_name: str
    alias: str
    version: str
    previous: str | None
    source: dict[str, str]
    regate: str
    approval: EnvironmentApproval | None


class Deployment(TypedDict):
    """``deploy``: the version served at the endpoint after the rollout, its smoke check and its bake."""

    model_name: str
    version: str
    target: str
    endpoint: str
    url: str | None
    strategy: str
    decision: str
    smoke: dict[str, Any]
    bake: dict[str, Any]


# --- batch scoring and drift -----------------------------------------------------------------------


class ScoringResult(TypedDict):
    """``score``: where the predictions are and which model version made them."""

    uri: str
    rows: int
    model_name: str
    model_version: str
    data_commit: str
    model_uri: str
    mlflow_run_id: str


class ModelRef(TypedDict):
    name: str
    alias: str
    version: str


class DriftSummary(TypedDict):
    """``drift.compare``'s summary, with ``drifted_features`` capped for XCom."""

    drifted: bool
    n_drifted: int
    drifted_features: list[str]
    features_checked: int
    reference_rows: int
    current_rows: int
    rule: str
    psi_threshold: float
    ks_pvalue: float
    bins: int
    min_drifted_features: int


class DriftDigest(TypedDict):
    """``check_drift``: the comparison's verdict and largest movers; the full report is in MLflow."""

    model: ModelRef
    reference: DataDigest
    current: DataDigest
    summary: DriftSummary
    top_features: list[dict[str, Any]]
    mlflow_run_id: str
    artifact: str


class FeatureMove(TypedDict):
    feature: str
    psi: float


class DriftEvent(TypedDict):
    """``publish_drift``: the drift asset event's extra, what a consumer DAG reads."""

    model_name: str
    model_version: str
    data_path: str | None
    data_commit: str | None
    reference_commit: str | None
    n_drifted: int
    features_checked: int
    top_features: list[FeatureMove]
    mlflow_run_id: str | None
