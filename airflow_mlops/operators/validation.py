"""Validate the pinned data with a Great Expectations suite before any training starts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from airflow_mlops.errors import DataValidationError
from airflow_mlops.hooks.snapshot import read_pinned
from airflow_mlops.lineage_events import build as events
from airflow_mlops.links import MlflowRunLink, ValidationReportLink
from airflow_mlops.observability import emit
from airflow_mlops.operators.base import MlflowBaseOperator, Upstream, run_identity, upstream
from airflow_mlops.record import paths, tag

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_mlops.contracts import DataRef, ValidationDigest


class ValidateDataOperator(MlflowBaseOperator):
    """Run the suite; on failure stop the run (``on_failure: fail``) or warn and go on.

    The full GX result is stored as an MLflow artifact of the pipeline run, where auditors
    look; XCom gets only a digest, because XCom is a database column, not a file store.
    """

    operator_extra_links = (ValidationReportLink(), MlflowRunLink())
    template_fields: Sequence[str] = ("data",)

    def __init__(
        self,
        *,
        data: Upstream[DataRef],
        expectations: list[dict[str, Any]],
        experiment: str,
        on_failure: Literal["fail", "warn"] = "fail",
        dvc_conn_id: str = "dvc_default",
        suite_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data: DataRef = upstream(data)
        self.expectations = expectations
        self.suite_name = suite_name
        self.experiment = experiment
        self.on_failure = on_failure
        self.dvc_conn_id = dvc_conn_id

    def execute(self, context: Context) -> ValidationDigest:
        from airflow_mlops.hooks import gx

        dag_id, run_id = run_identity(context)
        frame = read_pinned(self.data, self.dvc_conn_id)
        result = gx.validate_dataframe(frame, self.expectations, suite_name=self.suite_name or f"{dag_id}.validation")
        # Reported on failure too: a failed expectation is what a lineage consumer most needs to see.
        self.lineage_report = events.validation(self.dvc_conn_id, self.data, result, len(frame))
        hook = self.mlflow_hook
        with hook.session():
            experiment_id = hook.get_or_create_experiment(self.experiment)
            parent = hook.get_or_create_pipeline_run(experiment_id, dag_id, run_id)
            hook.log_json(parent, result, paths.VALIDATION_RESULT)
            hook.log_batch(
                parent,
                params={f"data.{key}": self.data[key] for key in ("repo", "path", "rev", "commit", "md5")},
                tags={tag.VALIDATION_SUCCESS: str(result["success"]).lower()},
                metrics={"validation_success_percent": float(result["statistics"]["success_percent"] or 0.0)},
            )
        emit.validation(dag_id, result["statistics"]["success_percent"])
        summary = gx.summarize(result)
        digest: ValidationDigest = {
            "success": summary["success"],
            "suite": summary["suite"],
            "statistics": summary["statistics"],
            "failed": summary["failed"],
            "n_failed": summary["n_failed"],
            "rows": len(frame),
            "artifact": paths.VALIDATION_RESULT,
            "mlflow_run_id": parent,
        }
        stats = digest["statistics"]
        self.log.info(
            "Validation %s: %s/%s expectations passed on %d rows",
            "passed" if digest["success"] else "FAILED",
            stats["successful_expectations"],
            stats["evaluated_expectations"],
            len(frame),
        )
        if not digest["success"]:
            reasons = "; ".join(f"{f['type']}({f.get('column') or ''}): {f['reason']}" for f in digest["failed"])
            if self.on_failure == "fail":
                raise DataValidationError(
                    f"data {self.data['path']}@{self.data['commit'][:12]} failed validation, training will not "
                    f"start: {reasons}"
                )
            self.log.warning("Validation failed but on_failure is 'warn'; continuing: %s", reasons)
        return digest
