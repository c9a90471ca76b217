"""Tuning trials as MLflow runs nested under their candidate's run: recorded as they end, recovered on a retry.

Each trial run carries the DAG run's identity tags with the role ``trial``, the candidate's name,
and its whole record as JSON in one tag (``record.tag.TRIAL_RECORD``), so a retried task rebuilds
every finished trial from one search, without a metric-history call per trial. Params and the
running score per fold are logged as well, for people comparing trials in MLflow's UI.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_mlops.hooks.mlflow_runs import tag_clauses
from airflow_mlops.record import tag

if TYPE_CHECKING:
    from airflow_mlops.hooks.mlflow import MlflowHook
    from airflow_mlops.ml.tuning import TrialRecord

_PAGE = 1000


class MlflowTrialLog:
    """ml/tuning.py's ``TrialLog`` on MLflow: three round trips per trial (create, log, end).

    ``task`` names the task instance running the trials (``tune_<candidate>[<worker>]``) when a
    search is spread over several: each trial run is tagged with it (``record.tag.TRIAL_TASK``),
    and a retry closes only the runs its own task left RUNNING, never another worker's trial in flight.
    """

    def __init__(self, hook: MlflowHook, experiment_id: str, identity: Mapping[str, str], parent_run_id: str,
                 metric: str, reason: str, task: str | None = None) -> None:  # fmt: skip
        self.hook = hook
        self.experiment_id = experiment_id
        self.identity = {**identity, tag.ROLE: tag.ROLE_TRIAL}
        self.parent_run_id = parent_run_id
        self.metric = metric
        self.reason = reason
        self.task = task

    def recover(self) -> list[TrialRecord]:
        """Every finished trial of this candidate in this DAG run, moved under the current parent run.

        A trial an earlier attempt left RUNNING (the worker was killed mid-trial) is closed as
        KILLED and run again; finished ones (complete, pruned or failed) are taken over. With a
        ``task``, only that task's RUNNING trials are closed: the other workers' are in flight.
        """
        mine = {**self.identity, tag.TRIAL_TASK: self.task} if self.task else self.identity
        self.hook.close_abandoned_runs(self.experiment_id, mine, self.reason)
        return self._read(move=True)

    def recorded(self) -> list[TrialRecord]:
        """Every finished trial of this candidate in this DAG run, read only: one search per page."""
        return self._read(move=False)

    def _read(self, *, move: bool) -> list[TrialRecord]:
        from airflow_mlops.ml.tuning import TrialRecord

        client = self.hook.get_client()
        records: dict[int, TrialRecord] = {}
        token = None
        while True:
            page = client.search_runs(
                [self.experiment_id], " and ".join(tag_clauses(self.identity)), max_results=_PAGE, page_token=token
            )
            for run in page:
                raw = run.data.tags.get(tag.TRIAL_RECORD)
                if run.info.status not in ("FINISHED", "FAILED") or raw is None:
                    continue
                record = TrialRecord.from_json(json.loads(raw))
                records.setdefault(record.number, record)
                if move and run.data.tags.get("mlflow.parentRunId") != self.parent_run_id:
                    client.set_tag(run.info.run_id, "mlflow.parentRunId", self.parent_run_id)
            token = page.token
            if not token:
                return list(records.values())

    def start(self, number: int, params: Mapping[str, Any]) -> str:
        run_tags = {**self.identity, tag.TRIAL_NUMBER: str(number), "mlflow.parentRunId": self.parent_run_id}
        if self.task:
            run_tags[tag.TRIAL_TASK] = self.task
        return self.hook.create_run(
            self.experiment_id,
            run_tags,
            run_name=f"{self.identity[tag.CANDIDATE]} trial {number}",
            params={f"param.{k}": json.dumps(v) for k, v in params.items()},
        )

    def finish(self, handle: str, record: TrialRecord) -> None:
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        name = f"tuning_{self.metric}"
        metrics = [Metric(name, v, now, step) for step, v in sorted(record.intermediate.items())]
        tags = [RunTag(tag.TRIAL_RECORD, json.dumps(record.to_json(), sort_keys=True))]
        if record.error:
            tags.append(RunTag(tag.FAILURE, tag.clip(record.error)))
        client = self.hook.get_client()
        client.log_batch(handle, metrics=metrics, tags=tags)
        client.set_terminated(handle, status="FAILED" if record.state == "fail" else "FINISHED")
