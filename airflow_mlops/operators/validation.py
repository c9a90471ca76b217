"""Validate the pinned data with a Great Expectations suite before any training starts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_mlops.exceptions import DataValidationError
from airflow_mlops.hooks.dvc import DvcHook
from airflow_mlops.links import MlflowRunLink, ValidationReportLink
from airflow_mlops.operators.base import MlflowOperatorMixin, MlopsBaseOperator, run_identity
from airflow_mlops.record import paths, tag

if TYPE_CHECKING:
    from airflow.sdk import Context


class ValidateDataOperator(MlflowOperatorMixin, MlopsBaseOperator):
    """Run the suite; on failure stop the run (``on_failure: fail``) or warn and go on.

    The full GX result is stored as an MLflow artifact of the pipeline run, where auditors
    look; XCom gets only a digest, because XCom is a database column, not a file store.
    """

    operator_extra_links = (ValidationReportLink(), MlflowRunLink())
    template_fields: Sequence[str] = ("data",)

    def __init__(
        self,
        *,
        data: Any,
        expectations: list[dict[str, Any]],
        experiment: str,
        on_failure: str = "fail",
        mlflow_conn_id: str = "mlflow_default",
        dvc_conn_id: str = "dvc_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data = data
        self.expectations = expectations
        self.experiment = experiment
        self.on_failure = on_failure
        self.mlflow_conn_id = mlflow_conn_id
        self.dvc_conn_id = dvc_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_mlops.hooks import gx

        dag_id, run_id = run_identity(context)
        frame = DvcHook(dvc_conn_id=self.dvc_conn_id, repo=self.data["repo"]).read_dataframe(self.data)
        result = gx.validate_dataframe(frame, self.expectations, suite_name=f"{dag_id}.validation")
        summary = gx.summarize(result)
        hook = self.mlflow_hook
        with hook.session():
            experiment_id = hook.get_or_create_experiment(self.experiment)
            parent = hook.get_or_create_pipeline_run(experiment_id, dag_id, run_id)
            client = hook.get_client()
            client.log_text(parent, json.dumps(result, indent=2, default=str), paths.VALIDATION_RESULT)
            for key, value in {
                "data.repo": self.data["repo"],
                "data.path": self.data["path"],
                "data.rev": self.data["rev"],
                "data.commit": self.data["commit"],
                "data.md5": self.data["md5"],
            }.items():
                client.log_param(parent, key, value)
            client.set_tag(parent, tag.VALIDATION_SUCCESS, str(result["success"]).lower())
            stats = result["statistics"]
            client.log_metric(parent, "validation_success_percent", float(stats["success_percent"] or 0.0))
        summary["rows"] = len(frame)
        summary["artifact"] = paths.VALIDATION_RESULT
        summary["mlflow_run_id"] = parent
        stats = summary["statistics"]
        self.log.info(
            "Validation %s: %s/%s expectations passed on %d rows",
            "passed" if summary["success"] else "FAILED",
            stats["successful_expectations"],
            stats["evaluated_expectations"],
            len(frame),
        )
        if not summary["success"]:
            reasons = "; ".join(f"{f['type']}({f.get('column') or ''}): {f['reason']}" for f in summary["failed"])
            if self.on_failure == "fail":
                raise DataValidationError(
                    f"data {self.data['path']}@{self.data['commit'][:12]} failed validation, training will not "
                    f"start: {reasons}"
                )
            self.log.warning("Validation failed but on_failure is 'warn'; continuing: %s", reasons)
        return summary
