"""Every error airflow-mlops raises, in one hierarchy rooted at :class:`MlopsException`.

Two families, because they live at different times:

- **Configuration errors** (:mod:`airflow_mlops.errors.config`) are raised while a pipeline file is
  read: in the DAG processor, in ``airflow-mlops validate`` and in editors. They point at file,
  line and field, and importing them costs nothing (no Airflow), since ``validate`` runs in
  milliseconds.
- **Task errors** (:mod:`airflow_mlops.errors.task`) are raised while a task runs. Their base
  class tells Airflow whether a retry can help: :class:`~airflow_mlops.errors.task.PermanentError`
  subclasses ``AirflowFailException`` (bad data stays bad, a rejected gate stays rejected), while
  :class:`~airflow_mlops.errors.task.MlopsError` subclasses ``AirflowException`` and is retried
  with the task's backoff (a server that was down may be up again).

Library exceptions raised inside an operator are translated into these classes in one place,
:func:`airflow_mlops.errors.translate.translate` (applied by every operator's ``execute``), so
a ValueError from scikit-learn fails once instead of spending the task's retries.

Importing a task error from this package loads Airflow on first use only, so
``from airflow_mlops.errors import DataValidationError`` is cheap at parse time.

::

    MlopsException
    ├── PipelineConfigError (ValueError)          a pipeline file is invalid; every issue at once
    │   └── PipelineNotLoaded                     a loader's import error, naming the pipelines
    ├── SpecValueError (ValueError)               a spec validator's refusal, with a hint
    ├── UnknownExpectationError (ValueError)      a suite names an expectation GX does not ship
    ├── DriftInputError (ValueError)              two samples cannot be compared as asked
    └── MlopsError (AirflowException)             retried: may be transient
        ├── GovernanceError                       a promote/rollback request cannot be done as asked
        │   ├── PromotionRefusedError             refused; @champion untouched
        │   └── NotFoundError                     the model, version, alias or page does not exist
        ├── PromotionLockTimeout                  another promotion held the lock too long
        ├── MlflowUnavailableError                MLflow could not be read (UI)
        ├── DeploymentError                       a deployment could not be carried out as asked
        ├── AlertDeliveryError                    an SLA alert did not reach a notifier (named)
        ├── TransientError                        a server down, a locked database: retried with backoff
        │   └── SourceUnavailableError            a data source unreachable or lost mid-extract
        └── PermanentError (AirflowFailException) never retried
            ├── LibraryError                      a library refused the input (a ValueError, MLflow's 4xx)
            ├── ConfigurationError                a connection or setting is missing or malformed
            ├── DataVersionError                  the pinned data cannot be resolved or read
            ├── SourceError                       a source refused the extract: bad query, no table, no rows
            ├── DataValidationError               the data failed its suite
            ├── DataContractError                 the data breaks the contract: headers, schema, target, leakage
            ├── GateRejectedError                 the gate rejected and the pipeline fails on rejection
            ├── ServingCheckError                 the winner, served for real, failed its serving check
            ├── ModelServerError                  the model server exited before it answered
            ├── DeploymentSmokeError              the deployed champion failed its smoke check at the endpoint
            │   └── DeploymentRolledBackError     ... or breached during the bake, and was rolled back
            ├── PromotionConflictError            the champion moved after the gate compared against it
            ├── UntrustedModelError               a model this DAG run did not log is refused
            └── NoChampionError                   the alias names no version yet
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_mlops.errors.config import (
    ConfigIssue,
    DriftInputError,
    MlopsException,
    PipelineConfigError,
    PipelineNotLoaded,
    SpecValueError,
    UnknownExpectationError,
)

if TYPE_CHECKING:
    from airflow_mlops.errors.task import (
        AlertDeliveryError,
        ConfigurationError,
        DataContractError,
        DataValidationError,
        DataVersionError,
        DeploymentError,
        DeploymentRolledBackError,
        DeploymentSmokeError,
        GateRejectedError,
        GovernanceError,
        LibraryError,
        MlflowUnavailableError,
        MlopsError,
        ModelServerError,
        NoChampionError,
        NotFoundError,
        PermanentError,
        PromotionConflictError,
        PromotionLockTimeout,
        PromotionRefusedError,
        ServingCheckError,
        SourceError,
        SourceUnavailableError,
        TransientError,
        UntrustedModelError,
    )

__all__ = [
    "AlertDeliveryError",
    "ConfigIssue",
    "ConfigurationError",
    "DataContractError",
    "DataValidationError",
    "DataVersionError",
    "DeploymentError",
    "DeploymentRolledBackError",
    "DeploymentSmokeError",
    "DriftInputError",
    "GateRejectedError",
    "GovernanceError",
    "LibraryError",
    "MlflowUnavailableError",
    "MlopsError",
    "MlopsException",
    "ModelServerError",
    "NoChampionError",
    "NotFoundError",
    "PermanentError",
    "PipelineConfigError",
    "PipelineNotLoaded",
    "PromotionConflictError",
    "PromotionLockTimeout",
    "PromotionRefusedError",
    "ServingCheckError",
    "SourceError",
    "SourceUnavailableError",
    "SpecValueError",
    "TransientError",
    "UnknownExpectationError",
    "UntrustedModelError",
]

#: Defined in errors/task.py, which imports Airflow: loaded on first use.
_TASK_ERRORS = frozenset(__all__) - set(dir())


def __getattr__(name: str) -> Any:
    if name not in _TASK_ERRORS:
        raise AttributeError(f"module 'airflow_mlops.errors' has no attribute {name!r}")
    from airflow_mlops.errors import task

    return getattr(task, name)
