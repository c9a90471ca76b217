"""Names of every tag airflow-mlops writes on MLflow runs, model versions and registered models.

The ``mlops.`` namespace keeps the project's tags apart from MLflow's own (``mlflow.*``) and
from a team's. This is the only module that spells a tag name: everything else imports a name from
here, so a renamed tag changes its writer and all its readers at once.
"""

from __future__ import annotations

from collections.abc import Mapping

# --- size limits ----------------------------------------------------------------------------
#: MLflow's SQL stores keep registered-model tag values and version descriptions in VARCHAR(5000)
#: columns (run tags allow 8000, model-version tags are TEXT). sqlite does not enforce it,
#: Postgres and MySQL do, so every tag value and description is cut to the tightest column.
VALUE_MAX_CHARS = 5000
#: A field inside a JSON tag that holds many entries (the promotion history).
FIELD_MAX_CHARS = 200


def clip(value: object, limit: int = VALUE_MAX_CHARS) -> str:
    """``value`` as a tag value no store refuses: a string of at most ``limit`` characters."""
    return str(value)[:limit]


def clip_all(tags: Mapping[str, object]) -> dict[str, str]:
    """Every value of ``tags`` clipped (see :func:`clip`)."""
    return {key: clip(value) for key, value in tags.items()}


# --- identity: which DAG run produced an MLflow object ------------------------------------------
# Retries and re-runs look objects up by these instead of creating duplicates.
DAG_ID = "mlops.dag_id"
RUN_ID = "mlops.run_id"
ROLE = "mlops.role"
CANDIDATE = "mlops.candidate"
ABANDONED = "mlops.abandoned"
#: Why a run ended FAILED (the error an operator stopped on).
FAILURE = "mlops.failure"

#: Values of :data:`ROLE`.
ROLE_PIPELINE = "pipeline"
ROLE_CANDIDATE = "candidate"
ROLE_SCORING = "scoring"
ROLE_DRIFT = "drift"
#: A tuning trial's run, nested under its candidate's run (ml/tuning.py).
ROLE_TRIAL = "trial"

# --- a tuning trial's run ----------------------------------------------------------------------
#: The trial's number in its search, and its whole record as JSON (what a retried task resumes from).
TRIAL_NUMBER = "mlops.trial_number"
TRIAL_RECORD = "mlops.trial"
#: The task instance that ran the trial when a search is spread over workers: ``tune_<candidate>[<worker>]``.
TRIAL_TASK = "mlops.trial_task"

# --- a trained candidate's run -----------------------------------------------------------------
MODEL_URI = "mlops.model_uri"
MODEL_ID = "mlops.model_id"
#: The MLflow flavor the model was logged with (sklearn, xgboost, lightgbm, pytorch, pyfunc; ml/flavors.py).
MODEL_FLAVOR = "mlops.model_flavor"
#: Keys in a logged model's MLmodel metadata: the input columns and classes a tensor signature cannot name.
MODEL_META_COLUMNS = "mlops.feature_columns"
MODEL_META_CLASSES = "mlops.classes"

# --- lineage, on candidate runs and registered versions --------------------------------------------
DATA_PREFIX = "mlops.data."
CODE_PREFIX = "mlops.code."
APPROVAL_PREFIX = "mlops.approval."
#: The fields of a pinned data reference, in the order they are shown.
DATA_FIELDS = ("repo", "path", "rev", "commit", "md5")
#: The fields of a snapshot's lineage, when the data came from a SQL or object-storage source (directly,
#: or through a DVC file an ingestion pipeline wrote): which source, the connection id (never its
#: secret), the query, the row count, where the snapshot is pinned, the object-storage URI read and, for
#: a DVC file, the ingestion run that wrote it (``<dag_id>/<run_id>``).
SNAPSHOT_FIELDS = ("source", "conn_id", "query", "rows", "uri", "source_uri", "ingested_by")
DATA_COMMIT = f"{DATA_PREFIX}commit"
DATA_MD5 = f"{DATA_PREFIX}md5"
DATA_PATH = f"{DATA_PREFIX}path"

#: The data contract a version was trained on: compact JSON, or when too long for a tag, its
#: sha256 (:data:`CONTRACT_SHA256`) and where the full document is (:data:`CONTRACT_URI`).
CONTRACT = "mlops.contract"
CONTRACT_SHA256 = "mlops.contract.sha256"
CONTRACT_URI = "mlops.contract.uri"
#: On the pipeline run: whether the data passed its contract check ("true"/"false").
CONTRACT_PASSED = "mlops.contract.passed"

VALIDATION_SUCCESS = "mlops.validation.success"
VALIDATION_STATISTICS = "mlops.validation.statistics"

GATE_DECISION = "mlops.gate.decision"
GATE_SUMMARY = "mlops.gate.summary"
GATE_VERDICT = "mlops.gate.verdict"
GATE_CANDIDATE = "mlops.gate.candidate"
GATE_CHAMPION_VERSION = "mlops.gate.champion_version"

#: The serving check's outcome ("pass"/"fail") and its one-line reasons, on the pipeline run, the
#: winner's run and (when it passed) the registered version.
SERVING_DECISION = "mlops.serving.decision"
SERVING_SUMMARY = "mlops.serving.summary"

# --- the deploy step's rollout, on the version it deployed (the latest rollout wins) --------------------
#: Every tag of a rollout starts so; they describe one registry's endpoint, so a copy into another
#: environment's registry starts without them (like the promotion audit).
DEPLOY_PREFIX = "mlops.deploy."
#: Where: the target URI, the endpoint's name and URL (when the target gives one), the strategy.
DEPLOY_TARGET = "mlops.deploy.target"
DEPLOY_ENDPOINT = "mlops.deploy.endpoint"
DEPLOY_URL = "mlops.deploy.url"
DEPLOY_STRATEGY = "mlops.deploy.strategy"
#: What happened: "deployed", "rolled_back" (endpoint and alias went back) or "failed" (kept serving, task failed).
DEPLOY_DECISION = "mlops.deploy.decision"
DEPLOY_SUMMARY = "mlops.deploy.summary"
DEPLOY_AT = "mlops.deploy.at"
DEPLOY_BY = "mlops.deploy.by"
#: The smoke check's verdict as JSON (requests, failed, error rate, p95, limits, breaches).
DEPLOY_SMOKE = "mlops.deploy.smoke"
#: The bake's verdict as JSON: the live error rate and p95 of the new version, its live predictions
#: against the offline ones, the limits, the breaches, how long it was watched (airflow_mlops/deploy/bake.py).
DEPLOY_BAKE = "mlops.deploy.bake"
#: What a breach (or a failed rollout) rolled back, as JSON: the reason, the endpoint's and the alias's moves.
DEPLOY_ROLLBACK = "mlops.deploy.rollback"
#: The error a rollout that failed before its bake raised (type: message), clipped.
DEPLOY_ERROR = "mlops.deploy.error"


class DeployDecision:
    """Values of :data:`DEPLOY_DECISION`."""

    DEPLOYED = "deployed"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"


TRAINING_ESTIMATOR = "mlops.training.estimator"
TRAINING_PARAMS = "mlops.training.params"
TRAINING_PREPROCESSING = "mlops.training.preprocessing"
TRAINING_RUN_ID = "mlops.training.run_id"
METRICS = "mlops.metrics"
#: On a candidate run: the metrics that could not be computed on the test set, ``metric: reason; ...``.
NOT_COMPUTABLE = "mlops.metrics.not_computable"

# --- promotion audit, on model versions and the registered model ----------------------------------
PROMOTED_AT = "mlops.promoted_at"
PROMOTED_BY = "mlops.promoted_by"
PROMOTED_FROM = "mlops.promoted_from"
PROMOTION_REASON = "mlops.promotion_reason"
PROMOTION_FORCED = "mlops.promotion_forced"
PROMOTION_ACTION = "mlops.promotion_action"
DEMOTED_AT = "mlops.demoted_at"
DEMOTED_BY = "mlops.demoted_by"
PROMOTION_HISTORY = "mlops.promotion_history"

#: The promotion audit above describes one registry's alias moves; a copy into another registry starts without it.
PROMOTION_AUDIT = (
    PROMOTED_AT, PROMOTED_BY, PROMOTED_FROM, PROMOTION_REASON, PROMOTION_FORCED, PROMOTION_ACTION, DEMOTED_AT,
    DEMOTED_BY,
)  # fmt: skip

# --- environments: a version copied from another environment's registry ---------------------------
ENV_PREFIX = "mlops.env."
#: The environment this version now lives in, and where it was copied from (so lineage can follow it back).
ENV_NAME = "mlops.env.name"
ENV_SOURCE_NAME = "mlops.env.source.name"
ENV_SOURCE_CONN_ID = "mlops.env.source.conn_id"
ENV_SOURCE_REGISTRY = "mlops.env.source.registry_uri"
ENV_SOURCE_MODEL = "mlops.env.source.model"
ENV_SOURCE_VERSION = "mlops.env.source.version"
ENV_SOURCE_RUN_ID = "mlops.env.source.run_id"
ENV_COPIED_AT = "mlops.env.copied_at"
ENV_COPIED_BY = "mlops.env.copied_by"
#: The re-gate on this environment's own holdout data (its DVC pin) against its own champion.
ENV_GATE_DECISION = "mlops.env.gate.decision"
ENV_GATE_SUMMARY = "mlops.env.gate.summary"
ENV_GATE_VERDICT = "mlops.env.gate.verdict"
ENV_GATE_CHAMPION_VERSION = "mlops.env.gate.champion_version"
ENV_GATE_FORCED = "mlops.env.gate.forced"
ENV_DATA_PREFIX = "mlops.env.data."
#: The approval this environment's policy asked for: decision, by, at, reason.
ENV_APPROVAL_PREFIX = "mlops.env.approval."
#: On a registered model that is an environment's: its policy as JSON, checked by every promotion into it.
ENV_POLICY = "mlops.env.policy"
#: On a source version: one tag per environment it was copied into (``<model> v<version> at <time>``).
ENV_EXPORTED_PREFIX = "mlops.env.exported."
#: The experiment in a target registry that holds the runs copied versions are created from.
ENV_COPY_EXPERIMENT = "mlops.environment-copies"


def exported_tag(environment: str) -> str:
    """The tag on a source version that says it was copied into ``environment``."""
    return f"{ENV_EXPORTED_PREFIX}{environment}"


# --- the promotion lock (a registered model of its own) -------------------------------------------
LOCK_HOLDER = "mlops.lock.holder"
LOCK_TOKEN = "mlops.lock.token"
LOCK_EXPIRES = "mlops.lock.expires"
LOCK_OWNER = "mlops.lock.owner"
LOCK_ATTEMPT = "mlops.lock.attempt"
#: Suffix of the registered model that serves as a model's promotion lock.
LOCK_MODEL_SUFFIX = ".mlops-promotion-lock"

# --- batch scoring and drift runs ---------------------------------------------------------------
PREDICTIONS_URI = "mlops.predictions.uri"
PREDICTIONS_PROBA = "mlops.predictions.proba"
DRIFT_DRIFTED = "mlops.drift.drifted"
DRIFT_MODEL_VERSION = "mlops.drift.model_version"
DRIFT_REFERENCE_PREFIX = "mlops.drift.reference."
DRIFT_CURRENT_PREFIX = "mlops.drift.current."


def data_tag(field: str) -> str:
    """The tag of one field of a pinned data reference (``repo``, ``path``, ``rev``, ``commit``, ``md5``)."""
    return f"{DATA_PREFIX}{field}"


def prefixed(prefix: str, values: Mapping[str, object]) -> dict[str, str]:
    """``values`` under ``prefix`` (e.g. code lineage under :data:`CODE_PREFIX`), clipped."""
    return {f"{prefix}{key}": clip(value) for key, value in values.items()}


def unprefixed(prefix: str, tags: Mapping[str, str]) -> dict[str, str]:
    """The tags under ``prefix``, keyed without it, sorted by key."""
    return {key.removeprefix(prefix): value for key, value in sorted(tags.items()) if key.startswith(prefix)}


def identity(dag_id: str, run_id: str, role: str | None = None, candidate: str | None = None) -> dict[str, str]:
    """The identity tags of an MLflow object made by one DAG run (optionally its role and candidate)."""
    tags = {DAG_ID: dag_id, RUN_ID: run_id}
    if role is not None:
        tags[ROLE] = role
    if candidate is not None:
        tags[CANDIDATE] = candidate
    return tags


# --- step caching (record/cache.py) --------------------------------------------------------------
#: On the run holding a step's reusable result: the digest of the key it was computed under.
CACHE_KEY_PREFIX = "mlops.cache.key."
#: On a DAG run's pipeline run: one step's cache outcome as JSON (reused from where, or why not).
CACHE_OUTCOME_PREFIX = "mlops.cache.outcome."
#: On a candidate run whose model an earlier DAG run trained: that earlier candidate run, and its DAG run.
CACHE_SOURCE_RUN = "mlops.cache.source_run"
CACHE_SOURCE_DAG_RUN = "mlops.cache.source_dag_run"


def cache_key(step: str) -> str:
    """The tag a step's result is filed under: ``mlops.cache.key.train.forest``."""
    return f"{CACHE_KEY_PREFIX}{step}"


def cache_outcome(step: str) -> str:
    return f"{CACHE_OUTCOME_PREFIX}{step}"


# --- Airflow asset names ------------------------------------------------------------------------
def champion_asset_name(model_name: str) -> str:
    return f"mlops.champion.{model_name}"


def drift_asset_name(model_name: str) -> str:
    return f"mlops.drift.{model_name}"


def data_asset_name(dvc_conn_id: str, path: str) -> str:
    return f"mlops.data.{dvc_conn_id}.{path}"


def predictions_asset_name(pipeline: str) -> str:
    return f"mlops.predictions.{pipeline}"
