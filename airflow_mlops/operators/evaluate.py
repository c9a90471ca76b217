"""Score every candidate and the current champion on the same test snapshot."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_mlops import artifacts
from airflow_mlops.exceptions import MlopsError
from airflow_mlops.operators.base import MlflowOperatorMixin, MlopsBaseOperator, run_identity

if TYPE_CHECKING:
    from airflow.sdk import Context


class EvaluateCandidatesOperator(MlflowOperatorMixin, MlopsBaseOperator):
    """Load each logged model back from MLflow and compute the metrics on the test split.

    Loading from MLflow rather than reusing the in-memory model proves that what will be
    registered actually loads and scores. The champion is loaded by version number so the
    gate, the record and the promotion all refer to the same version.
    """

    template_fields: Sequence[str] = ("dataset", "trained")

    def __init__(
        self,
        *,
        dataset: Any,
        trained: Any,
        experiment: str,
        model_name: str,
        alias: str = "champion",
        problem: str = "classification",
        slices: list[dict[str, Any]] | None = None,
        mlflow_conn_id: str = "mlflow_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.trained = trained
        self.experiment = experiment
        self.model_name = model_name
        self.alias = alias
        self.problem = problem
        self.slices = slices or []
        self.mlflow_conn_id = mlflow_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        import mlflow.sklearn

        dag_id, run_id = run_identity(context)
        test = artifacts.read_parquet(self.dataset["test_uri"])
        target = self.dataset["target"]
        features, labels = test.drop(columns=[target]), test[target]
        hook = self.mlflow_hook
        candidates = []
        with hook.session():
            client = hook.get_client()
            for trained in list(self.trained):
                model = mlflow.sklearn.load_model(trained["model_uri"])
                metrics = self._metrics(model, features, labels)
                for key, value in metrics.items():
                    client.log_metric(trained["mlflow_run_id"], f"test_{key}", value)
                candidates.append({**trained, "metrics": metrics})
                self.log.info("Candidate %s on %d test rows: %s", trained["candidate"], len(test), metrics)
            champion = self._score_champion(features, labels)
            experiment_id = hook.get_or_create_experiment(self.experiment)
            parent = hook.get_or_create_pipeline_run(experiment_id, dag_id, run_id)
            result = {
                "n_test": len(test),
                "test_uri": self.dataset["test_uri"],
                "candidates": candidates,
                "champion": champion,
                "model_name": self.model_name,
                "mlflow_run_id": parent,
            }
            client.log_text(parent, json.dumps(result, indent=2), "evaluation/result.json")
        return result

    def _metrics(self, model: Any, features: Any, labels: Any) -> dict[str, float]:
        """Whole-test-set metrics plus, for slice rules, the same metrics on every slice."""
        from airflow_mlops.ml.metrics import compute_metrics, compute_slice_metrics

        metrics = compute_metrics(model, features, labels, self.problem)  # type: ignore[arg-type]
        for spec in self.slices:
            sliced, skipped = compute_slice_metrics(
                model,
                features,
                labels,
                self.problem,  # type: ignore[arg-type]
                spec["column"],
                int(spec.get("min_rows", 10)),
            )
            metrics.update(sliced)
            if skipped:
                self.log.info("Slices of %s too small to judge (rows): %s", spec["column"], skipped)
        return metrics

    def _score_champion(self, features: Any, labels: Any) -> dict[str, Any] | None:
        import mlflow.sklearn

        version = self.mlflow_hook.alias_version(self.model_name, self.alias)
        if version is None:
            self.log.info("No @%s for %s yet: this is the first run", self.alias, self.model_name)
            return None
        uri = f"models:/{self.model_name}/{version.version}"
        try:
            model = mlflow.sklearn.load_model(uri)
            metrics = self._metrics(model, features, labels)
        except Exception as err:
            # A champion that cannot score today's data (e.g. the schema changed) must be
            # looked at by a person; promoting over it silently would hide the break.
            raise MlopsError(
                f"the current @{self.alias} {uri} cannot be scored on this test set: {type(err).__name__}: {err}"
            ) from err
        self.log.info("Champion %s on the same test rows: %s", uri, metrics)
        return {
            "version": str(version.version),
            "run_id": version.run_id,
            "model_uri": uri,
            "metrics": metrics,
        }
