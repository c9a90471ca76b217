"""What batch scoring and drift monitoring hand on.

See :mod:`airflow_mlops.contracts`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from airflow_mlops.contracts.data import DataDigest


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
