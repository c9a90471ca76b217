"""The promotion gate as a pure function.

A gate decides whether a challenger may become the champion. The decision depends only on
numbers (candidate metrics, champion metrics, test-set size) and the rules in the pipeline
spec, so it lives here with no Airflow or MLflow import: the operator gathers the numbers,
this module decides, and the same verdict object is stored on the MLflow run, on the model
version and in XCom.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from airflow_mlops.gates.cv import CvFigure, cv_figures, cv_key
from airflow_mlops.gates.metrics import AVERAGED_METRICS, Direction, Problem, direction_of, slice_keys
from airflow_mlops.gates.slices import SliceGapRule, slice_spread
from airflow_mlops.gates.verdict import Decision, RuleOutcome, Verdict, unchanged

#: The verdict's record lives in gates/verdict.py; its names are re-exported for the gate's callers.
__all__ = [
    "ChampionRule", "Decision", "FirstRunPolicy", "Rule", "RuleOutcome", "ThresholdRule", "Verdict",
    "champion_bound", "decide", "select_best", "unchanged",
]  # fmt: skip


FirstRunPolicy = Literal["promote", "fail"]

# Metrics are floats computed by different code paths; without a little slack, a candidate
# exactly on the boundary (0.95 - 0.005) can fail on float rounding alone.
_EPSILON = 1e-9


@dataclass(frozen=True)
class ThresholdRule:
    """An absolute bound on a metric of the candidate, e.g. ``f1 >= 0.90``."""

    metric: str
    min: float | None = None
    max: float | None = None
    slice_by: str | None = None
    #: Judge the cross-validated mean or bound (gates/cv.py) instead of the test-set value.
    cv: CvFigure | None = None

    def __post_init__(self) -> None:
        if self.min is None and self.max is None:
            raise ValueError(f"threshold rule on {self.metric!r} needs min or max")

    def describe(self, direction: Direction = "higher") -> str:
        """The rule as a person reads it; a bound reads the same whichever way the metric improves."""
        parts = []
        if self.min is not None:
            parts.append(f"{self.metric} >= {self.min:g}")
        if self.max is not None:
            parts.append(f"{self.metric} <= {self.max:g}")
        return " and ".join(parts)


@dataclass(frozen=True)
class ChampionRule:
    """A bound relative to the current champion on the same test snapshot.

    ``max_drop`` tolerates that much worsening; ``min_gain`` demands that much improvement.
    With ``relative`` both are fractions of the champion's value instead of absolute amounts.
    "Worse" follows the metric's direction, so the same rule reads naturally for f1 and rmse.
    """

    metric: str
    max_drop: float | None = None
    min_gain: float | None = None
    relative: bool = False
    slice_by: str | None = None

    def __post_init__(self) -> None:
        if self.max_drop is not None and self.min_gain is not None:
            raise ValueError(f"champion rule on {self.metric!r} sets both max_drop and min_gain")

    def describe(self, direction: Direction = "higher") -> str:
        """Worse and better in the metric's own direction: rmse "may rise at most 2", f1 "drops at most 0.01"."""
        unit = " (relative)" if self.relative else ""
        if self.min_gain is not None:
            better = "gains at least {:g}{} over" if direction == "higher" else "falls at least {:g}{} below"
            return f"{self.metric} {better.format(self.min_gain, unit)} champion"
        worse = "drops at most {:g}{} below" if direction == "higher" else "may rise at most {:g}{} over"
        return f"{self.metric} {worse.format(self.max_drop or 0.0, unit)} champion"


Rule = ThresholdRule | ChampionRule | SliceGapRule


def _usable(value: float | None) -> bool:
    """A metric value the gate can compare; NaN and infinities mean the metric is broken."""
    return value is not None and math.isfinite(value)


def _better_or_equal(value: float, bound: float, direction: Direction) -> bool:
    if direction == "higher":
        return value >= bound - _EPSILON
    return value <= bound + _EPSILON


def _missing(metric: str, not_computable: Mapping[str, str], whose: str = "the candidate") -> str:
    """Why ``metric`` has no usable value: its recorded reason, or that it was never computed."""
    if metric in not_computable:
        suffix = "" if whose == "the candidate" else f" for {whose}"
        return f"{metric} not computable{suffix}: {not_computable[metric]}"
    return f"{metric} was not computed for {whose}"


def _check_threshold(
    rule: ThresholdRule, metrics: Mapping[str, float], not_computable: Mapping[str, str]
) -> RuleOutcome:
    value = metrics.get(rule.metric)

    def outcome(passed: bool, reason: str, bound: float | None) -> RuleOutcome:
        return RuleOutcome(rule.describe(), rule.metric, "threshold", value, None, bound, passed, reason)

    default_bound = rule.min if rule.min is not None else rule.max
    if not _usable(value):
        return outcome(False, _missing(rule.metric, not_computable), default_bound)
    assert value is not None
    if rule.min is not None and value < rule.min - _EPSILON:
        return outcome(False, f"{rule.metric} {value:.4f} is below the minimum {rule.min:g}", rule.min)
    if rule.max is not None and value > rule.max + _EPSILON:
        return outcome(False, f"{rule.metric} {value:.4f} is above the maximum {rule.max:g}", rule.max)
    return outcome(True, f"{rule.metric} {value:.4f} is within bounds", default_bound)


def champion_bound(rule: ChampionRule, champion_value: float, direction: Direction) -> float:
    """The value the candidate must reach (or beat) given the champion's value."""
    amount = rule.min_gain if rule.min_gain is not None else -(rule.max_drop or 0.0)
    if rule.relative:
        amount *= abs(champion_value)
    return champion_value + amount if direction == "higher" else champion_value - amount


def _check_champion(
    rule: ChampionRule,
    metrics: Mapping[str, float],
    champion_metrics: Mapping[str, float] | None,
    direction: Direction,
    first_run_policy: FirstRunPolicy,
    not_computable: tuple[Mapping[str, str], Mapping[str, str]],
) -> RuleOutcome:
    value = metrics.get(rule.metric)
    champ = champion_metrics.get(rule.metric) if champion_metrics is not None else None

    def outcome(passed: bool, reason: str, bound: float | None = None) -> RuleOutcome:
        return RuleOutcome(rule.describe(direction), rule.metric, "champion", value, champ, bound, passed, reason)

    # The candidate's own value is checked before the first-run branch: a broken metric
    # must never be promoted, not even as the very first champion.
    if not _usable(value):
        return outcome(False, _missing(rule.metric, not_computable[0]))
    if champion_metrics is None:
        if first_run_policy == "promote":
            return outcome(True, "no champion yet; first_run policy is 'promote'")
        return outcome(False, "no champion to compare against and first_run policy is 'fail'")
    if not _usable(champ):
        if rule.metric in not_computable[1]:
            return outcome(False, _missing(rule.metric, not_computable[1], "the champion"))
        return outcome(False, f"{rule.metric} could not be computed for the champion on this test set")
    assert value is not None and champ is not None
    bound = champion_bound(rule, champ, direction)
    ok = _better_or_equal(value, bound, direction)
    cmp = ">=" if direction == "higher" else "<="
    verb = "meets" if ok else "misses"
    return outcome(ok, f"{rule.metric} {value:.4f} {verb} {cmp} {bound:.4f} (champion {champ:.4f})", bound)


def _check_slice_gap(rule: SliceGapRule, metrics: Mapping[str, float], direction: Direction) -> RuleOutcome:
    spread = slice_spread(metrics, rule.metric, rule.slice_by, direction)
    if spread is None:
        reason = f"fewer than two slices of {rule.slice_by} had enough test rows to compare {rule.metric}"
        return RuleOutcome(rule.describe(), rule.metric, "slice_gap", None, None, rule.max_slice_gap, False, reason)
    ok = spread.gap <= rule.max_slice_gap + _EPSILON
    reason = (
        f"{rule.metric} gap {spread.gap:.4f} between {rule.slice_by}={spread.worst} ({spread.worst_value:.4f}) and "
        f"{rule.slice_by}={spread.best} ({spread.best_value:.4f}) is {'within' if ok else 'above'} "
        f"the maximum {rule.max_slice_gap:g}"
    )
    return RuleOutcome(rule.describe(), rule.metric, "slice_gap", spread.gap, None, rule.max_slice_gap, ok, reason)


def decide(
    *,
    candidate: str,
    candidate_metrics: Mapping[str, float],
    champion_metrics: Mapping[str, float] | None,
    champion_version: str | None,
    rules: Sequence[Rule],
    problem: Problem,
    first_run_policy: FirstRunPolicy = "promote",
    n_test: int,
    min_test_rows: int = 0,
    candidate_not_computable: Mapping[str, str] | None = None,
    champion_not_computable: Mapping[str, str] | None = None,
    dropped: Mapping[str, str] | None = None,
    averaging: str | None = None,
) -> Verdict:
    """Apply every rule and promote only if all of them pass.

    ``champion_metrics`` is None when no champion exists yet (the first run); the
    ``first_run_policy`` then says whether champion-relative rules pass or fail. A metric named
    in ``*_not_computable`` (``{metric: reason}``) fails every rule on it with that reason.
    ``dropped`` (``{candidate: error}``) is only recorded: those candidates were never judged.
    ``averaging`` (``"weighted average over 3 classes"``) is added to the text of every rule on a
    metric combined over classes, so the verdict says what its f1 means.
    """
    missing = (candidate_not_computable or {}, champion_not_computable or {})
    outcomes: list[RuleOutcome] = []
    if min_test_rows:
        enough = n_test >= min_test_rows
        outcomes.append(
            RuleOutcome(
                f"test rows >= {min_test_rows}",
                "n_test",
                "sample_size",
                float(n_test),
                None,
                float(min_test_rows),
                enough,
                f"test set has {n_test} rows" + ("" if enough else f", fewer than the {min_test_rows} required"),
            )
        )
    for rule in rules:
        direction = direction_of(rule.metric, problem)
        if isinstance(rule, SliceGapRule):
            outcomes.append(_check_slice_gap(rule, candidate_metrics, direction))
            continue
        if isinstance(rule, ThresholdRule) and rule.cv is not None:
            figures = cv_figures(candidate_metrics, rule.metric, direction)
            outcomes.append(_check_threshold(replace(rule, metric=cv_key(rule.metric, rule.cv), cv=None), figures, {}))
            continue
        judged = [*candidate_metrics, *missing[0]]
        for one in _per_slice(rule, judged):
            if isinstance(one, ThresholdRule):
                outcomes.append(_check_threshold(one, candidate_metrics, missing[0]))
            else:
                outcomes.append(
                    _check_champion(one, candidate_metrics, champion_metrics, direction, first_run_policy, missing)
                )
        if rule.slice_by and not slice_keys(judged, rule.metric, rule.slice_by):
            outcomes.append(
                RuleOutcome(
                    f"{rule.describe(direction)} on every {rule.slice_by}", rule.metric, "slice",
                    None, None, None, False,
                    f"no slice of {rule.slice_by} had enough test rows to judge {rule.metric}",
                )
            )  # fmt: skip
    if averaging:
        outcomes = [_averaged(o, averaging) for o in outcomes]
    decision: Decision = "promote" if all(o.passed for o in outcomes) else "reject"
    return Verdict(
        decision=decision,
        candidate=candidate,
        champion_version=champion_version,
        first_run=champion_metrics is None,
        n_test=n_test,
        outcomes=tuple(outcomes),
        dropped=tuple((dropped or {}).items()),
        averaging=averaging,
    )


def _averaged(outcome: RuleOutcome, averaging: str) -> RuleOutcome:
    """The outcome with how its metric was combined over classes, when it was."""
    if outcome.metric.partition("[")[0] not in AVERAGED_METRICS:
        return outcome
    return replace(outcome, rule=f"{outcome.rule} ({averaging})")


def _per_slice(rule: ThresholdRule | ChampionRule, metrics: Sequence[str]) -> list[ThresholdRule | ChampionRule]:
    """The rule itself, or one copy per slice of its ``slice_by`` column (TFX-style slicing).

    Each copy names the slice's metric key, so its outcome says which slice passed or failed.
    """
    if not rule.slice_by:
        return [rule]
    keys = dict.fromkeys(slice_keys(metrics, rule.metric, rule.slice_by))
    return [replace(rule, metric=key, slice_by=None) for key in keys]


def select_best(candidates: Sequence[tuple[str, Mapping[str, float]]], metric: str, problem: Problem) -> str:
    """The candidate with the best value of ``metric``; ties keep the order of the spec.

    A candidate without a usable value (the metric not computable, NaN, missing) ranks last,
    so one broken candidate cannot hide a good one; if none has a value the first candidate
    is returned and the gate rejects it with the reason.
    """
    if not candidates:
        raise ValueError("no candidates to select from")
    direction = direction_of(metric, problem)

    def key(indexed: tuple[int, tuple[str, Mapping[str, float]]]) -> tuple[int, float, int]:
        index, (_, metrics) = indexed
        value = metrics.get(metric)
        if not _usable(value):
            return (1, 0.0, index)
        assert value is not None
        return (0, -value if direction == "higher" else value, index)

    return min(enumerate(candidates), key=key)[1][0]
