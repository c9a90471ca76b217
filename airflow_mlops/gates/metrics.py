"""The metrics the pipeline knows how to compute, and which way is better for each.

Kept free of sklearn so the spec validator can check metric names at parse time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any, Literal

Direction = Literal["higher", "lower"]
Problem = Literal["classification", "regression"]
#: How a multiclass problem's per-class scores are combined (scikit-learn's ``average``).
Average = Literal["macro", "weighted", "micro"]
#: The classification metrics computed per class and then combined by ``Average`` (or, for two
#: classes, taken for the positive class).
AVERAGED_METRICS = frozenset({"precision", "recall", "f1", "roc_auc"})

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


def split_slice_key(key: str, column: str) -> tuple[str, str] | None:
    """``(metric, value)`` of a slice key of ``column`` (``recall[region=north]``), or None for any other key."""
    metric, bracket, rest = key.partition("[")
    prefix = f"{column}="
    if not bracket or not rest.endswith("]") or not rest.startswith(prefix):
        return None
    return metric, rest[len(prefix) : -1]


def slice_specs(rules: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The columns gate rules (as the spec serialises them) slice on, each with the smallest slice judged."""
    wanted = {(str(r["slice_by"]), int(r.get("min_slice_rows", 10))) for r in rules if r.get("slice_by")}
    return [{"column": column, "min_rows": rows} for column, rows in sorted(wanted)]


# What MLflow accepts in a metric name on every backend and OS is narrower than what a slice
# key holds (brackets, ``=``, any character of a category value), and a SQL store cuts keys at
# 250 characters. Slice metrics are therefore logged under a name of their own.
MLFLOW_KEY_MAX_CHARS = 250
_NAME_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_EMPTY_PART = ".-"
_DIGEST_CHARS = 16


def _name_part(text: str) -> str:
    """``text`` with every character but ASCII letters, digits, ``_`` and ``-`` written as ``.xx`` per UTF-8 byte.

    The escape keeps names reversible: ``.`` only ever starts an escape and ``/`` only ever
    separates parts, so two different slices cannot share a name.
    """
    if not text:
        return _EMPTY_PART
    return "".join(ch if ch in _NAME_SAFE else "".join(f".{b:02x}" for b in ch.encode()) for ch in text)


def slice_metric_name(metric: str, column: str, value: object, prefix: str = "test_") -> str:
    """The MLflow metric name of ``metric`` on one slice: ``test_slice/recall/segment/north``.

    Column and value are escaped by ``_name_part`` (``north east`` -> ``north.20east``, an empty
    value -> ``.-``). A name over MLflow's 250 characters is cut and ends in ``..`` plus 16 hex
    digits of the SHA-256 of the whole name; ``..`` never occurs in an uncut name. Whole-test-set
    metrics keep their plain ``test_<metric>`` names, which are never a prefix of these.
    """
    name = f"{prefix}slice/{metric}/{_name_part(column)}/{_name_part(str(value))}"
    if len(name) > MLFLOW_KEY_MAX_CHARS:
        digest = hashlib.sha256(name.encode()).hexdigest()[:_DIGEST_CHARS]
        name = f"{name[: MLFLOW_KEY_MAX_CHARS - _DIGEST_CHARS - 2]}..{digest}"
    return name


def mlflow_metric_names(metrics: Iterable[str], slice_columns: Iterable[str], prefix: str = "test_") -> dict[str, str]:
    """The MLflow name of each metric key: ``test_f1`` for ``f1``, ``slice_metric_name`` for slice keys.

    A key that reads as a slice of two columns (one column name containing ``=``) is named
    after the longer column.
    """
    columns = sorted(set(slice_columns), key=len, reverse=True)
    names: dict[str, str] = {}
    for key in metrics:
        names[key] = f"{prefix}{key}"
        for column in columns:
            parts = split_slice_key(key, column)
            if parts is not None:
                names[key] = slice_metric_name(parts[0], column, parts[1], prefix)
                break
    return names
