"""Cross-validated figures a gate rule may judge: a metric's mean over the folds, and its pessimistic bound.

A candidate's test score is one draw: a model can top the others on one lucky split. Its
cross-validation mean and standard deviation over the training folds say how it scores on
others. The **bound** is the mean moved one fold standard deviation towards worse, ``mean - std``
for a higher-is-better metric and ``mean + std`` for a lower-is-better one: a rule on it passes
only a model that is good *and* steady. One standard deviation, not a standard error
(``std / sqrt(folds)``): the folds share most of their training rows, so their scores are far
from independent and a standard error would claim a confidence the folds do not give.

Pure (no ML import), like the rest of gates/: the keys are the ones ml/cross_validation.py records.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from airflow_mlops.gates.metrics import Direction

CvFigure = Literal["mean", "bound"]
#: How many fold standard deviations the bound lies from the mean, towards worse.
BOUND_STDS = 1.0


def cv_key(metric: str, statistic: str) -> str:
    """The name a cross-validated statistic of ``metric`` is recorded under: ``cv_f1_mean``, ``cv_rmse_std``."""
    return f"cv_{metric}_{statistic}"


def cv_bound(mean: float, std: float, direction: Direction, stds: float = BOUND_STDS) -> float:
    """``mean`` moved ``stds`` standard deviations towards worse in ``direction``."""
    return mean - stds * std if direction == "higher" else mean + stds * std


def cv_figures(metrics: Mapping[str, float], metric: str, direction: Direction) -> dict[str, float]:
    """``{cv_<metric>_mean, cv_<metric>_bound}`` from the recorded mean and std; empty if they were not recorded."""
    mean, std = metrics.get(cv_key(metric, "mean")), metrics.get(cv_key(metric, "std"))
    if mean is None or std is None:
        return {}
    return {cv_key(metric, "mean"): mean, cv_key(metric, "bound"): cv_bound(mean, std, direction)}
