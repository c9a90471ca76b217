"""Earlier results of a step, found in the MLflow record by their content key (record/cache.py).

A result is reusable only if all of this holds, else the step runs and says why it could not
reuse one:
- an earlier DAG run of the same pipeline filed a result under the same key digest;
- the entry is there and its stored key still hashes to that digest (a record edited by hand
  does not);
- the step's own check of what the result points at passes (the split files with their md5,
  the logged model's artifacts), so a deleted artifact is a miss, never a wrong hit or a failure;
- it is younger than ``expire_after`` when one is set.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_mlops.hooks.mlflow_runs import filter_literal
from airflow_mlops.record import paths, tag
from airflow_mlops.record.cache import CacheOutcome, StepKey, miss_reason

if TYPE_CHECKING:
    from mlflow.entities import Run

    from airflow_mlops.hooks.mlflow import MlflowHook

#: A check of a reused result's artifacts: None when they are intact, else what is wrong.
Verify = Callable[[Mapping[str, Any]], str | None]
#: How many earlier results with the key are tried before the step gives up and runs.
_CANDIDATE_ENTRIES = 5


class StepCache:
    """Find and file step results for one DAG run of one pipeline; every method is a few MLflow round trips."""

    def __init__(self, hook: MlflowHook, experiment_id: str, dag_id: str, run_id: str) -> None:
        self.hook = hook
        self.experiment_id = experiment_id
        self.dag_id = dag_id
        self.run_id = run_id

    def lookup(
        self,
        key: StepKey,
        *,
        max_age_seconds: float | None = None,
        verify: Verify | None = None,
        label: str | None = None,
        like: str | None = None,
    ) -> CacheOutcome:
        """The newest intact earlier result under ``key``, or a miss that names what differs.

        ``label`` names the outcome when several results share one key's step (evaluate's scores
        are keyed by model, whichever candidate or champion it is, and noted per candidate);
        ``like``, an MLflow filter clause, picks the earlier results a miss is compared with.
        """
        digest = key.digest
        step = label or key.step
        same_key = self._earlier_runs(
            f"tags.`{tag.cache_key(key.step)}` = {filter_literal(digest)}", _CANDIDATE_ENTRIES
        )
        problems: list[str] = []
        for run in same_key:
            age = time.time() - run.info.start_time / 1000
            if max_age_seconds is not None and age > max_age_seconds:
                limit = _duration(max_age_seconds)
                problems.append(f"the result of {_dag_run(run)} expired ({_duration(age)} old, expire_after {limit})")
                continue
            entry = self._entry(run, key.step)
            problem = _entry_problem(entry, digest, verify)
            if problem is None:
                assert isinstance(entry, dict)
                return CacheOutcome(
                    step, True, "same key", digest, run.info.run_id, _dag_run(run), entry["result"], source_run=run
                )
            problems.append(f"the result of {_dag_run(run)} cannot be reused: {problem}")
        if problems:
            return CacheOutcome(step, False, problems[0], digest)
        return CacheOutcome(step, False, self._what_changed(key, like), digest)

    def store(self, run_id: str, key: StepKey, result: Mapping[str, Any]) -> None:
        """File ``result`` under ``key`` on ``run_id``: the entry first, then the tag a lookup finds it by."""
        self.hook.log_json(
            run_id, {"key": key.model_dump(mode="json"), "result": dict(result)}, paths.cache_entry(key.step)
        )
        self.hook.log_batch(run_id, tags={tag.cache_key(key.step): key.digest})

    def note(self, pipeline_run_id: str, *outcomes: CacheOutcome) -> None:
        """Say on this DAG run's pipeline run whether each step reused a result (the summary and the UI read it).

        Several outcomes (evaluate's, one per model) go in one write.
        """
        self.hook.log_batch(pipeline_run_id, tags=outcome_tags(*outcomes))

    def _what_changed(self, key: StepKey, like: str | None = None) -> str:
        """Why no earlier result fits: the newest earlier key of this step (``like`` it), compared field by field."""
        clause = f"tags.`{tag.cache_key(key.step)}` LIKE '%'" + (f" and {like}" if like else "")
        for run in self._earlier_runs(clause, 1):
            entry = self._entry(run, key.step)
            stored = entry.get("key") if isinstance(entry, dict) else None
            try:
                earlier = StepKey.model_validate(stored)
            except ValueError:
                return f"the newest earlier result ({_dag_run(run)}) has no readable key"
            return f"since {_dag_run(run)}: {miss_reason(earlier, key)}"
        return "no earlier run of this pipeline computed it"

    def _entry(self, run: Run, step: str) -> object | None:
        return self.hook.read_json(run.info.run_id, paths.cache_entry(step), artifact_uri=run.info.artifact_uri)

    def _earlier_runs(self, clause: str, limit: int) -> list[Run]:
        clauses = [
            f"tags.`{tag.DAG_ID}` = {filter_literal(self.dag_id)}",
            f"tags.`{tag.RUN_ID}` != {filter_literal(self.run_id)}",
            clause,
        ]
        return list(
            self.hook.get_client().search_runs(
                [self.experiment_id],
                filter_string=" and ".join(clauses),
                order_by=["attributes.start_time DESC"],
                max_results=limit,
            )
        )


def outcome_tags(*outcomes: CacheOutcome) -> dict[str, str]:
    """The pipeline run's tags that say what each step's look-up found, for a step to write with its own record."""
    return {tag.cache_outcome(outcome.step): tag.clip(outcome.to_json()) for outcome in outcomes}


def model_intact(hook: MlflowHook) -> Verify:
    """A check that a reused candidate's model is still in the store: its MLmodel file can be listed."""

    def problem(result: Mapping[str, Any]) -> str | None:
        from mlflow.exceptions import MlflowException

        from airflow_mlops.hooks.mlflow import logged_model_id

        uri = str(result.get("model_uri") or "")
        model_id = logged_model_id(uri)
        if model_id is None:
            return f"its model URI {uri!r} is not a logged model"
        try:
            files = hook.get_client().list_logged_model_artifacts(model_id)
        except (MlflowException, OSError) as err:
            return f"its model {uri} cannot be listed ({type(err).__name__}: {err})"
        if not any(f.path.rsplit("/", 1)[-1] == "MLmodel" for f in files):
            return f"its model {uri} has no MLmodel file any more (deleted)"
        return None

    return problem


def _entry_problem(entry: object, digest: str, verify: Verify | None) -> str | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("result"), dict):
        return "its cache entry is missing or unreadable"
    try:
        stored = StepKey.model_validate(entry.get("key"))
    except ValueError:
        return "its cache entry holds no valid key"
    if stored.digest != digest:
        return "its cache entry does not match the key it is filed under (the record was edited)"
    return verify(entry["result"]) if verify is not None else None


def _dag_run(run: Run) -> str:
    return str(run.data.tags.get(tag.RUN_ID, run.info.run_id))


def _duration(seconds: float) -> str:
    if seconds >= 86_400:
        return f"{seconds / 86_400:.1f}d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 60:.0f}m"
