"""Check the pinned data against its contract, then split it once: every candidate and the champion see one test set."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from airflow_mlops import artifacts
from airflow_mlops.errors import DataVersionError
from airflow_mlops.hooks.snapshot import read_pinned
from airflow_mlops.hooks.step_cache import outcome_tags
from airflow_mlops.lineage_events import build as events
from airflow_mlops.operators.base import MlflowBaseOperator, Upstream, look_up, run_identity, upstream
from airflow_mlops.record.cache import StepKey

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_mlops.contracts import DataRef, PreparedDataset
    from airflow_mlops.data_contract.model import DataContract
    from airflow_mlops.data_contract.vocabulary import Problem
    from airflow_mlops.hooks.step_cache import Verify
    from airflow_mlops.ml.contract_check import ContractOutcome
    from airflow_mlops.record.cache import CacheOutcome

#: The code a split depends on: how the file is read, checked and cut.
SPLIT_LIBRARIES = ("airflow-mlops", "pandas", "numpy", "pyarrow", "scikit-learn")


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
        cache: bool = True,
        cache_expire_after_seconds: float | None = None,
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
        self.cache = cache
        self.cache_expire_after_seconds = cache_expire_after_seconds

    def execute(self, context: Context) -> PreparedDataset:
        dag_id, run_id = run_identity(context)
        if self.model_name is None and self.experiment is None:
            # Nothing to read from or write to MLflow: the checks on the data alone, no cache.
            return self._prepare(dag_id, run_id, None, self.cache_key())
        from airflow_mlops.ml.contract_check import champion_contract

        hook = self.mlflow_hook
        with hook.session():
            reference = champion_contract(hook, self.model_name, self.alias) if self.model_name else None
            key = self.cache_key()
            if self.experiment is None or not self.cache:
                return self._prepare(dag_id, run_id, reference, key)
            record = hook.pipeline_record(self.experiment, dag_id, run_id)
            experiment_id, parent = record["experiment_id"], record["pipeline_run_id"]
            where = (experiment_id, parent, dag_id, run_id)
            cache, outcome = look_up(
                hook,
                where,
                key,
                context=context,
                expire_after_seconds=self.cache_expire_after_seconds,
                verify=_fits(reference),
                note=False,
            )
            if outcome.hit and outcome.result is not None:
                return {**self._reuse(outcome, parent), "record": record}
            cache.note(parent, outcome)  # before the work, which may fail (a hit is noted with its record)
            self.log.info("Cache: %s", outcome.summary())
            result = self._prepare(dag_id, run_id, reference, key)
            cache.store(parent, key, result)  # without the record: a run that reuses the split has its own
            self.lineage_report = events.preparation(self.dvc_conn_id, result, outcome.record())
        return {**result, "record": record}

    def cache_key(self) -> StepKey:
        """The data's content, this step's settings and the code that splits.

        The champion is not in the key: a new champion trained on these same columns changes
        nothing, so the first re-run after the first promotion still reuses the split. Whether the
        current champion fits a reused split is checked at lookup instead (:func:`_fits`).
        """
        from airflow_mlops.ml.code_versions import library_versions

        return StepKey(
            step="prepare_data",
            inputs={
                "data_commit": self.data["commit"],
                "data_md5": str(self.data["md5"]),
            },
            spec={
                "target": self.target,
                "features": self.features,
                "test_size": self.test_size,
                "seed": self.seed,
                "stratify": self.stratify,
                "problem": self.problem,
                "columns": self.columns,
                "policies": self.policies,
                "id_columns": self.id_columns,
                "categorical": self.categorical,
                "checks": self.checks,
            },
            versions=library_versions(SPLIT_LIBRARIES),
        )

    def _reuse(self, outcome: CacheOutcome, parent: str) -> PreparedDataset:
        """The earlier split, its contract check copied onto this run's record, with where it came from."""
        from airflow_mlops.record import paths, tag

        earlier = outcome.result or {}
        # the same content under this run's own reference (a rev name, a source's row count may read differently)
        result = cast("PreparedDataset", {**earlier, "data": self.data, "reused_from": outcome.source_dag_run})
        hook = self.mlflow_hook
        source = outcome.source_run
        record = None
        if source is not None:
            record = hook.read_json(source.info.run_id, paths.DATA_CONTRACT, artifact_uri=source.info.artifact_uri)
        if record is not None:
            hook.log_json(parent, record, paths.DATA_CONTRACT)
        hook.log_batch(parent, tags={tag.CONTRACT_PASSED: "true", **outcome_tags(outcome)})
        self.log.info("Cache: %s; splits %s and %s", outcome.summary(), result["train_uri"], result["test_uri"])
        self.lineage_report = events.preparation(self.dvc_conn_id, result, outcome.record())
        return result

    def _prepare(
        self, dag_id: str, run_id: str, reference: tuple[str, DataContract] | None, key: StepKey
    ) -> PreparedDataset:
        import numpy as np
        from sklearn.model_selection import train_test_split

        frame = read_pinned(self.data, self.dvc_conn_id)
        where = f"{self.data['path']}@{self.data['commit'][:12]}"
        if self.target not in frame.columns:
            raise DataVersionError(f"data {where} has no target column {self.target!r}; columns: {list(frame.columns)}")
        missing = [c for c in self.features or [] if c not in frame.columns]
        if missing:
            raise DataVersionError(f"data {where} lacks feature columns {missing}")
        outcome = self._check(frame, dag_id, run_id, where, reference)
        features = outcome.features
        wanted = [*features, self.target]
        if frame.columns.tolist() != wanted:  # selecting copies the frame: only when something is left out
            frame = frame[wanted]
        stratify = frame[self.target] if self.stratify else None
        # The rows of each split as train_test_split(frame) picks them (from the row count, the labels
        # and the seed alone), taken one split at a time: the test split is written and let go before
        # the train split is taken, and the frame before the train split is encoded. Taken together
        # with the frame alive, the task held the data three times over (3.7x the frame at 1M rows).
        train_rows, test_rows = train_test_split(
            np.arange(len(frame)), test_size=self.test_size, random_state=self.seed, stratify=stratify
        )
        rows, n_train, n_test = len(frame), len(train_rows), len(test_rows)
        prefix = artifacts.run_prefix(dag_id, run_id)
        test_uri, test_md5 = artifacts.write_parquet_hashed(frame.take(test_rows), f"{prefix}/test.parquet")
        train = frame.take(train_rows)
        del frame, stratify
        artifacts.release_arrow_memory()  # the frame was decoded from Parquet: its buffers were Arrow's
        train_uri, train_md5 = artifacts.write_parquet_hashed(train, f"{prefix}/train.parquet")
        del train
        result: PreparedDataset = {
            "train_uri": train_uri,
            "test_uri": test_uri,
            "n_train": n_train,
            "n_test": n_test,
            "target": self.target,
            "features": features,
            "data": self.data,
            "contract": outcome.contract.to_json(),
            "train_md5": train_md5,
            "test_md5": test_md5,
            "cache_key": key.digest,
        }
        self.log.info("Split %d rows into %d train / %d test at %s", rows, n_train, n_test, prefix)
        self.lineage_report = events.preparation(self.dvc_conn_id, result)
        return result

    def _check(
        self, frame: Any, dag_id: str, run_id: str, where: str, reference: tuple[str, DataContract] | None
    ) -> ContractOutcome:
        from airflow_mlops.data_contract.settings import SplitSettings
        from airflow_mlops.ml.contract_check import ContractSettings, check_contract, record_outcome, refuse

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
        outcome = check_contract(frame, settings, split, reference)
        if self.experiment is not None:
            hook = self.mlflow_hook
            with hook.session():
                record_outcome(hook, outcome, self.experiment, dag_id, run_id)
        for issue in outcome.issues:
            if not issue.blocking:
                self.log.warning("Data contract: %s", issue)
        if not outcome.passed:
            raise refuse(outcome, where)
        self.log.info("Data %s matches %s; training on %d features", where, outcome.against, len(outcome.features))
        return outcome


def _fits(reference: tuple[str, DataContract] | None) -> Verify:
    """A reused split's files are intact, and the current champion saw the columns it was cut with.

    The contract check compares the data with the champion, and the features follow the
    champion's, so a champion with other columns (or types) than the earlier split's is a miss.
    """

    def problem(result: Mapping[str, Any]) -> str | None:
        if (broken := _splits_intact(result)) is not None or reference is None:
            return broken
        from airflow_mlops.data_contract.model import DataContract

        version, champion = reference
        try:
            cut = DataContract.from_json(str(result.get("contract") or ""))
        except ValueError:
            return "its record holds no readable data contract"
        if (differs := _columns_differ(cut, champion)) is not None:
            return f"the champion (version {version}) saw other columns than the split was cut with: {differs}"
        return None

    return problem


def _columns_differ(cut: DataContract, champion: DataContract) -> str | None:
    if cut.names != champion.names:
        return f"{list(cut.names)} -> {list(champion.names)}"
    for before, after in zip(cut.columns, champion.columns, strict=True):
        if before.type != after.type and {before.type, after.type} != {"string", "category"}:
            return f"{before.name}: {before.type} -> {after.type}"
    return None


def _splits_intact(result: Mapping[str, Any]) -> str | None:
    """A reused split must still be there, byte for byte: a deleted or rewritten file is a miss."""
    for side in ("train", "test"):
        uri, expected = result.get(f"{side}_uri"), result.get(f"{side}_md5")
        if not uri or not expected:
            return f"the {side} split has no recorded md5"
        found = artifacts.file_md5(str(uri))
        if found is None:
            return f"the {side} split {uri} is gone"
        if found != expected:
            return f"the {side} split {uri} changed since it was written (md5 {found}, recorded {expected})"
    return None
