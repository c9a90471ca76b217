"""Score every candidate and the current champion on the same test snapshot."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from airflow_mlops import artifacts
from airflow_mlops.errors import MlopsError
from airflow_mlops.hooks.mlflow import logged_model_id
from airflow_mlops.hooks.mlflow_runs import filter_literal
from airflow_mlops.hooks.step_cache import StepCache, model_intact
from airflow_mlops.lineage_events import build as events
from airflow_mlops.observability import emit
from airflow_mlops.operators.base import (
    MlflowBaseOperator,
    Upstream,
    look_up,
    run_identity,
    upstream,
    upstream_each,
)
from airflow_mlops.record import paths, tag
from airflow_mlops.record.cache import CacheOutcome, StepKey

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
    from airflow_mlops.hooks.step_cache import Verify

#: The code a model's scores depend on, besides the model itself: the reads, the metrics, the loading.
SCORING_LIBRARIES = ("airflow-mlops", "scikit-learn", "numpy", "pandas", "scipy", "mlflow", "skops")
#: The step scores are keyed under, whichever model: a candidate's model and the champion version
#: registered from it share their scores. Outcomes are noted per model (``evaluate.<candidate>``,
#: ``evaluate.champion``).
SCORE_STEP = "evaluate"


@dataclass
class _Scoring:
    """What every model scored in one ``execute`` shares: the record's ids, the run, the test rows.

    ``where`` is (experiment id, pipeline run id, dag id, run id). ``outcomes`` collects each
    model's cache outcome, noted on the pipeline run in one write when scoring ends.
    """

    where: tuple[str, str, str, str]
    context: Context
    features: Any
    labels: Any
    outcomes: list[CacheOutcome] = field(default_factory=list)


class EvaluateCandidatesOperator(MlflowBaseOperator):
    """Load each logged model back from MLflow and compute the metrics on the test split.

    Loading from MLflow rather than reusing the in-memory model proves that what will be
    registered actually loads and scores. The champion is loaded by version number so the
    gate, the record and the promotion all refer to the same version. Candidates that failed
    to train (dropped) are not scored, only listed; a metric that cannot be computed is listed
    with its reason in ``not_computable`` and never logged to MLflow as a number.

    With ``cache``, a model's scores are reused when an earlier DAG run of this DAG scored the
    same logged model on a test split with the same md5, with the same metric settings and
    library versions (:func:`look_up`): the model is then not loaded. The trust check runs
    either way, and the scores are written to this run's record as computed ones would be.
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
        cache: bool = True,
        cache_expire_after_seconds: float | None = None,
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
        self.cache = cache
        self.cache_expire_after_seconds = cache_expire_after_seconds

    def execute(self, context: Context) -> Evaluation:
        dag_id, run_id = run_identity(context)
        test = artifacts.read_parquet(self.dataset["test_uri"])
        target = self.dataset["target"]
        hook = self.mlflow_hook
        with hook.session():
            record = hook.pipeline_record(self.experiment, dag_id, run_id, self.dataset.get("record"))
            experiment_id, parent = record["experiment_id"], record["pipeline_run_id"]
            where = (experiment_id, parent, dag_id, run_id)
            scoring = _Scoring(where, context, test.drop(columns=[target]), test[target])
            try:
                candidates, dropped, too_small, names = self._score_candidates(scoring)
                champion = self._score_champion(scoring)
            finally:
                if scoring.outcomes:
                    StepCache(hook, experiment_id, dag_id, run_id).note(parent, *scoring.outcomes)
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
                result["averaging"] = averaging_text(model_classes(None, scoring.labels), self.average)
            hook.log_json(parent, result, paths.EVALUATION_RESULT)
        self.lineage_report = events.evaluation(result, {o.step: o.record() for o in scoring.outcomes})
        return result

    def _score_candidates(
        self, scoring: _Scoring
    ) -> tuple[list[EvaluatedCandidate], list[DroppedCandidate], dict[str, dict[str, int]], dict[str, str]]:
        """Each trained candidate scored (or listed as dropped), its metrics and predictions on its own run.

        Also returns the slices too small to judge and the MLflow names of the metrics.
        """
        from airflow_mlops.gates.metrics import mlflow_metric_names
        from airflow_mlops.ml.trust import verified_model_uri

        hook = self.mlflow_hook
        client = hook.get_client()
        _, _, dag_id, run_id = scoring.where
        columns = [spec["column"] for spec in self.slices]
        candidates: list[EvaluatedCandidate] = []
        dropped: list[DroppedCandidate] = []
        too_small: dict[str, dict[str, int]] = {}
        names: dict[str, str] = {}
        for trained in list(self.trained):
            if trained.get("dropped"):
                error = str(trained.get("error") or "failed to train")
                self.log.warning("Candidate %s was dropped, not scored: %s", trained["candidate"], error)
                dropped.append(
                    {"candidate": trained["candidate"], "error": error, "mlflow_run_id": trained["mlflow_run_id"]}
                )
                continue
            uri = verified_model_uri(client, trained, dag_id, run_id)
            scored = self._score(
                scoring, uri, trained["mlflow_run_id"], predictions=True,
                label=f"{SCORE_STEP}.{trained['candidate']}",
                like=f"tags.`{tag.CANDIDATE}` = {filter_literal(str(trained['candidate']))}",
            )  # fmt: skip
            metrics, too_small, missing = scored["metrics"], scored["too_small"], scored["missing"]
            # Slice keys such as recall[segment=n] are not valid MLflow metric names.
            named = mlflow_metric_names([*metrics, *missing], columns)
            hook.log_batch(
                trained["mlflow_run_id"],
                metrics={named[k]: v for k, v in metrics.items()},
                tags={tag.NOT_COMPUTABLE: tag.clip(not_computable_text(missing))} if missing else None,
            )
            names.update(named)
            if scored.get("predictions") is not None:
                hook.log_json(trained["mlflow_run_id"], scored["predictions"], paths.OFFLINE_PREDICTIONS)
            evaluated = cast("EvaluatedCandidate", {**trained, "metrics": metrics})
            if missing:
                evaluated["not_computable"] = missing
                self.log.warning("Candidate %s: not computable: %s", trained["candidate"], missing)
            candidates.append(evaluated)
            self.log.info("Candidate %s on %d test rows: %s", trained["candidate"], len(scoring.labels), metrics)
        return candidates, dropped, too_small, names

    def _score_champion(self, scoring: _Scoring) -> ChampionScore | None:
        version = self.mlflow_hook.alias_version(self.model_name, self.alias)
        if version is None:
            self.log.info("No @%s for %s yet: this is the first run", self.alias, self.model_name)
            return None
        uri = f"models:/{self.model_name}/{version.version}"
        # A version made from ``models:/m-<id>`` names its logged model in its source (some stores leave
        # ``model_id`` empty): the gate compares it with the candidates' to find "nothing changed", and
        # the scores of that logged model are what the cache files.
        model_id = version.model_id or logged_model_id(str(version.source or ""))
        try:
            scored = self._score(
                scoring, uri, scoring.where[1], model_id=model_id, label=f"{SCORE_STEP}.champion",
                like=f"tags.`{tag.ROLE}` = {filter_literal(tag.ROLE_PIPELINE)}",
            )  # fmt: skip
        except Exception as err:
            # A champion that cannot score today's data (e.g. the schema changed) must be
            # looked at by a person; promoting over it silently would hide the break.
            raise MlopsError(
                f"the current @{self.alias} {uri} cannot be scored on this test set: {type(err).__name__}: {err}"
            ) from err
        metrics, missing = scored["metrics"], scored["missing"]
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
        if model_id:
            score["model_id"] = str(model_id)
        return score

    def score_key(self, model: str) -> StepKey | None:
        """The model scored, the test split's bytes, the metric settings and the scoring code; None without an md5."""
        from airflow_mlops.ml.code_versions import library_versions

        test_md5 = self.dataset.get("test_md5")
        if not test_md5:
            return None
        return StepKey(
            step=SCORE_STEP,
            inputs={"model": model, "test_split_md5": str(test_md5)},
            spec={
                "problem": self.problem,
                "average": self.average,
                "slices": self.slices,
                "prediction_rows": self.prediction_rows,
            },
            versions=library_versions(SCORING_LIBRARIES),
        )

    def _score(
        self,
        scoring: _Scoring,
        uri: str,
        file_on: str,
        *,
        label: str,
        like: str,
        model_id: str | None = None,
        predictions: bool = False,
    ) -> dict[str, Any]:
        """``{metrics, too_small, missing, predictions}`` of the model at ``uri``: reused, or loaded and computed.

        ``label`` is what the outcome is noted as, ``like`` the filter of the earlier results a miss
        is compared with (the same candidate's; the champions'). ``file_on`` is the MLflow run the
        scores are filed on for later runs (the candidate's, or the pipeline run for the champion).
        The model is named by its logged model when it has one, so a version and the candidate it
        was registered from share their scores.
        """
        model = model_id or logged_model_id(uri) or uri
        key = self.score_key(model) if self.cache else None
        cache = None
        if key is not None:
            cache, outcome = look_up(
                self.mlflow_hook, scoring.where, key, context=scoring.context,
                expire_after_seconds=self.cache_expire_after_seconds, verify=self._reusable(model),
                label=label, like=like, note=False,
            )  # fmt: skip
            scoring.outcomes.append(outcome)
            self.log.info("Cache for %s: %s", label, outcome.summary())
            if outcome.hit and outcome.result is not None:
                return dict(outcome.result)
        scored = self._compute(uri, scoring.features, scoring.labels, predictions and self.prediction_rows > 0)
        if cache is not None and key is not None:
            cache.store(file_on, key, scored)
        return scored

    def _reusable(self, model: str) -> Verify:
        """Filed scores are reused only while they are whole and the model they score is still in the store.

        Not loading a model must not hide that it is gone: a champion whose model was deleted
        is then scored, and fails as it always did, rather than judged on its old scores.
        """
        intact = model_intact(self.mlflow_hook)

        def problem(entry: Mapping[str, Any]) -> str | None:
            return _scores_intact(entry) or intact({"model_uri": f"models:/{model}"})

        return problem

    def _compute(self, uri: str, features: Any, labels: Any, predictions: bool) -> dict[str, Any]:
        """Load the model and score it: its metrics and, for the serving check, its first predictions."""
        from airflow_mlops.ml.flavors import load_predictor
        from airflow_mlops.ml.metrics import score_rows
        from airflow_mlops.ml.scoring import gate_metrics
        from airflow_mlops.ml.serving_requests import offline_predictions

        model = load_predictor(uri)
        scores = score_rows(model, features, self.problem)
        metrics, too_small, missing = gate_metrics(
            model, features, labels, self.problem, self.slices, self.average, scores=scores
        )
        for column, skipped in too_small.items():
            if skipped:
                self.log.info("Slices of %s too small to judge (rows): %s", column, skipped)
        head = offline_predictions(scores.predictions, self.prediction_rows) if predictions else None
        return {"metrics": metrics, "too_small": too_small, "missing": missing, "predictions": head}


def _scores_intact(entry: Mapping[str, Any]) -> str | None:
    """Filed scores are usable when they hold the metrics and what could not be computed."""
    if not isinstance(entry.get("metrics"), dict) or not isinstance(entry.get("missing"), dict):
        return "its filed scores hold no metrics"
    if not isinstance(entry.get("too_small"), dict):
        return "its filed scores do not say which slices were too small"
    return None


def not_computable_text(missing: dict[str, str]) -> str:
    """``{metric: reason}`` as one line for a tag: ``roc_auc: Input contains NaN.; log_loss: ...``."""
    return "; ".join(f"{metric}: {reason}" for metric, reason in sorted(missing.items()))
