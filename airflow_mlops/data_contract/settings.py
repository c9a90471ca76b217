"""The thresholds and switches of the built-in checks, as the pipeline YAML sets them (``data.checks``)."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

from airflow_mlops.data_contract.vocabulary import (
    DEFAULT_ID_MAX_UNIQUE_RATIO,
    DEFAULT_ID_MIN_UNIQUE,
    DEFAULT_LEAKAGE_ACCURACY,
    DEFAULT_LEAKAGE_CORRELATION,
    DEFAULT_LEAKAGE_SAMPLE_ROWS,
    DEFAULT_NUMERIC_TEXT_RATIO,
)


class CheckSettings(BaseModel):
    """The knobs of :func:`~airflow_mlops.data_contract.checks.check_frame`; the field names match the YAML's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: bool = True
    leakage: bool = True
    id_like: bool = True
    min_rows_per_class: int | None = Field(None, ge=1)
    leakage_accuracy: float = Field(DEFAULT_LEAKAGE_ACCURACY, gt=0.5, le=1)
    leakage_correlation: float = Field(DEFAULT_LEAKAGE_CORRELATION, gt=0, le=1)
    leakage_sample_rows: int = Field(DEFAULT_LEAKAGE_SAMPLE_ROWS, ge=100)
    id_max_unique_ratio: float = Field(DEFAULT_ID_MAX_UNIQUE_RATIO, gt=0, le=1)
    id_min_unique: int = Field(DEFAULT_ID_MIN_UNIQUE, ge=1)
    numeric_text_ratio: float = Field(DEFAULT_NUMERIC_TEXT_RATIO, gt=0, le=1)


class SplitSettings(BaseModel):
    """How the data will be cut, so the checks can tell whether every class survives the cut."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    test_size: float = Field(0.2, gt=0, lt=1)
    stratify: bool = True
    cv_folds: int | None = Field(None, ge=2)

    def rows_per_class(self, configured: int | None) -> int:
        """The fewest rows a class needs: two to stratify, enough to expect one test row, one per CV fold.

        ``ceil(1 / test_size)`` rows give the class, on average, one row in the test set;
        below that the gate judges the class on nothing. A configured minimum can only
        raise this floor: below it the split itself fails.
        """
        floor = max(2, math.ceil(1 / self.test_size - 1e-9), self.cv_folds or 0)
        return max(floor, configured or 0)
