"""Validate the pinned data with a Great Expectations suite before any training starts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from airflow_mlops.errors import DataValidationError
from airflow_mlops.hooks.snapshot import read_pinned
from airflow_mlops.hooks.step_cache import outcome_tags
from airflow_mlops.lineage_events import build as events
from airflow_mlops.links import MlflowRunLink, ValidationReportLink
from airflow_mlops.observability import emit
from airflow_mlops.operators.base import MlflowBaseOperator, Upstream, look_up, run_identity, upstream
from airflow_mlops.record import paths, tag
from airflow_mlops.record.cache import StepKey

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_mlops.contracts import DataRef, ValidationDigest
    from airflow_mlops.record.cache import CacheOutcome

#: The code a validation result depends on: how the file is read and how the suite is run.
VALIDATION_LIBRARIES = ("airflow-mlops", "great-expectations", "pandas", "numpy")


class ValidateDataOperator(MlflowBaseOperator):
    """Run the suite; on failure stop the run (``on_failure: fail``) or warn and go on.

    The full GX result is stored as an MLflow artifact of the pipeline run, where auditors
    look; XCom gets only a digest, because XCom is a database column, not a file store.

    With ``cache``, the result an earlier DAG run of this DAG got for the same bytes (md5), the
    same suite and the same library versions is reused (:func:`look_up`): the data is not read
    and GX not imported, and the run records the result as its own, with where it came from.
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
        cache: bool = True,
        cache_expire_after_seconds: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data: DataRef = upstream(data)
        self.expectations = expectations
        self.suite_name = suite_name
        self.experiment = experiment
        self.on_failure = on_failure
        self.dvc_conn_id = dvc_conn_id
        self.cache = cache
        self.cache_expire_after_seconds = cache_expire_after_seconds

    def execute(self, context: Context) -> ValidationDigest:
        from airflow_mlops.hooks.gx import summarize

        dag_id, run_id = run_identity(context)
        hook = self.mlflow_hook
        with hook.session():
            experiment_id = hook.get_or_create_experiment(self.experiment)
            parent = hook.get_or_create_pipeline_run(experiment_id, dag_id, run_id)
            result, rows, outcome = self._validate_or_reuse(context, (experiment_id, parent, dag_id, run_id))
            hook.log_json(parent, result, paths.VALIDATION_RESULT)
            # a hit's outcome is noted with the record (a miss was noted before the work, which may fail)
            noted = outcome_tags(outcome) if outcome is not None and outcome.hit else {}
            hook.log_batch(
                parent,
                params={f"data.{key}": self.data[key] for key in ("repo", "path", "rev", "commit", "md5")},
                tags={tag.VALIDATION_SUCCESS: str(result["success"]).lower(), **noted},
                metrics={"validation_success_percent": float(result["statistics"]["success_percent"] or 0.0)},
            )
        # Reported on failure too: a failed expectation is what a lineage consumer most needs to see.
        cache = outcome.record() if outcome is not None else None
        self.lineage_report = events.validation(self.dvc_conn_id, self.data, result, rows, cache)
        emit.validation(dag_id, result["statistics"]["success_percent"])
        summary = summarize(result)
        digest: ValidationDigest = {
            "success": summary["success"],
            "suite": summary["suite"],
            "statistics": summary["statistics"],
            "failed": summary["failed"],
            "n_failed": summary["n_failed"],
            "rows": rows,
            "artifact": paths.VALIDATION_RESULT,
            "mlflow_run_id": parent,
        }
        stats = digest["statistics"]
        self.log.info(
            "Validation %s: %s/%s expectations passed on %d rows",
            "passed" if digest["success"] else "FAILED",
            stats["successful_expectations"],
            stats["evaluated_expectations"],
            rows,
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

    def cache_key(self, dag_id: str) -> StepKey:
        """The file's bytes (md5), the suite and the code that reads and checks them.

        Not the commit: a commit that leaves this file's bytes alone validates them the same way.
        """
        from airflow_mlops.ml.code_versions import library_versions

        return StepKey(
            step="validate_data",
            inputs={"data_md5": str(self.data["md5"])},
            spec={"expectations": self.expectations, "suite_name": self._suite(dag_id)},
            versions=library_versions(VALIDATION_LIBRARIES),
        )

    def _suite(self, dag_id: str) -> str:
        return self.suite_name or f"{dag_id}.validation"

    def _validate_or_reuse(
        self, context: Context, where: tuple[str, str, str, str]
    ) -> tuple[dict[str, Any], int, CacheOutcome | None]:
        """(the full GX result, the rows checked, the cache outcome or None when caching is off)."""
        _, parent, dag_id, _ = where
        key = self.cache_key(dag_id)
        cache = outcome = None
        if self.cache:
            cache, outcome = look_up(
                self.mlflow_hook, where, key, context=context, expire_after_seconds=self.cache_expire_after_seconds,
                verify=_gx_result, note=False,
            )  # fmt: skip
            self.log.info("Cache: %s", outcome.summary())
            if outcome.hit and outcome.result is not None:
                return dict(outcome.result["gx_result"]), int(outcome.result["rows"]), outcome
            cache.note(parent, outcome)
        from airflow_mlops.hooks import gx
        from airflow_mlops.hooks.gx_columns import columns_read

        # only the columns the rules name, when none needs the whole table: the same results, less read
        frame = read_pinned(self.data, self.dvc_conn_id, columns_read(self.expectations))
        result = gx.validate_dataframe(frame, self.expectations, suite_name=self._suite(dag_id))
        if cache is not None:
            # Filed whether or not it passed: the same bytes fail the same suite the same way.
            cache.store(parent, key, {"rows": len(frame), "gx_result": result})
        return result, len(frame), outcome


def _gx_result(entry: Mapping[str, Any]) -> str | None:
    """A filed validation is usable when it holds a GX result with its outcome and statistics."""
    result = entry.get("gx_result")
    if not isinstance(result, dict) or "success" not in result or not isinstance(result.get("statistics"), dict):
        return "its filed result holds no Great Expectations result"
    if not isinstance(entry.get("rows"), int):
        return "its filed result does not say how many rows were checked"
    return None
