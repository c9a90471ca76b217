"""Compare new data with the champion's training data, and publish drift as an Airflow asset event."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowSkipException

from airflow_mlops.errors import ConfigurationError, DataValidationError, DataVersionError, DriftInputError
from airflow_mlops.hooks.snapshot import read_pinned
from airflow_mlops.lineage_events import build as events
from airflow_mlops.observability import emit
from airflow_mlops.operators.base import (
    MlflowBaseOperator,
    MlopsBaseOperator,
    Upstream,
    event_extra,
    run_identity,
    upstream,
)
from airflow_mlops.record import paths, tag

if TYPE_CHECKING:
    from airflow.sdk import Context
    from mlflow.entities.model_registry import ModelVersion

    from airflow_mlops.contracts import DataDigest, DataRef, DriftDigest, DriftEvent, DriftSummary

REPORT_ARTIFACT = paths.DRIFT_REPORT
#: XCom is a database column: the digest keeps only this many features; the full report is in MLflow.
DIGEST_FEATURES = 20
#: Asset-event extras are stored on every event row and shown in the UI; keep them short.
EVENT_FEATURES = 10
_METRIC_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /:]")


def training_data_ref(version: ModelVersion) -> DataDigest:
    """The data ref a version was trained on, rebuilt from the lineage tags ``register`` wrote."""
    ref = _ref_digest(tag.unprefixed(tag.DATA_PREFIX, version.tags or {}))
    missing = [tag.data_tag(k) for k in ("repo", "path", "commit") if not ref[k]]
    if missing:
        raise DataVersionError(
            f"model {version.name} version {version.version} has no training-data lineage ({', '.join(missing)} "
            "missing), so there is no reference to compare against; register it through a retraining pipeline"
        )
    return ref


def _ref_digest(ref: Mapping[str, Any]) -> DataDigest:
    """The fields of a data reference that are recorded, None where ``ref`` lacks one."""
    return {
        "repo": ref.get("repo"),
        "path": ref.get("path"),
        "rev": ref.get("rev"),
        "commit": ref.get("commit"),
        "md5": ref.get("md5"),
        # A snapshot (sql or object_storage source) is read from its URI, not through DVC.
        **{key: str(ref[key]) for key in ("source", "uri") if ref.get(key) and ref.get("source") != "dvc"},  # type: ignore[typeddict-item]
    }


def _metric_key(prefix: str, feature: str) -> str:
    return f"{prefix}.{_METRIC_KEY_UNSAFE.sub('_', feature)}"[:250]


class DriftCheckOperator(MlflowBaseOperator):
    """Compare the pinned new data with the data the current ``@alias`` version was trained on.

    The reference is found through the version's lineage tags rather than configured, so the
    comparison follows the champion: after a promotion the monitor compares against the data
    the new champion learned from. Features default to the model's signature inputs, the
    columns that can actually change its predictions.

    With no version behind the alias yet, the task is skipped (there is nothing to drift
    from), and so is ``publish_drift``.
    """

    template_fields: Sequence[str] = ("data",)

    def __init__(
        self,
        *,
        data: Upstream[DataRef],
        model_name: str,
        experiment: str,
        alias: str = "champion",
        features: list[str] | None = None,
        psi_threshold: float = 0.2,
        ks_pvalue: float = 0.01,
        bins: int = 10,
        min_drifted_features: int = 1,
        dvc_conn_id: str = "dvc_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data: DataRef = upstream(data)
        self.model_name = model_name
        self.experiment = experiment
        self.alias = alias
        self.features = features
        self.psi_threshold = psi_threshold
        self.ks_pvalue = ks_pvalue
        self.bins = bins
        self.min_drifted_features = min_drifted_features
        self.dvc_conn_id = dvc_conn_id

    def execute(self, context: Context) -> DriftDigest:
        from airflow_mlops import drift

        dag_id, run_id = run_identity(context)
        hook = self.mlflow_hook
        with hook.session():
            version = hook.alias_version(self.model_name, self.alias)
            if version is None:
                raise AirflowSkipException(
                    f"{self.model_name} has no @{self.alias} yet, so there is no training data to compare against"
                )
            reference_ref = training_data_ref(version)
            features = self.features or self._model_inputs(version)
        self.log.info(
            "Comparing %s@%s with the training data of %s v%s (%s@%s), %d features",
            self.data["path"],
            self.data["commit"][:12],
            self.model_name,
            version.version,
            reference_ref["path"],
            str(reference_ref["commit"])[:12],
            len(features),
        )
        reference = read_pinned(reference_ref, self.dvc_conn_id)
        current = read_pinned(self.data, self.dvc_conn_id)
        try:
            report = drift.compare(
                reference,
                current,
                features,
                psi_threshold=self.psi_threshold,
                ks_pvalue=self.ks_pvalue,
                bins=self.bins,
                min_drifted_features=self.min_drifted_features,
            )
        except DriftInputError as err:
            # The new data lost a column the model needs: no retry will bring it back.
            raise DataValidationError(f"cannot compare {self.data['path']}@{self.data['commit'][:12]}: {err}") from err
        report["model"] = {"name": self.model_name, "alias": self.alias, "version": str(version.version)}
        report["reference"] = _ref_digest(reference_ref)
        report["current"] = _ref_digest(self.data)
        mlflow_run_id = self._record(report, dag_id, run_id)
        summary: DriftSummary = report["summary"]
        emit.drift(dag_id, {name: r["psi"] for name, r in report["features"].items()}, bool(summary["drifted"]))
        self.log.info(
            "%s: %d of %d features drifted (%s)",
            "DRIFT" if summary["drifted"] else "no drift",
            summary["n_drifted"],
            summary["features_checked"],
            ", ".join(summary["drifted_features"][:10]) or "none",
        )
        digest: DriftDigest = {
            "model": report["model"],
            "reference": report["reference"],
            "current": report["current"],
            "summary": {**summary, "drifted_features": summary["drifted_features"][:DIGEST_FEATURES]},
            "top_features": drift.top_features(report, DIGEST_FEATURES),
            "mlflow_run_id": mlflow_run_id,
            "artifact": REPORT_ARTIFACT,
        }
        self.lineage_report = events.drift(self.dvc_conn_id, digest)
        return digest

    def _model_inputs(self, version: ModelVersion) -> list[str]:
        from mlflow.models import get_model_info

        from airflow_mlops.ml.flavors import input_names

        uri = f"models:/{self.model_name}/{version.version}"
        info = get_model_info(uri)
        names = input_names(info.signature, info.metadata)
        if not names:
            raise ConfigurationError(
                f"{uri} has no named input signature to take the features from; list them under 'features'"
            )
        return [str(n) for n in names]

    def _record(self, report: dict[str, Any], dag_id: str, run_id: str) -> str:
        """One MLflow run per DAG run (a retry logs into the same one), with per-feature PSI and the report."""
        summary = report["summary"]
        hook = self.mlflow_hook
        with hook.session():
            experiment_id = hook.get_or_create_experiment(self.experiment)
            mlflow_run_id = hook.get_or_create_run(
                experiment_id,
                tag.identity(dag_id, run_id, tag.ROLE_DRIFT),
                run_name=f"drift {dag_id} {run_id}",
                params={k: summary[k] for k in ("psi_threshold", "ks_pvalue", "bins", "min_drifted_features")},
            )
            metrics = {"n_drifted": float(summary["n_drifted"]), "features_checked": float(summary["features_checked"])}
            for name, result in report["features"].items():
                metrics[_metric_key("psi", name)] = float(result["psi"])
                if result["ks_statistic"] is not None:
                    metrics[_metric_key("ks_statistic", name)] = float(result["ks_statistic"])
            # Tags, not params: a retry after the champion moved must be able to overwrite them.
            record_tags = {
                tag.DRIFT_DRIFTED: str(summary["drifted"]).lower(),
                tag.DRIFT_MODEL_VERSION: report["model"]["version"],
                **tag.prefixed(tag.DRIFT_REFERENCE_PREFIX, report["reference"]),
                **tag.prefixed(tag.DRIFT_CURRENT_PREFIX, report["current"]),
            }
            try:
                hook.log_batch(mlflow_run_id, metrics=metrics, tags=record_tags)
                hook.log_json(mlflow_run_id, report, REPORT_ARTIFACT, sort_keys=True)
            except Exception as err:
                hook.fail_run(mlflow_run_id, f"recording the drift report failed: {type(err).__name__}: {err}")
                raise
            hook.finish_run(mlflow_run_id)
        return mlflow_run_id


class PublishDriftOperator(MlopsBaseOperator):
    """Emit the drift asset event, or skip when the data did not drift.

    Skipping is what makes the event mean "drift": Airflow records an asset event only when
    the task that declares the outlet succeeds, so a retraining DAG scheduled on the asset
    runs after drifted data and never after a clean check.
    """

    template_fields: Sequence[str] = ("report",)

    def __init__(self, *, report: Upstream[DriftDigest], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.report: DriftDigest = upstream(report)

    def execute(self, context: Context) -> DriftEvent:
        summary = self.report["summary"]
        if not summary["drifted"]:
            raise AirflowSkipException(
                f"no drift: {summary['n_drifted']} of {summary['features_checked']} features drifted, "
                f"{summary['min_drifted_features']} needed"
            )
        extra = drift_event_extra(self.report)
        for asset in self.outlets:
            context["outlet_events"][asset].extra = event_extra(extra)
        self.log.info("Drift published for %s v%s: %s", extra["model_name"], extra["model_version"], extra)
        return extra


def drift_event_extra(report: DriftDigest) -> DriftEvent:
    """What a consumer DAG reads from ``triggering_asset_events``: which model, which data, what moved."""
    summary = report["summary"]
    return {
        "model_name": report["model"]["name"],
        "model_version": report["model"]["version"],
        "data_path": report["current"]["path"],
        "data_commit": report["current"]["commit"],
        "reference_commit": report["reference"]["commit"],
        "n_drifted": summary["n_drifted"],
        "features_checked": summary["features_checked"],
        "top_features": [
            {"feature": f["feature"], "psi": round(float(f["psi"]), 4)}
            for f in report["top_features"][:EVENT_FEATURES]
            if f["drifted"]
        ],
        "mlflow_run_id": report.get("mlflow_run_id"),
    }
