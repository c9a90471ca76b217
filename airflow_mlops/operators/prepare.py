"""Split the pinned data once, so every candidate and the champion see the same test rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_mlops import artifacts
from airflow_mlops.errors import DataVersionError
from airflow_mlops.hooks.dvc import DvcHook
from airflow_mlops.operators.base import MlopsBaseOperator, Upstream, run_identity, upstream

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_mlops.contracts import DataRef, PreparedDataset


class PrepareDatasetOperator(MlopsBaseOperator):
    """Write train and test splits under the artifact root and return their URIs."""

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

    def execute(self, context: Context) -> PreparedDataset:
        from sklearn.model_selection import train_test_split

        dag_id, run_id = run_identity(context)
        frame = DvcHook(dvc_conn_id=self.dvc_conn_id, repo=self.data["repo"]).read_dataframe(self.data)
        where = f"data {self.data['path']}@{self.data['commit'][:12]}"
        if self.target not in frame.columns:
            raise DataVersionError(f"{where} has no target column {self.target!r}; columns: {list(frame.columns)}")
        features = self.features or [c for c in frame.columns if c != self.target]
        missing = [c for c in features if c not in frame.columns]
        if missing:
            raise DataVersionError(f"{where} lacks feature columns {missing}")
        frame = frame[[*features, self.target]]
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
        }
        self.log.info("Split %d rows into %d train / %d test at %s", len(frame), len(train), len(test), prefix)
        return result
