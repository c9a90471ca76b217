"""The model card of one registered version, as data.

Everything on it except the ``card:`` section comes from the record ``register`` already writes:
the version's lineage (data pin, validation, training, metrics, gate verdict, approval, code), so
a card can be rebuilt from the registry alone and never says what the record does not. Slice
metrics are the ones ``evaluate`` computed for the gate's ``slice_by`` columns; the gap between
the worst and the best slice is computed here from them (see :mod:`airflow_mlops.gates.slices`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from airflow_mlops.gates.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS, Direction, split_slice_key
from airflow_mlops.gates.slices import slice_columns, slice_spread
from airflow_mlops.record.lineage import DataLineage, VersionLineage

#: Which way is better for each metric the pipeline computes (names do not overlap between problems).
_DIRECTIONS: dict[str, Direction] = {**CLASSIFICATION_METRICS, **REGRESSION_METRICS}
#: The order metrics are shown in; others follow alphabetically.
_ORDER = ("f1", "roc_auc", "accuracy", "precision", "recall", "log_loss", "r2", "rmse", "mae")


class _Card(BaseModel):
    model_config = ConfigDict(frozen=True)


class Purpose(_Card):
    """The ``card:`` section of the YAML: what only the owners can say."""

    intended_use: str = ""
    owners: list[str] = []
    out_of_scope: str = ""
    limitations: str = ""
    ethical_considerations: str = ""


class SliceTable(_Card):
    """The metrics on every slice of one column of the test set."""

    column: str
    metrics: list[str]
    rows: list[tuple[str, dict[str, float]]]


class SliceGap(_Card):
    """One metric over one column: the worst slice against the best, and how far apart they are."""

    metric: str
    column: str
    worst: str
    worst_value: float
    best: str
    best_value: float
    gap: float


class GateLine(_Card):
    rule: str
    passed: bool
    reason: str


class ModelCard(_Card):
    """A registered version's card; ``model_dump()`` is what ``register`` stores as ``model_card.json``."""

    model_name: str
    version: str
    purpose: Purpose = Purpose()
    dag_id: str | None = None
    run_id: str | None = None
    data: DataLineage = DataLineage()
    validation_success: bool | None = None
    validation: dict[str, Any] = {}
    candidate: str | None = None
    estimator: str | None = None
    params: dict[str, Any] = {}
    training_run_id: str | None = None
    n_test: int | None = None
    metrics: dict[str, float] = {}
    slices: list[SliceTable] = []
    gaps: list[SliceGap] = []
    gate_decision: str | None = None
    gate_summary: str | None = None
    gate_rules: list[GateLine] = []
    champion_version: str | None = None
    approval: dict[str, str] = {}
    code: dict[str, str] = {}

    @property
    def widest_gap(self) -> SliceGap | None:
        return max(self.gaps, key=lambda g: g.gap, default=None)


def _ordered(names: list[str]) -> list[str]:
    return sorted(names, key=lambda m: (_ORDER.index(m) if m in _ORDER else len(_ORDER), m))


def _numbers(metrics: Any) -> dict[str, float]:
    if not isinstance(metrics, Mapping):
        return {}
    return {str(k): float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _slices(metrics: Mapping[str, float]) -> tuple[list[SliceTable], list[SliceGap]]:
    tables, gaps = [], []
    for column in slice_columns(metrics):
        by_value: dict[str, dict[str, float]] = {}
        for key, value in metrics.items():
            parts = split_slice_key(key, column)
            if parts is not None:
                by_value.setdefault(parts[1], {})[parts[0]] = value
        names = _ordered(sorted({m for row in by_value.values() for m in row}))
        tables.append(SliceTable(column=column, metrics=names, rows=sorted(by_value.items())))
        for metric in names:
            spread = slice_spread(metrics, metric, column, _DIRECTIONS.get(metric, "higher"))
            if spread is not None:
                gaps.append(
                    SliceGap(
                        metric=metric, column=column, worst=spread.worst, worst_value=spread.worst_value,
                        best=spread.best, best_value=spread.best_value, gap=spread.gap,
                    )
                )  # fmt: skip
    return tables, gaps


def _validation(statistics: Any) -> dict[str, Any]:
    keys = ("evaluated_expectations", "successful_expectations", "success_percent")
    return {k: statistics.get(k) for k in keys} if isinstance(statistics, Mapping) else {}


def build_card(
    model_name: str, version: str, lineage: VersionLineage, purpose: Mapping[str, Any] | None = None
) -> ModelCard:
    """The card of ``model_name`` ``version`` from its recorded lineage and the YAML's ``card:`` section."""
    metrics = _numbers(lineage.metrics)
    verdict = lineage.gate.verdict if isinstance(lineage.gate.verdict, Mapping) else {}
    tables, gaps = _slices(metrics)
    outcomes = verdict.get("outcomes") or []
    return ModelCard(
        model_name=model_name,
        version=str(version),
        purpose=Purpose(**{k: v for k, v in (purpose or {}).items() if k in Purpose.model_fields}),
        dag_id=lineage.dag_id,
        run_id=lineage.run_id,
        data=lineage.data,
        validation_success=lineage.validation.success,
        validation=_validation(lineage.validation.statistics),
        candidate=lineage.training.candidate,
        estimator=lineage.training.estimator,
        params=lineage.training.params if isinstance(lineage.training.params, dict) else {},
        training_run_id=lineage.training.run_id,
        n_test=int(verdict["n_test"]) if isinstance(verdict.get("n_test"), int) else None,
        metrics={k: metrics[k] for k in _ordered([k for k in metrics if "[" not in k])},
        slices=tables,
        gaps=sorted(gaps, key=lambda g: (-g.gap, g.column, g.metric)),
        gate_decision=lineage.gate.decision,
        gate_summary=lineage.gate.summary,
        gate_rules=[
            GateLine(rule=str(o.get("rule")), passed=bool(o.get("passed")), reason=str(o.get("reason")))
            for o in outcomes
            if isinstance(o, Mapping)
        ],
        champion_version=lineage.gate.champion_version,
        approval=dict(lineage.approval),
        code=dict(lineage.code),
    )
