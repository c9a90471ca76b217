"""What every airflow-mlops operator shares: who is running (DAG and run ids), MLflow access, typed inputs.

Also :class:`CandidateOperator`, what the two tasks that fit a candidate (``train`` and
``tune_<candidate>``) share: their arguments, how the candidate is fitted and its folds cut; and
what the steps that reuse earlier results share (:func:`look_up`, the ``no_cache`` DAG param).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Union, cast

from airflow.sdk import BaseOperator, Param

from airflow_mlops import settings
from airflow_mlops.errors.classify import is_transient
from airflow_mlops.errors.translate import ErrorScope, translate
from airflow_mlops.hooks.mlflow import MlflowHook
from airflow_mlops.hooks.step_cache import StepCache
from airflow_mlops.record.cache import CacheOutcome, StepKey
from airflow_mlops.registry_lock import LockOwner

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context, XComArg
    from pydantic import JsonValue

    from airflow_mlops.contracts import PreparedDataset
    from airflow_mlops.gates.metrics import Average, Problem
    from airflow_mlops.hooks.step_cache import Verify
    from airflow_mlops.lineage_events.build import LineageSpec

T = TypeVar("T")
#: A task input as the DAG passes it: the value itself, or the output of the task that produces it.
Upstream = Union[T, "XComArg"]  # a string: XComArg is only imported for type checking


def upstream(value: Upstream[T]) -> T:
    """A templated input as ``execute()`` sees it: the upstream task's return value.

    When the DAG is built the input is usually an ``XComArg``; Airflow renders every templated
    field before ``execute()`` runs, replacing it with what that task returned (its contract in
    airflow_mlops.contracts). The attribute is typed for ``execute()``, the only place it is read,
    and this is the one place that says so.
    """
    return cast("T", value)


def upstream_each(value: Upstream[Sequence[Upstream[T]]]) -> Sequence[T]:
    """:func:`upstream` for a list of inputs (one per upstream task) or one mapped task's outputs."""
    return cast("Sequence[T]", value)


def event_extra(record: Mapping[str, Any]) -> dict[str, JsonValue]:
    """A contract (or part of one) as an asset event's extra: a copy, since Airflow keeps the dict.

    Contracts hold JSON values only, which a TypedDict cannot promise mypy; XCom would refuse
    anything else before the event is stored.
    """
    return dict(record)


def run_identity(context: Context) -> tuple[str, str]:
    """(dag_id, run_id): the key every MLflow object of one pipeline run is tagged with."""
    dag_run = context["dag_run"]
    return str(dag_run.dag_id), str(dag_run.run_id)


def task_lock_owner(context: Context) -> LockOwner | None:
    """This task instance and try, so a retry can take over a registry lock its killed try left behind."""
    ti = context.get("ti")
    parts = [getattr(ti, name, None) for name in ("dag_id", "run_id", "task_id")]
    try_number = getattr(ti, "try_number", None)
    if not all(parts) or not isinstance(try_number, int):
        return None  # not a real task instance (a test harness): wait out the lease as before
    return LockOwner(f"airflow:{'/'.join(map(str, parts))}/{getattr(ti, 'map_index', -1)}", try_number)


#: The operator arguments that name a connection; a translated error names their values.
CONNECTION_ARGUMENTS = ("mlflow_conn_id", "dvc_conn_id")
#: The methods Airflow calls to run a task; their errors are translated (errors/translate.py).
TRANSLATED_METHODS = ("execute", "execute_complete")


class TranslatesErrors:
    """Every ``execute``/``execute_complete`` a subclass defines raises domain errors, not library ones.

    Wrapping happens once per class, when it is defined, so no operator has to remember it: a
    scikit-learn ValueError fails the task at once (a retry would fail the same way), a refused
    connection is retried, and both name the task's connections and tracking server.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in TRANSLATED_METHODS:
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "_translates_errors", False):
                setattr(cls, name, _translating(method))

    def error_scope(self) -> ErrorScope:
        """This task's connection ids, its tracking URI if already read, and the artifact root."""
        connections = tuple((arg, str(getattr(self, arg))) for arg in CONNECTION_ARGUMENTS if getattr(self, arg, None))
        hook = self.__dict__.get("mlflow_hook")
        uri = hook.known_tracking_uri if isinstance(hook, MlflowHook) else None
        try:
            root: str | None = settings.artifact_root()
        except Exception:  # the error being translated matters more than naming the root
            root = None
        return ErrorScope(connections=connections, tracking_uri=uri, artifact_root=root)


def _translating(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def run(self: TranslatesErrors, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as err:
            translated = translate(err, self.error_scope())
            if translated is err:
                raise
            raise translated from err

    run._translates_errors = True  # type: ignore[attr-defined]
    return run


class MlflowOperatorMixin:
    """Lazily builds the MLflow hook so constructing the operator at parse time costs nothing."""

    mlflow_conn_id: str

    @cached_property
    def mlflow_hook(self) -> MlflowHook:
        return MlflowHook(self.mlflow_conn_id)


class MlopsBaseOperator(TranslatesErrors, BaseOperator):
    """Marker base class (the UI plugin lists DAGs built from these operators); errors are translated.

    ``execute()`` says what the task read and wrote by setting ``lineage_report`` (built by
    ``airflow_mlops.lineage_events.build`` from its contracts); Airflow's OpenLineage provider, when
    installed and configured, then reports it through :meth:`get_openlineage_facets_on_complete`.
    """

    ui_color = "#e8f0fe"
    #: What this try read and wrote; None until execute() knows (the provider then reports none).
    lineage_report: LineageSpec | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage[Any, Any] | None:
        """Called by the OpenLineage provider after the task ends, failed tasks included (its fallback)."""
        if self.lineage_report is None:
            return None
        from airflow_mlops.lineage_events.emit import operator_lineage

        return operator_lineage(self.lineage_report)


class MlflowBaseOperator(MlflowOperatorMixin, MlopsBaseOperator):
    """An operator that talks to MLflow through the connection ``mlflow_conn_id``.

    The hook is built on first use (``mlflow_hook``), so constructing the operator at parse time
    reads no connection. Operator links find the tracking server through the same hook.
    """

    def __init__(self, *, mlflow_conn_id: str = MlflowHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mlflow_conn_id = mlflow_conn_id


class CandidateFailed(Exception):
    """The candidate's own code (build, fit, score, signature) raised ``error``: drop it."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class CandidateOperator(MlflowBaseOperator):
    """What the tasks that fit a candidate share: its arguments, how it is fitted, how folds are cut.

    ``train`` (operators/train.py) and ``tune_<candidate>`` (operators/tune.py) take the same arguments, so
    a tuning trial is fitted and scored the way the candidate itself is.
    """

    template_fields: Sequence[str] = ("dataset", "candidate")

    def __init__(
        self,
        *,
        dataset: Upstream[PreparedDataset],
        candidate: dict[str, Any],
        experiment: str,
        problem: Problem = "classification",
        average: Average = "macro",
        cv_folds: int = 0,
        cv_seed: int = 42,
        cv_stratified: bool | None = None,
        cv_group_by: str | None = None,
        cv_shuffle: bool = True,
        cv_n_jobs: int = 1,
        lineage: dict[str, str] | None = None,
        on_failure: Literal["drop", "fail"] = "fail",
        cache: bool = True,
        cache_expire_after_seconds: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset: PreparedDataset = upstream(dataset)
        self.candidate = candidate
        self.experiment = experiment
        self.problem: Problem = problem
        self.average: Average = average
        self.cv_folds = cv_folds
        self.cv_seed = cv_seed
        self.cv_stratified = cv_stratified
        self.cv_group_by = cv_group_by
        self.cv_shuffle = cv_shuffle
        self.cv_n_jobs = cv_n_jobs
        self.lineage = lineage or {}
        self.on_failure = on_failure
        #: Reuse a model an earlier DAG run trained under the same key (:func:`look_up`).
        self.cache = cache
        self.cache_expire_after_seconds = cache_expire_after_seconds
        self._started_run: str | None = None

    def cache_key(self) -> StepKey | None:
        """The split's key, this candidate's own part of the spec and the code that fits it; None without a split key.

        Only this candidate's settings are in it (not its resources, which place the task but
        do not change the model), so changing one candidate retrains that one alone.
        """
        from airflow_mlops.ml.code_versions import TRAINING_LIBRARIES, code_version, library_versions

        split_key = self.dataset.get("cache_key")
        if not split_key:
            return None
        candidate = {k: v for k, v in self.candidate.items() if k not in ("name", "resources")}
        libraries = [*TRAINING_LIBRARIES, *(["optuna"] if candidate.get("tuning") else [])]
        code = str(candidate.get("estimator") or candidate.get("trainer") or "")
        return StepKey(
            step=f"train.{self.candidate['name']}",
            spec={
                **candidate,
                "problem": self.problem,
                "average": self.average,
                "folds": self.fold_splitter(self.cv_folds) if self.cv_folds >= 2 else None,
            },
            versions={**library_versions(libraries), **code_version(code)},
            upstream={"prepare_data": str(split_key)},
        )

    def _candidate_step(self, step: Any) -> Any:
        """Run one step of the candidate's own code; under drop, its deterministic errors become CandidateFailed."""
        try:
            return step()
        except Exception as err:
            if self.on_failure == "drop" and not is_transient(err):
                raise CandidateFailed(err) from err
            raise

    def fold_splitter(self, folds: int) -> dict[str, Any]:
        """How the training split is cut into ``folds`` folds (ml/cross_validation.fold_rows)."""
        stratified = self.cv_stratified if self.cv_stratified is not None else self.problem == "classification"
        return {"folds": folds, "stratified": stratified, "group_by": self.cv_group_by,
                "shuffle": self.cv_shuffle, "seed": self.cv_seed}  # fmt: skip

    def fitter(self, features: Any, labels: Any, params: Mapping[str, Any] | None = None) -> Any:
        """A zero-argument callable that fits the candidate with ``params`` (default: its own)."""
        from airflow_mlops.ml.estimators import build_pipeline, fit_weighted, text_as_categories, train_with_function

        allowed = settings.allowed_import_prefixes()
        params = dict(self.candidate.get("params", {}) if params is None else params)
        class_weight = self.candidate.get("class_weight")
        if self.candidate.get("trainer"):
            trainer = self.candidate["trainer"]
            if class_weight is not None:
                params = {**params, "class_weight": class_weight}
            return lambda: train_with_function(
                trainer_path=trainer, params=params, features=features, labels=labels, allowed_prefixes=allowed
            )
        pipeline = build_pipeline(
            estimator_path=self.candidate["estimator"],
            params=params,
            preprocessing=self.candidate.get("preprocessing", {}),
            features=features,
            allowed_prefixes=allowed,
        )
        return lambda: fit_weighted(pipeline, text_as_categories(features), labels, class_weight)


# --- the fields a person fills in: the trigger form, the approval form --------------------------------

#: The JSON Schema dialect of our Params. Airflow checks a Param's schema against its dialect's metaschema at
#: every resolve, and a DAG resolves its params about thirty times when it is serialized (each task's copy,
#: compared and dumped). Against the default dialect (2020-12) one check costs about 0.2 ms, against draft-07
#: 0.05 ms: that was most of a factory DAG's serialization time. The keywords we use (type, title,
#: description) mean the same in both.
PARAM_DIALECT = "http://json-schema.org/draft-07/schema#"


def form_param(default: Any, *, description: str, **schema: Any) -> Param:
    """A Param for a form, with ``schema`` (``type``, ``title``...) checked in the cheaper dialect."""
    return Param(default, description=description, schema={"$schema": PARAM_DIALECT, **schema})


# --- step caching: the per-run override and the lookup every caching step makes ----------------------

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
    label: str | None = None,
    like: str | None = None,
    note: bool = True,
) -> tuple[StepCache, CacheOutcome]:
    """The earlier result under ``key`` (or why there is none), noted on the pipeline run.

    ``where`` is (experiment id, pipeline run id, dag id, run id). Call inside ``hook.session()``.
    ``label`` and ``like``: see :meth:`StepCache.lookup`. With ``note=False`` the caller notes the
    outcome itself (:meth:`StepCache.note`), with others in one write.
    """
    experiment_id, pipeline_run, dag_id, run_id = where
    cache = StepCache(hook, experiment_id, dag_id, run_id)
    if turned_off_for_run(context):
        reason = f"caching is off for this run (params.{NO_CACHE_PARAM})"
        outcome = CacheOutcome(label or key.step, False, reason, key.digest)
    else:
        outcome = cache.lookup(key, max_age_seconds=expire_after_seconds, verify=verify, label=label, like=like)
    if note:
        cache.note(pipeline_run, outcome)
    return cache, outcome
