"""Train one candidate (mapped: one task instance per candidate) and log it to MLflow."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

from airflow_mlops import artifacts
from airflow_mlops.hooks.step_cache import model_intact
from airflow_mlops.lineage_events import build as events
from airflow_mlops.links import MlflowRunLink
from airflow_mlops.operators.base import CandidateFailed, CandidateOperator, look_up, run_identity
from airflow_mlops.record import tag

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow.sdk import Context

    from airflow_mlops.contracts import TrainedCandidate
    from airflow_mlops.record.cache import CacheOutcome


class TrainCandidateOperator(CandidateOperator):
    """Fit preprocessing + estimator on the train split; log params, metrics and the model.

    A retry finds the candidate's finished MLflow run for this DAG run and returns it
    instead of training (and logging) the same model twice. With a ``tuning`` block in the
    candidate, Optuna searches its params first (operators/tune.py run_search), each trial a
    run nested under the candidate's; a retry takes over the trials an earlier attempt
    finished. With ``tuning.workers`` > 1 the trials were run by the ``tune_<candidate>``
    tasks upstream, and this task only picks the best of them.

    ``on_failure="drop"`` turns a deterministic error of the candidate's own training into a
    result: its MLflow run ends FAILED with the reason and the task returns the candidate
    marked ``dropped``, so the gate picks among the others. Transient errors (see
    :func:`is_transient`) and errors writing to MLflow are raised either way.
    """

    operator_extra_links = (MlflowRunLink(),)

    def execute(self, context: Context) -> TrainedCandidate:
        self._cache_outcome: CacheOutcome | None = None
        result = self._train_or_reuse(context)
        cache = self._cache_outcome.record() if self._cache_outcome is not None else None
        self.lineage_report = events.training(result, self.dataset, cache)
        return result

    def _train_or_reuse(self, context: Context) -> TrainedCandidate:
        dag_id, run_id = run_identity(context)
        name = self.candidate["name"]
        hook = self.mlflow_hook
        with hook.session():
            record = hook.pipeline_record(self.experiment, dag_id, run_id, self.dataset.get("record"))
            experiment_id, parent = record["experiment_id"], record["pipeline_run_id"]
            tags = tag.identity(dag_id, run_id, tag.ROLE_CANDIDATE, name)
            # one search for a retry's earlier work: its finished training, and the runs it abandoned
            earlier = hook.find_runs(experiment_id, tags)
            done = next((run for run in earlier if run.info.status == "FINISHED"), None)
            if done is not None and done.data.tags.get(tag.MODEL_URI):
                self.log.info("Candidate %s already trained in MLflow run %s; reusing it", name, done.info.run_id)
                cv = {k: v for k, v in done.data.metrics.items() if k.startswith("cv_")}
                params = {k[6:]: json.loads(v) for k, v in done.data.params.items() if k.startswith("param.")}
                result = self._result(done.info.run_id, done.data.tags, experiment_id, cv, params)
                if (key := self.cache_key()) is not None:
                    result["cache_key"] = key.digest
                if source := done.data.tags.get(tag.CACHE_SOURCE_DAG_RUN):
                    result["reused_from"] = source
                return result
            attempt = f"try {getattr(context.get('ti'), 'try_number', '?')}"
            for abandoned in hook.close_abandoned_runs(experiment_id, tags, f"superseded by {attempt}", found=earlier):
                self.log.warning("Closed MLflow run %s of %s, left unfinished by an earlier try", abandoned, name)
            key = self.cache_key()
            cache = None
            if self.cache and key is not None:
                where = (experiment_id, parent, dag_id, run_id)
                cache, outcome = look_up(
                    hook, where, key, context=context, expire_after_seconds=self.cache_expire_after_seconds,
                    verify=model_intact(hook),
                )  # fmt: skip
                self._cache_outcome = outcome
                if outcome.hit and outcome.result is not None:
                    return self._adopt(outcome, experiment_id, parent, tags)
                self.log.info("Cache for %s: %s", name, outcome.summary())
            try:
                result = self._train(experiment_id, parent, tags)
            except CandidateFailed as failed:
                return self._drop(failed.error, experiment_id, parent, tags)
            if key is not None:
                result["cache_key"] = key.digest
                if cache is not None:
                    cache.store(result["mlflow_run_id"], key, result)
            return result

    def _adopt(
        self, outcome: CacheOutcome, experiment_id: str, parent_run_id: str, tags: dict[str, str]
    ) -> TrainedCandidate:
        """A candidate run of this DAG run for the model an earlier run trained: no earlier record is rewritten.

        The new run carries the earlier run's params and training metrics and points at the same
        logged model; evaluate, the gate and register then write to it, not to the earlier run.
        """
        hook = self.mlflow_hook
        # the run the look-up found: its params, metrics and tags, without fetching it again
        source = outcome.source_run or hook.get_client().get_run(str(outcome.source_run_id))
        earlier = cast("TrainedCandidate", outcome.result)
        data = self.dataset["data"]
        run_tags = {
            **tags,
            "mlflow.parentRunId": parent_run_id,
            tag.DATA_COMMIT: data["commit"],
            tag.DATA_MD5: str(data["md5"]),
            **tag.prefixed(tag.CODE_PREFIX, self.lineage),
            tag.MODEL_URI: earlier["model_uri"],
            tag.MODEL_ID: str(earlier.get("model_id")),
            tag.MODEL_FLAVOR: source.data.tags.get(tag.MODEL_FLAVOR, ""),
            tag.CACHE_SOURCE_RUN: str(outcome.source_run_id),
            tag.CACHE_SOURCE_DAG_RUN: str(outcome.source_dag_run),
        }
        run_id = hook.create_run(experiment_id, run_tags, run_name=self.candidate["name"])
        kept = {k: v for k, v in source.data.metrics.items() if k.startswith(("train_", "cv_"))}
        hook.log_batch(run_id, params=source.data.params, metrics=kept)
        hook.finish_run(run_id)
        self.log.info("Cache for %s: %s; model %s", self.candidate["name"], outcome.summary(), earlier["model_uri"])
        result: TrainedCandidate = {
            **earlier,
            "mlflow_run_id": run_id,
            "experiment_id": experiment_id,
            "cache_key": outcome.key,
        }
        if outcome.source_dag_run:
            result["reused_from"] = outcome.source_dag_run
        return result

    def _drop(
        self, error: BaseException, experiment_id: str, parent_run_id: str, tags: dict[str, str]
    ) -> TrainedCandidate:
        """Record the failure on the candidate's run (one is made if training stopped before it) and say so."""
        name = self.candidate["name"]
        reason = f"{type(error).__name__}: {error}"
        hook = self.mlflow_hook
        run_id = self._started_run or hook.create_run(
            experiment_id, {**tags, "mlflow.parentRunId": parent_run_id}, run_name=name
        )
        hook.fail_run(run_id, reason)
        self.log.error("Candidate %s failed to train and is dropped (candidates.on_failure: drop): %s", name, reason)
        return {
            **self._result(run_id, {tag.MODEL_URI: ""}, experiment_id),
            "model_id": None,
            "dropped": True,
            "error": reason,
        }

    def _train(self, experiment_id: str, parent_run_id: str, tags: dict[str, str]) -> TrainedCandidate:
        import mlflow

        from airflow_mlops.ml.flavors import log_model
        from airflow_mlops.ml.metrics import compute_metrics

        self._started_run = None
        train = artifacts.read_parquet(self.dataset["train_uri"])
        target = self.dataset["target"]
        features, labels = train.drop(columns=[target]), train[target]
        # configuration errors surface before an MLflow run exists
        self._candidate_step(lambda: self.fitter(features, labels))
        data = self.dataset["data"]
        run_tags = {
            **tags,
            "mlflow.parentRunId": parent_run_id,
            tag.DATA_COMMIT: data["commit"],
            tag.DATA_MD5: str(data["md5"]),
            **tag.prefixed(tag.CODE_PREFIX, self.lineage),
        }
        with mlflow.start_run(experiment_id=experiment_id, run_name=self.candidate["name"], tags=run_tags) as run:
            self._started_run = run.info.run_id
            params = self._candidate_step(lambda: self._tuned_params(run.info.run_id, experiment_id, tags, train))
            fit = self._candidate_step(lambda: self.fitter(features, labels, params))
            mlflow.log_params(
                {
                    "estimator": self.candidate.get("estimator") or f"trainer:{self.candidate['trainer']}",
                    "preprocessing": json.dumps(self.candidate.get("preprocessing", {}), sort_keys=True),
                    **{f"param.{k}": json.dumps(v) for k, v in params.items()},
                    **({"class_weight": json.dumps(weight)} if (weight := self.candidate.get("class_weight")) else {}),
                    "data.rev": data["rev"],
                    "data.commit": data["commit"],
                    "data.md5": str(data["md5"]),
                    "n_train": len(train),
                }
            )
            model = self._candidate_step(fit)
            info, predictor, flavor = self._candidate_step(lambda: log_model(model, features, labels, self.problem))
            train_metrics = self._candidate_step(
                lambda: compute_metrics(predictor, features, labels, self.problem, self.average)
            )
            mlflow.log_metrics({f"train_{k}": v for k, v in train_metrics.items()})
            cv = self._candidate_step(lambda: self._cross_validate(features, labels, params))
            if cv:
                mlflow.log_metrics(cv)
            mlflow.set_tags({tag.MODEL_URI: info.model_uri, tag.MODEL_ID: str(info.model_id), tag.MODEL_FLAVOR: flavor})
            run_id = run.info.run_id
        self.log.info("Trained %s: train metrics %s", self.candidate["name"], train_metrics)
        uri_tags = {tag.MODEL_URI: info.model_uri, tag.MODEL_ID: str(info.model_id)}
        return self._result(run_id, uri_tags, experiment_id, cv, params)

    def _tuned_params(self, run_id: str, experiment_id: str, tags: dict[str, str], train: Any) -> dict[str, Any]:
        """The candidate's params, with the best values its ``tuning`` search found (none: as written)."""
        params = dict(self.candidate.get("params", {}))
        if not self.candidate.get("tuning"):
            return params
        from airflow_mlops.operators.tune import run_search

        return {**params, **run_search(self, run_id, experiment_id, tags, train)}

    def _cross_validate(self, features: Any, labels: Any, params: Mapping[str, Any]) -> dict[str, float]:
        """``cv_<metric>_mean``/``_std`` over ``cv_folds`` folds of the training split, each fitted afresh."""
        if self.cv_folds < 2:
            return {}
        from airflow_mlops.ml.cross_validation import cross_validate

        return cross_validate(
            lambda x, y: self.fitter(x, y, params)(),
            features,
            labels,
            problem=self.problem,
            splitter=self.fold_splitter(self.cv_folds),
            average=self.average,
            n_jobs=self.cv_n_jobs,
        )

    def _result(
        self,
        run_id: str,
        tags: Mapping[str, str],
        experiment_id: str,
        cv: Mapping[str, float] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> TrainedCandidate:
        result: TrainedCandidate = {
            "candidate": self.candidate["name"],
            "estimator": self.candidate.get("estimator") or f"trainer:{self.candidate['trainer']}",
            "params": dict(self.candidate.get("params", {}) if params is None else params),
            "preprocessing": self.candidate.get("preprocessing", {}),
            "mlflow_run_id": run_id,
            "experiment_id": experiment_id,
            "model_uri": tags[tag.MODEL_URI],
            "model_id": tags.get(tag.MODEL_ID),
        }
        if cv:
            result["cv_metrics"] = dict(cv)
        return result
