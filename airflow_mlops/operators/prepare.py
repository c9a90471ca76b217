"""Check the pinned data against its contract, then split it once: every candidate and the champion see one test set."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_mlops import artifacts
from airflow_mlops.errors import DataVersionError
from airflow_mlops.hooks.snapshot import read_pinned
from airflow_mlops.lineage_events import build as events
from airflow_mlops.operators.base import MlflowBaseOperator, Upstream, run_identity, upstream

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_mlops.contracts import DataRef, PreparedDataset
    from airflow_mlops.data_contract.vocabulary import Problem
    from airflow_mlops.ml.contract_check import ContractOutcome


class PrepareDatasetOperator(MlflowBaseOperator):
    """Refuse data that breaks the contract, else write train and test splits and return their URIs.

    The contract is what the pipeline declares (``features``, ``columns``, the policies) plus, when
    ``model_name`` names a model with a champion, the columns that champion was trained on. With
    ``experiment`` set, the check and its issues are recorded on the pipeline's MLflow run.
    """

    template_fields: Sequence[str] = ("data",)

    def __init__(
        self,
        *,
        data: Upstream[DataRef],
        target: str,
        features: list[str] | None = None,
        test_size: float = 0.2,
        seed: int = 42,
        stratify: bool = True,
        dvc_conn_id: str = "dvc_default",
        problem: Problem = "classification",
        columns: Mapping[str, str] | None = None,
        policies: Mapping[str, str] | None = None,
        id_columns: Sequence[str] = (),
        categorical: Sequence[str] = (),
        checks: Mapping[str, Any] | None = None,
        model_name: str | None = None,
        alias: str = "champion",
        experiment: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data: DataRef = upstream(data)
        self.target = target
        self.features = features
        self.test_size = test_size
        self.seed = seed
        self.stratify = stratify
        self.dvc_conn_id = dvc_conn_id
        self.problem: Problem = problem
        self.columns = dict(columns) if columns else None
        self.policies = dict(policies or {})
        self.id_columns = list(id_columns)
        self.categorical = list(categorical)
        self.checks = dict(checks or {})
        self.model_name = model_name
        self.alias = alias
        self.experiment = experiment

    def execute(self, context: Context) -> PreparedDataset:
        from sklearn.model_selection import train_test_split

        dag_id, run_id = run_identity(context)
        frame = read_pinned(self.data, self.dvc_conn_id)
        where = f"{self.data['path']}@{self.data['commit'][:12]}"
        if self.target not in frame.columns:
            raise DataVersionError(f"data {where} has no target column {self.target!r}; columns: {list(frame.columns)}")
        missing = [c for c in self.features or [] if c not in frame.columns]
        if missing:
            raise DataVersionError(f"data {where} lacks feature columns {missing}")
        outcome = self._check(frame, dag_id, run_id, where)
        features = outcome.features
        wanted = [*features, self.target]
        if frame.columns.tolist() != wanted:  # selecting copies the frame: only when something is left out
            frame = frame[wanted]
        stratify = frame[self.target] if self.stratify else None
        train, test = train_test_split(frame, test_size=self.test_size, random_state=self.seed, stratify=stratify)
        prefix = artifacts.run_prefix(dag_id, run_id)
        result: PreparedDataset = {
            "train_uri": artifacts.write_parquet(train, f"{prefix}/train.parquet"),
            "test_uri": artifacts.write_parquet(test, f"{prefix}/test.parquet"),
            "n_train": len(train),
            "n_test": len(test),
            "target": self.target,
            "features": features,
            "data": self.data,
            "contract": outcome.contract.to_json(),
        }
        self.log.info("Split %d rows into %d train / %d test at %s", len(frame), len(train), len(test), prefix)
        self.lineage_report = events.preparation(self.dvc_conn_id, result)
        return result

    def _check(self, frame: Any, dag_id: str, run_id: str, where: str) -> ContractOutcome:
        from airflow_mlops.data_contract.settings import SplitSettings
        from airflow_mlops.ml.contract_check import (
            ContractSettings,
            champion_contract,
            check_contract,
            record_outcome,
            refuse,
        )

        settings = ContractSettings(
            target=self.target,
            features=self.features,
            columns=self.columns,
            policies=self.policies,
            id_columns=self.id_columns,
            categorical=self.categorical,
            checks=self.checks,
            problem=self.problem,
        )
        split = SplitSettings(test_size=self.test_size, stratify=self.stratify)
        if self.model_name is None and self.experiment is None:
            # Nothing to read from or write to MLflow: the checks on the data alone.
            outcome = check_contract(frame, settings, split, None)
        else:
            hook = self.mlflow_hook
            with hook.session():
                reference = champion_contract(hook, self.model_name, self.alias) if self.model_name else None
                outcome = check_contract(frame, settings, split, reference)
                if self.experiment is not None:
                    record_outcome(hook, outcome, self.experiment, dag_id, run_id)
        for issue in outcome.issues:
            if not issue.blocking:
                self.log.warning("Data contract: %s", issue)
        if not outcome.passed:
            raise refuse(outcome, where)
        self.log.info("Data %s matches %s; training on %d features", where, outcome.against, len(outcome.features))
        return outcome
