"""How far apart the slices of the test set are: the worst slice against the best, per metric.

The slice metrics themselves are computed once, by ``evaluate``, for every column a gate rule
slices on (``slice_by``); this reads them back from their keys (``recall[region=north]``). The
gap is what fairlearn's ``MetricFrame.difference()`` reports (max minus min over the groups), and
the worst and best slices say which groups they are. The model card shows it, and a
``max_slice_gap`` rule bounds it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from airflow_mlops.gates.metrics import Direction, split_slice_key


@dataclass(frozen=True)
class SliceGapRule:
    """``{metric: recall, slice_by: region, max_slice_gap: 0.1}``: best slice minus worst at most 0.1."""

    metric: str
    slice_by: str
    max_slice_gap: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.max_slice_gap) or self.max_slice_gap < 0:
            raise ValueError(f"max_slice_gap of {self.metric!r} must be a finite number >= 0")

    def describe(self) -> str:
        return f"{self.metric} gap between {self.slice_by} slices <= {self.max_slice_gap:g}"


@dataclass(frozen=True)
class SliceSpread:
    """One metric over the slices of one column: the worst and best slice and the gap between them."""

    metric: str
    column: str
    values: tuple[tuple[str, float], ...]
    worst: str
    best: str
    gap: float

    @property
    def worst_value(self) -> float:
        return dict(self.values)[self.worst]

    @property
    def best_value(self) -> float:
        return dict(self.values)[self.best]


def slice_values(metrics: Mapping[str, float], metric: str, column: str) -> dict[str, float]:
    """``{slice value: metric}`` for every slice of ``column`` with a finite ``metric``, in key order."""
    found: dict[str, float] = {}
    for key in sorted(metrics):
        parts = split_slice_key(key, column)
        value = metrics[key]
        if parts is not None and parts[0] == metric and isinstance(value, int | float) and math.isfinite(value):
            found[parts[1]] = float(value)
    return found


def slice_spread(metrics: Mapping[str, float], metric: str, column: str, direction: Direction) -> SliceSpread | None:
    """The worst and best slice of ``column`` for ``metric`` and their gap; None with fewer than two slices.

    "Worst" follows the metric's direction (the lowest recall, the highest rmse); ties keep the
    slices' key order, so the result is the same every time.
    """
    values = slice_values(metrics, metric, column)
    if len(values) < 2:
        return None
    ranked = sorted(values, key=lambda v: values[v] if direction == "higher" else -values[v])
    worst, best = ranked[0], ranked[-1]
    return SliceSpread(metric, column, tuple(values.items()), worst, best, abs(values[best] - values[worst]))


def slice_columns(metrics: Iterable[str]) -> list[str]:
    """The columns the metric keys were sliced on (``f1[region=north]`` -> ``region``), sorted."""
    columns = set()
    for key in metrics:
        _, bracket, rest = key.partition("[")
        if bracket and rest.endswith("]") and "=" in rest:
            columns.add(rest.split("=", 1)[0])
    return sorted(columns)
