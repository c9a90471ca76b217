"""Domain failures, each a one-line reason an on-call engineer can act on.

They subclass AirflowFailException where retrying cannot help (bad data stays bad), so
Airflow fails the task at once instead of spending its retries.
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowException, AirflowFailException


class MlopsError(AirflowException):
    """Base class for airflow-mlops errors that may be transient (network, server)."""


class DataVersionError(AirflowFailException):
    """The pinned data cannot be resolved: unknown rev, missing file, unreachable DVC remote."""


class DataValidationError(AirflowFailException):
    """The data failed its validation suite; training must not start."""


class GateRejectedError(AirflowFailException):
    """The gate rejected the challenger and the pipeline asked to fail on rejection."""


class PromotionConflictError(AirflowFailException):
    """The champion moved after the gate compared against it; promoting now would be blind."""


class ConfigurationError(AirflowFailException):
    """A connection or setting the task needs is missing or malformed."""


class UntrustedModelError(AirflowFailException):
    """A model to load is not one this DAG run logged to MLflow; it is refused, never unpickled."""
