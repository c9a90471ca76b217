"""Score every candidate and the current champion on the same test snapshot."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from airflow_mlops import artifacts
from airflow_mlops.errors import MlopsError
from airflow_mlops.hooks.mlflow import logged_model_id
from airflow_mlops.lineage_events import build as events
from airflow_mlops.observability import emit
from airflow_mlops.operators.base import MlflowBaseOperator, Upstream, run_identity, upstream, upstream_each
from airflow_mlops.record import paths, tag

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_mlops.contracts import (
        ChampionScore,
        DroppedCandidate,
        EvaluatedCandidate,
        Evaluation,
        PreparedDataset,
        TrainedCandidate,
    )
    from airflow_mlops.gates.metrics import Average, Problem
    from airflow_mlops.ml.metrics import Scores


class EvaluateCandidatesOperator(MlflowBaseOperator):
    """Load each logged model back from MLflow and compute the metrics on the test split.

    Loading from MLflow rather than reusing the in-memory model proves that what will be
    registered actually loads and scores. The champion is loaded by version number so the
    gate, the record and the promotion all refer to the same version. Candidates that failed
    to train (dropped) are not scored, only listed; a metric that cannot be computed is listed
    with its reason in ``not_computable`` and never logged to MLflow as a number.
    """

    template_fields: Sequence[str] = ("dataset", "trained")

    def __init__(
        self,
        *,
        dataset: Upstream[PreparedDataset],
        trained: Upstream[Sequence[Upstream[TrainedCandidate]]],
        experiment: str,
        model_name: str,
        alias: str = "champion",
        problem: Problem = "classification",
        average: Average = "macro",
        slices: list[dict[str, Any]] | None = None,
        prediction_rows: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset: PreparedDataset = upstream(dataset)
        self.trained: Sequence[TrainedCandidate] = upstream_each(trained)
        self.experiment = experiment
        self.model_name = model_name
        self.alias = alias
        self.problem: Problem = problem
        self.average: Average = average
        self.slices = slices or []
        #: Record each candidate's predictions on this many test rows, for the serving check's parity.
        self.prediction_rows = prediction_rows

    def execute(self, context: Context) -> Evaluation:
        from airflow_mlops.gates.metrics import mlflow_metric_names
        from airflow_mlops.ml.flavors import load_predictor
        from airflow_mlops.ml.metrics import score_rows
        from airflow_mlops.ml.serving_requests import offline_predictions
        from airflow_mlops.ml.trust import verified_model_uri

        dag_id, run_id = run_identity(context)
        test = artifacts.read_parquet(self.dataset["test_uri"])
        target = self.dataset["target"]
        features, labels = test.drop(columns=[target]), test[target]
        columns = [spec["column"] for spec in self.slices]
        hook = self.mlflow_hook
        candidates: list[EvaluatedCandidate] = []
        dropped: list[DroppedCandidate] = []
        too_small: dict[str, dict[str, int]] = {}
        names: dict[str, str] = {}
        with hook.session():
            client = hook.get_client()
            for trained in list(self.trained):
                if trained.get("dropped"):
                    error = str(trained.get("error") or "failed to train")
                    self.log.warning("Candidate %s was dropped, not scored: %s", trained["candidate"], error)
                    dropped.append(
                        {"candidate": trained["candidate"], "error": error, "mlflow_run_id": trained["mlflow_run_id"]}
                    )
                    continue
                model = load_predictor(verified_model_uri(client, trained, dag_id, run_id))
                scores = score_rows(model, features, self.problem)
                metrics, too_small, missing = self._metrics(model, features, labels, scores)
                # Slice keys such as recall[segment=n] are not valid MLflow metric names.
                named = mlflow_metric_names([*metrics, *missing], columns)
                hook.log_batch(
                    trained["mlflow_run_id"],
                    metrics={named[k]: v for k, v in metrics.items()},
                    tags={tag.NOT_COMPUTABLE: tag.clip(not_computable_text(missing))} if missing else None,
                )
                names.update(named)
                if self.prediction_rows:
                    record = offline_predictions(scores.predictions, self.prediction_rows)
                    hook.log_json(trained["mlflow_run_id"], record, paths.OFFLINE_PREDICTIONS)
                evaluated = cast("EvaluatedCandidate", {**trained, "metrics": metrics})
                if missing:
                    evaluated["not_computable"] = missing
                    self.log.warning("Candidate %s: not computable: %s", trained["candidate"], missing)
                candidates.append(evaluated)
                self.log.info("Candidate %s on %d test rows: %s", trained["candidate"], len(test), metrics)
            champion = self._score_champion(features, labels)
            experiment_id = hook.get_or_create_experiment(self.experiment)
            parent = hook.get_or_create_pipeline_run(experiment_id, dag_id, run_id)
            result: Evaluation = {
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
            if dropped:
                result["dropped"] = dropped
            if self.problem == "classification":
                from airflow_mlops.ml.metrics import averaging_text, model_classes

                result["average"] = self.average
                result["averaging"] = averaging_text(model_classes(None, labels), self.average)
            hook.log_json(parent, result, paths.EVALUATION_RESULT)
        self.lineage_report = events.evaluation(result)
        return result

    def _metrics(
        self, model: Any, features: Any, labels: Any, scores: Scores | None = None
    ) -> tuple[dict[str, float], dict[str, dict[str, int]], dict[str, str]]:
        from airflow_mlops.ml.scoring import gate_metrics

        metrics, too_small, missing = gate_metrics(
            model, features, labels, self.problem, self.slices, self.average, scores=scores
        )
        for column, skipped in too_small.items():
            if skipped:
                self.log.info("Slices of %s too small to judge (rows): %s", column, skipped)
        return metrics, too_small, missing

    def _score_champion(self, features: Any, labels: Any) -> ChampionScore | None:
        from airflow_mlops.ml.flavors import load_predictor

        version = self.mlflow_hook.alias_version(self.model_name, self.alias)
        if version is None:
            self.log.info("No @%s for %s yet: this is the first run", self.alias, self.model_name)
            return None
        uri = f"models:/{self.model_name}/{version.version}"
        try:
            model = load_predictor(uri)
            metrics, _, missing = self._metrics(model, features, labels)
        except Exception as err:
            # A champion that cannot score today's data (e.g. the schema changed) must be
            # looked at by a person; promoting over it silently would hide the break.
            raise MlopsError(
                f"the current @{self.alias} {uri} cannot be scored on this test set: {type(err).__name__}: {err}"
            ) from err
        self.log.info("Champion %s on the same test rows: %s", uri, metrics)
        emit.champion_age(self.model_name, (version.tags or {}).get(tag.PROMOTED_AT))
        score: ChampionScore = {
            "version": str(version.version),
            "run_id": version.run_id,
            "model_uri": uri,
            "metrics": metrics,
        }
        if missing:
            score["not_computable"] = missing
            self.log.warning("Champion %s: not computable: %s", uri, missing)
        # A version made from ``models:/m-<id>`` names its logged model in its source (some stores leave
        # ``model_id`` empty): the gate compares it with the candidates' to find "nothing changed".
        if model_id := version.model_id or logged_model_id(str(version.source or "")):
            score["model_id"] = str(model_id)
        return score


def not_computable_text(missing: dict[str, str]) -> str:
    """``{metric: reason}`` as one line for a tag: ``roc_auc: Input contains NaN.; log_loss: ...``."""
    return "; ".join(f"{metric}: {reason}" for metric, reason in sorted(missing.items()))
