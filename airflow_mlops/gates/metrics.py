"""The metrics the pipeline knows how to compute, and which way is better for each.

Kept free of sklearn so the spec validator can check metric names at parse time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

Direction = Literal["higher", "lower"]
Problem = Literal["classification", "regression"]

CLASSIFICATION_METRICS: dict[str, Direction] = {
    "accuracy": "higher",
    "precision": "higher",
    "recall": "higher",
    "f1": "higher",
    "roc_auc": "higher",
    "log_loss": "lower",
}

REGRESSION_METRICS: dict[str, Direction] = {
    "r2": "higher",
    "rmse": "lower",
    "mae": "lower",
}

METRICS_BY_PROBLEM: dict[Problem, dict[str, Direction]] = {
    "classification": CLASSIFICATION_METRICS,
    "regression": REGRESSION_METRICS,
}


def direction_of(metric: str, problem: Problem) -> Direction:
    """Which way is better for ``metric``; raises KeyError naming the known metrics."""
    known = METRICS_BY_PROBLEM[problem]
    if metric not in known:
        raise KeyError(f"unknown {problem} metric {metric!r}; known metrics: {', '.join(sorted(known))}")
    return known[metric]


def slice_key(metric: str, column: str, value: object) -> str:
    """The name a metric computed on one slice of the test set is stored under: ``recall[region=north]``."""
    return f"{metric}[{column}={value}]"


def slice_keys(metrics: Iterable[str], metric: str, column: str) -> list[str]:
    """Every slice of ``column`` for which ``metric`` was computed, in a stable order."""
    prefix = f"{metric}[{column}="
    return sorted(k for k in metrics if k.startswith(prefix) and k.endswith("]"))
