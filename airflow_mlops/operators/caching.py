"""What the steps that reuse earlier results share: their arguments, the per-run override, the lookup.

A step computes its key whether or not it may reuse a result, because the steps downstream
include it in theirs. With caching on it looks for an earlier result, says on the pipeline run
whether it reused one (and why not), and files what it computed for the runs after it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_mlops.hooks.step_cache import StepCache
from airflow_mlops.record.cache import CacheOutcome

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_mlops.hooks.mlflow import MlflowHook
    from airflow_mlops.hooks.step_cache import Verify
    from airflow_mlops.record.cache import StepKey

#: The DAG param that makes one run compute every step afresh: ``airflow dags trigger --conf '{"no_cache": true}'``.
NO_CACHE_PARAM = "no_cache"


def turned_off_for_run(context: Context) -> bool:
    """True when this DAG run was triggered with ``no_cache``: it reuses nothing (it still files its results)."""
    params = context.get("params") or {}
    return bool(params.get(NO_CACHE_PARAM, False))


def look_up(
    hook: MlflowHook,
    where: tuple[str, str, str, str],
    key: StepKey,
    *,
    context: Context,
    expire_after_seconds: float | None,
    verify: Verify | None = None,
) -> tuple[StepCache, CacheOutcome]:
    """The earlier result under ``key`` (or why there is none), noted on the pipeline run.

    ``where`` is (experiment id, pipeline run id, dag id, run id). Call inside ``hook.session()``.
    """
    experiment_id, pipeline_run, dag_id, run_id = where
    cache = StepCache(hook, experiment_id, dag_id, run_id)
    if turned_off_for_run(context):
        outcome = CacheOutcome(key.step, False, f"caching is off for this run (params.{NO_CACHE_PARAM})", key.digest)
    else:
        outcome = cache.lookup(key, max_age_seconds=expire_after_seconds, verify=verify)
    cache.note(pipeline_run, outcome)
    return cache, outcome
