"""``cache:``: which steps may reuse an earlier run's result, and for how long.

Annotations are evaluated as the classes are defined (see models_common.py for why).
"""

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from airflow_mlops.errors import SpecValueError
from airflow_mlops.spec.models_base import StrictModel

#: The steps that can reuse an earlier result, in run order (docs/caching.md).
CACHEABLE_STEPS = ("validate_data", "prepare_data", "train", "evaluate")
CacheableStep = Literal["validate_data", "prepare_data", "train", "evaluate"]
_SECONDS = {"m": 60, "h": 3600, "d": 86_400}
_DURATION = re.compile(r"[0-9]+(\.[0-9]+)?[mhd]")


def check_duration(value: str) -> str:
    if not _DURATION.fullmatch(value):
        raise SpecValueError(
            f"{value!r} is not a duration", "a number and a unit: 90m (minutes), 12h (hours), 7d (days)"
        )
    return value


#: A duration: a number and a unit, minutes, hours or days (``90m``, ``12h``, ``7d``).
Duration = Annotated[str, AfterValidator(check_duration), Field(examples=["90m", "12h", "7d"])]


def duration_seconds(value: str) -> float:
    """``"7d"`` -> 604800.0."""
    return float(value[:-1]) * _SECONDS[value[-1]]


class StepCacheSpec(StrictModel):
    """One step's own setting; what it leaves out comes from the pipeline's."""

    enabled: bool | None = Field(None, description="Reuse this step's earlier results; default: the pipeline's.")
    expire_after: Duration | None = Field(
        None, description="Reuse only results younger than this (90m, 12h, 7d); default: the pipeline's."
    )


class CacheSpec(StrictModel):
    """Reuse a step's earlier result when its inputs, its part of this file and its code are unchanged.

    The steps: the validation, the split, each candidate's model, and each model's test scores.
    """

    enabled: bool = Field(
        True,
        description="Reuse earlier results whose key matches (the data's md5, the step's settings, library "
        "versions, the upstream steps' keys); a run triggered with params.no_cache reuses nothing.",
    )
    expire_after: Duration | None = Field(
        None, description="Reuse only results younger than this (90m, 12h, 7d); none: no age limit."
    )
    steps: dict[CacheableStep, StepCacheSpec] = Field(
        default_factory=dict,
        description="Per-step settings: {train: {expire_after: 7d}, validate_data: {enabled: false}}.",
    )

    def for_step(self, step: CacheableStep) -> tuple[bool, float | None]:
        """(enabled, max age in seconds or None) for ``step``: its own setting over the pipeline's."""
        own = self.steps.get(step, StepCacheSpec())
        enabled = self.enabled if own.enabled is None else own.enabled
        expire = own.expire_after or self.expire_after
        return enabled, duration_seconds(expire) if expire else None
