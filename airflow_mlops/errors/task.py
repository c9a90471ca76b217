"""Errors raised while a task runs; the base class tells Airflow whether a retry can help."""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_mlops.errors.config import MlopsException


class MlopsError(MlopsException, AirflowException):
    """A task error that may be transient (network, server): Airflow retries it with the task's backoff."""


class PermanentError(AirflowFailException, MlopsError):
    """A task error a retry cannot fix: Airflow fails the task at once instead of spending its retries."""


class TransientError(MlopsError):
    """A failure a later try may not meet (a server down, a locked database): Airflow's backoff retries it."""


class LibraryError(PermanentError):
    """A library refused this input (scikit-learn, pandas, MLflow's 4xx): the same input fails the same way."""


class ConfigurationError(PermanentError):
    """A connection or setting the task needs is missing or malformed."""


class DataVersionError(PermanentError):
    """The pinned data cannot be resolved: unknown rev, missing file, unreachable DVC remote."""


class SourceError(PermanentError):
    """The data source refused the extract (a bad query, a missing table or file, an empty result)."""


class SourceUnavailableError(TransientError):
    """The data source could not be reached or dropped the connection mid-extract; a retry starts over."""


class DataValidationError(PermanentError):
    """The data failed its validation suite; training must not start."""


class DataContractError(PermanentError):
    """The data breaks the pipeline's contract (duplicate headers, schema drift, a bad target, leakage)."""


class GateRejectedError(PermanentError):
    """The gate rejected the challenger and the pipeline asked to fail on rejection."""


class ServingCheckError(PermanentError):
    """The gate's winner, served by a real model server, failed its serving check; nothing is registered."""


class ModelServerError(PermanentError):
    """The model server exited before it answered: this model cannot be served in this environment."""


class DeploymentSmokeError(PermanentError):
    """The new champion, deployed, failed its smoke check at the endpoint (and was rolled back if the YAML says so)."""


class DeploymentRolledBackError(DeploymentSmokeError):
    """A breach during the bake (or a failed rollout) rolled the endpoint and ``@champion`` back to the previous one."""


class PromotionConflictError(PermanentError):
    """The champion moved after the gate compared against it; promoting now would be blind."""


class UntrustedModelError(PermanentError):
    """A model to load is not one this DAG run logged to MLflow; it is refused, never unpickled."""


class NoChampionError(PermanentError):
    """The alias names no version yet: only a retraining run can fix that, so retrying is pointless."""


class GovernanceError(MlopsError):
    """A governance request that cannot be carried out as asked; the message says why."""


class PromotionRefusedError(GovernanceError):
    """The promotion or rollback was refused; ``@champion`` was not touched."""


class NotFoundError(GovernanceError):
    """The registered model, version, alias or page named does not exist.

    ``title`` is what the UI shows as the page's heading; the message names only what was asked for.
    """

    def __init__(self, message: str, *, title: str = "Not found") -> None:
        super().__init__(message)
        self.title = title
        self.message = message


class PromotionLockTimeout(MlopsError):
    """Another promotion held the lock for longer than we were willing to wait."""


class DeploymentError(MlopsError):
    """A deployment could not be carried out as asked (an endpoint missing or already there, a port taken)."""


class AlertDeliveryError(MlopsError):
    """An alert (a missed deadline, a champion too old) could not be delivered to one or more notifiers.

    ``targets`` names every notifier that failed, in the order configured; the others were told.
    """

    def __init__(self, message: str, *, targets: list[str]) -> None:
        super().__init__(message)
        self.targets = list(targets)


class MlflowUnavailableError(MlopsError):
    """MLflow could not be read; the message names only the error type, never a URI or credential."""
