"""Score every candidate and the current champion on the same test snapshot."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_mlops import artifacts
from airflow_mlops.exceptions import MlopsError, UntrustedModelError
from airflow_mlops.operators.base import MlflowOperatorMixin, MlopsBaseOperator, run_identity
from airflow_mlops.record import paths, tag

if TYPE_CHECKING:
    from airflow.sdk import Context
    from mlflow import MlflowClient


#: What TrainCandidateOperator returns: MLflow 3's URI of a logged model (``models:/m-<id>``).
_LOGGED_MODEL_URI = re.compile(r"models:/(m-[0-9a-f]+)")


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

        from airflow_mlops.gates.metrics import mlflow_metric_names

        dag_id, run_id = run_identity(context)
        test = artifacts.read_parquet(self.dataset["test_uri"])
        target = self.dataset["target"]
        features, labels = test.drop(columns=[target]), test[target]
        columns = [spec["column"] for spec in self.slices]
        hook = self.mlflow_hook
        candidates = []
        too_small: dict[str, dict[str, int]] = {}
        names: dict[str, str] = {}
        with hook.session():
            client = hook.get_client()
            for trained in list(self.trained):
                model = mlflow.sklearn.load_model(verified_model_uri(client, trained, dag_id, run_id))
                metrics, too_small = self._metrics(model, features, labels)
                # Slice keys such as recall[segment=n] are not valid MLflow metric names.
                named = mlflow_metric_names(metrics, columns)
                log_metrics(client, trained["mlflow_run_id"], {named[k]: v for k, v in metrics.items()})
                names.update(named)
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
            if self.slices:
                result["slices"] = [{**spec, "too_small": too_small.get(spec["column"], {})} for spec in self.slices]
                result["slice_metric_names"] = {k: v for k, v in sorted(names.items()) if "[" in k}
            client.log_text(parent, json.dumps(result, indent=2), paths.EVALUATION_RESULT)
        return result

    def _metrics(self, model: Any, features: Any, labels: Any) -> tuple[dict[str, float], dict[str, dict[str, int]]]:
        from airflow_mlops.ml.scoring import gate_metrics

        metrics, too_small = gate_metrics(model, features, labels, self.problem, self.slices)
        for column, skipped in too_small.items():
            if skipped:
                self.log.info("Slices of %s too small to judge (rows): %s", column, skipped)
        return metrics, too_small

    def _score_champion(self, features: Any, labels: Any) -> dict[str, Any] | None:
        import mlflow.sklearn

        version = self.mlflow_hook.alias_version(self.model_name, self.alias)
        if version is None:
            self.log.info("No @%s for %s yet: this is the first run", self.alias, self.model_name)
            return None
        uri = f"models:/{self.model_name}/{version.version}"
        try:
            model = mlflow.sklearn.load_model(uri)
            metrics, _ = self._metrics(model, features, labels)
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


def log_metrics(client: MlflowClient, run_id: str, metrics: dict[str, float]) -> None:
    """Log metrics in batches (one round trip per 1000 rather than one per metric)."""
    import time

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    entries = [Metric(key, float(value), now, 0) for key, value in metrics.items()]
    for start in range(0, len(entries), 1000):
        client.log_batch(run_id, metrics=entries[start : start + 1000])


def verified_model_uri(client: MlflowClient, trained: dict[str, Any], dag_id: str, run_id: str) -> str:
    """The candidate's model URI, once MLflow confirms this DAG run's training logged that model.

    Loading a scikit-learn model unpickles it, which runs code. The URI arrives through XCom (or,
    on a retry, from a run tag), so before loading, the URI must name a logged model, that model
    must come from the candidate's own run, and that run must be this DAG run's finished
    training of this candidate. A path, a URL or another run's model is refused unread.
    """
    uri = str(trained.get("model_uri", ""))
    match = _LOGGED_MODEL_URI.fullmatch(uri)
    candidate, source_run = trained.get("candidate"), trained.get("mlflow_run_id")
    if match is None:
        raise UntrustedModelError(
            f"candidate {candidate!r}: refusing to load {uri!r}; only a model logged by this pipeline's "
            "training (models:/m-<id>) is loaded"
        )
    logged = client.get_logged_model(match.group(1))
    run = client.get_run(str(logged.source_run_id)) if logged.source_run_id == source_run else None
    expected = tag.identity(dag_id, run_id, tag.ROLE_CANDIDATE, str(candidate))
    if run is None or run.info.status != "FINISHED" or any(run.data.tags.get(k) != v for k, v in expected.items()):
        raise UntrustedModelError(
            f"candidate {candidate!r}: refusing to load {uri!r}; it was not logged by the finished training run "
            f"of this candidate in {dag_id} {run_id} (its source run is {logged.source_run_id})"
        )
    return uri
