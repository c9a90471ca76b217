"""Score a pinned dataset with the model a registry alias names, and publish the predictions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_mlops import artifacts
from airflow_mlops.errors import ConfigurationError, DataVersionError, NoChampionError
from airflow_mlops.hooks.snapshot import read_pinned
from airflow_mlops.lineage_events import build as events
from airflow_mlops.operators.base import MlflowBaseOperator, Upstream, event_extra, run_identity, upstream
from airflow_mlops.record import tag

if TYPE_CHECKING:
    import pandas as pd
    from airflow.sdk import Context
    from mlflow.entities import Run

    from airflow_mlops.contracts import DataRef, ScoringResult

PREDICTIONS_FILE = "predictions.parquet"
# What downstream consumers of the predictions asset see in the event's extra.
EVENT_KEYS = ("uri", "rows", "model_name", "model_version", "data_commit")


class BatchScoreOperator(MlflowBaseOperator):
    """Score the pinned data with ``models:/<name>@<alias>``, write predictions by reference.

    The alias is resolved to a version number once, before anything is read, and the model is
    loaded by that number: a promotion that lands mid-run cannot make one run's predictions
    come from two models or be recorded against the wrong one. A retry of the same DAG run
    finds its MLflow run by tags and keeps the version that run recorded, so the record of one
    DAG run never names two versions.
    """

    template_fields: Sequence[str] = ("data", "model_name", "alias")

    def __init__(
        self,
        *,
        data: Upstream[DataRef],
        model_name: str,
        experiment: str,
        alias: str = "champion",
        passthrough: Sequence[str] = (),
        prediction_column: str = "prediction",
        lineage: dict[str, str] | None = None,
        dvc_conn_id: str = "dvc_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data: DataRef = upstream(data)
        self.model_name = model_name
        self.experiment = experiment
        self.alias = alias
        self.passthrough = list(dict.fromkeys(passthrough))
        self.prediction_column = prediction_column
        self.lineage = lineage or {}
        self.dvc_conn_id = dvc_conn_id

    def execute(self, context: Context) -> ScoringResult:
        dag_id, run_id = run_identity(context)
        hook = self.mlflow_hook
        with hook.session():
            earlier = self._earlier_attempt(dag_id, run_id)
            version = self._pin_version(earlier)
            model_uri = f"models:/{self.model_name}/{version}"
            if earlier is not None:
                mlflow_run_id = str(earlier.info.run_id)
                hook.resume_run(mlflow_run_id)
            else:
                mlflow_run_id = self._start_run(dag_id, run_id, version, model_uri)
            try:
                result = self._score(dag_id, run_id, version, model_uri, mlflow_run_id)
            except BaseException as err:
                hook.fail_run(mlflow_run_id, f"{type(err).__name__}: {err}")
                raise
            hook.finish_run(mlflow_run_id)
        self.lineage_report = events.scoring(self.dvc_conn_id, self.data, result)
        for asset in self.outlets:
            context["outlet_events"][asset].extra = event_extra({k: v for k, v in result.items() if k in EVENT_KEYS})
        return result

    def _earlier_attempt(self, dag_id: str, run_id: str) -> Run | None:
        """This DAG run's scoring run from an earlier try.

        Only read here: a run that fails for want of a champion must leave no experiment behind.
        """
        experiment = self.mlflow_hook.get_client().get_experiment_by_name(self.experiment)
        if experiment is None:
            return None
        tags = tag.identity(dag_id, run_id, tag.ROLE_SCORING)
        return self.mlflow_hook.find_run(str(experiment.experiment_id), tags)

    def _pin_version(self, earlier: Run | None) -> str:
        pinned = earlier.data.params.get("model.version") if earlier is not None else None
        if pinned:
            self.log.info("Retry: keeping version %s of %s, pinned by the earlier attempt", pinned, self.model_name)
            return str(pinned)
        current = self.mlflow_hook.alias_version(self.model_name, self.alias)
        if current is None:
            raise NoChampionError(
                f"no @{self.alias} for model {self.model_name} yet; run its retraining pipeline first "
                f"(looked in the registry of connection {self.mlflow_conn_id!r})"
            )
        self.log.info("Pinned %s@%s -> version %s", self.model_name, self.alias, current.version)
        return str(current.version)

    def _start_run(self, dag_id: str, run_id: str, version: str, model_uri: str) -> str:
        """This DAG run's scoring run; only called once no earlier attempt's run exists (see execute)."""
        hook = self.mlflow_hook
        tags = {
            **tag.identity(dag_id, run_id, tag.ROLE_SCORING),
            tag.MODEL_URI: model_uri,
            **tag.prefixed(tag.CODE_PREFIX, self.lineage),
        }
        params = {
            "model.name": self.model_name,
            "model.version": version,
            "model.alias": self.alias,
            **{f"data.{k}": str(self.data.get(k)) for k in tag.DATA_FIELDS},
        }
        experiment_id = hook.get_or_create_experiment(self.experiment)
        return hook.create_run(experiment_id, tags, run_name=f"{dag_id} {run_id}", params=params)

    def _score(self, dag_id: str, run_id: str, version: str, model_uri: str, mlflow_run_id: str) -> ScoringResult:
        frame = read_pinned(self.data, self.dvc_conn_id)
        where = f"data {self.data['path']}@{str(self.data['commit'])[:12]}"
        self._check_frame(frame, where)
        model, columns, required = self._load_model(model_uri)
        missing = [c for c in required if c not in frame.columns]
        if missing:
            raise DataVersionError(
                f"{where} lacks columns {missing} that {self.model_name} version {version} needs as inputs "
                f"(its signature has {len(columns)} columns)"
            )
        from airflow_mlops.ml.scoring import score_frame

        predictions, proba = score_frame(
            model,
            frame,
            columns=[c for c in columns if c in frame.columns],
            passthrough=self.passthrough,
            prediction_column=self.prediction_column,
        )
        uri = artifacts.write_parquet(predictions, f"{artifacts.run_prefix(dag_id, run_id)}/{PREDICTIONS_FILE}")
        self.mlflow_hook.log_batch(
            mlflow_run_id,
            metrics={"rows": len(predictions)},
            tags={tag.PREDICTIONS_URI: uri, tag.PREDICTIONS_PROBA: proba or "none"},
        )
        self.log.info("Scored %d rows of %s with %s; predictions at %s", len(predictions), where, model_uri, uri)
        return {
            "uri": uri,
            "rows": len(predictions),
            "model_name": self.model_name,
            "model_version": version,
            "data_commit": self.data["commit"],
            "model_uri": model_uri,
            "mlflow_run_id": mlflow_run_id,
        }

    def _load_model(self, model_uri: str) -> tuple[Any, list[str], list[str]]:
        from mlflow.models import get_model_info

        from airflow_mlops.ml.flavors import load_predictor
        from airflow_mlops.ml.scoring import input_columns

        info = get_model_info(model_uri)
        # Loaded by its own flavor, so a classifier of any framework keeps predict_proba.
        model = load_predictor(model_uri)

        columns, required = input_columns(info.signature, model, model_uri)
        return model, columns, required

    def _check_frame(self, frame: pd.DataFrame, where: str) -> None:
        """Fail before the model is downloaded on what the data alone can tell."""
        if frame.empty:
            raise DataVersionError(f"{where} has no rows to score")
        outputs = {self.prediction_column, f"{self.prediction_column}_proba"}
        clash = [c for c in self.passthrough if c in outputs]
        if clash:
            raise ConfigurationError(
                f"passthrough columns {clash} would be overwritten by the predictions; rename prediction_column"
            )
        missing = [c for c in self.passthrough if c not in frame.columns]
        if missing:
            raise DataVersionError(f"{where} lacks passthrough columns {missing}")
