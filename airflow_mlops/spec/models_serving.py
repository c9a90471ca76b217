"""The ``serving_check:`` section: the gate's winner answers in a real model server before it is registered.

Annotations are evaluated as the classes are defined (no ``from __future__ import
annotations``): pydantic would otherwise compile each one from its string and evaluate it,
at every import, and every DAG file that loads a pipeline imports this module.
"""

from typing import Literal, Self

from pydantic import Field, model_validator

from airflow_mlops.errors import SpecValueError
from airflow_mlops.spec.models_base import StrictModel

MalformedRequest = Literal["missing_column", "wrong_type", "empty_batch"]


def _every_malformed_request() -> list[MalformedRequest]:
    return ["missing_column", "wrong_type", "empty_batch"]


class ParitySpec(StrictModel):
    """How close the served predictions must be to the ones ``evaluate`` made on the same rows."""

    absolute: float = Field(1e-6, ge=0, description="Regression: largest absolute difference allowed per row.")
    relative: float = Field(1e-6, ge=0, description="Regression: largest relative difference allowed per row.")
    min_label_match: float = Field(
        1.0, gt=0, le=1, description="Classification: share of served labels that must equal the offline ones."
    )


class ServingCheckSpec(StrictModel):
    """Load the gate's winner in MLflow's scoring server on 127.0.0.1 and send it the pinned test rows.

    A failure registers nothing and moves no alias. It costs one server start (a few seconds on
    two cores) per run whose gate passed; ``enabled: false`` removes the step.
    """

    enabled: bool = True
    rows: int = Field(200, ge=1, le=10_000, description="Test rows sent in one batch and compared with evaluate's.")
    parity: ParitySpec = Field(default_factory=ParitySpec)
    max_p95_ms: float = Field(500, gt=0, le=600_000, description="p95 latency limit of single-row requests.")
    latency_requests: int = Field(30, ge=1, le=10_000, description="Single-row requests timed for the p95.")
    malformed_requests: list[MalformedRequest] = Field(
        default_factory=_every_malformed_request,
        description="Malformed requests sent; each must be refused with a 4xx (an empty batch may get 0 predictions).",
    )
    startup_timeout_seconds: float = Field(
        120, gt=0, le=3600, description="How long the server may take to answer /ping."
    )
    request_timeout_seconds: float = Field(30, gt=0, le=3600, description="How long one request may take.")

    @model_validator(mode="after")
    def _distinct_requests(self) -> Self:
        repeated = sorted({r for r in self.malformed_requests if self.malformed_requests.count(r) > 1})
        if repeated:
            raise SpecValueError(
                f"malformed_requests lists {', '.join(repeated)} more than once",
                "list each of missing_column, wrong_type, empty_batch at most once",
            )
        return self
