"""The gap between slices: worst against best per metric, and the gate rule that bounds it."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_mlops.gates.decision import Verdict, decide
from airflow_mlops.gates.metrics import slice_key
from airflow_mlops.gates.rules import rules_from_spec
from airflow_mlops.gates.slices import SliceGapRule, slice_columns, slice_spread, slice_values

METRICS = {
    "recall": 0.9,
    slice_key("recall", "region", "north"): 0.95,
    slice_key("recall", "region", "south east"): 0.70,
    slice_key("recall", "region", "west"): 0.80,
    slice_key("recall", "regionality", "x"): 0.10,  # another column with a shared prefix: ignored
    slice_key("log_loss", "region", "north"): 0.2,
    slice_key("log_loss", "region", "west"): 0.5,
}

values = st.dictionaries(
    st.text("abcdefgh", min_size=1, max_size=4), st.floats(0, 1, allow_nan=False), min_size=2, max_size=8
)


def _decide(rules: list[dict[str, object]]) -> Verdict:
    return decide(
        candidate="c", candidate_metrics=METRICS, champion_metrics=None, champion_version=None,
        rules=rules_from_spec(rules), problem="classification", n_test=100,
    )  # fmt: skip


def test_worst_and_best_follow_the_metric_direction() -> None:
    recall = slice_spread(METRICS, "recall", "region", "higher")
    assert recall is not None
    assert (recall.worst, recall.best) == ("south east", "north")
    assert recall.gap == pytest.approx(0.25)
    assert (recall.worst_value, recall.best_value) == (0.70, 0.95)
    loss = slice_spread(METRICS, "log_loss", "region", "lower")
    assert loss is not None
    assert (loss.worst, loss.best, loss.gap) == ("west", "north", pytest.approx(0.3))


def test_fewer_than_two_slices_have_no_gap() -> None:
    assert slice_spread(METRICS, "recall", "regionality", "higher") is None
    assert slice_spread(METRICS, "f1", "region", "higher") is None
    assert (
        slice_spread({slice_key("f1", "r", "a"): math.nan, slice_key("f1", "r", "b"): 0.5}, "f1", "r", "higher") is None
    )


def test_slice_columns_are_read_from_the_keys() -> None:
    assert slice_columns(METRICS) == ["region", "regionality"]
    assert slice_columns({"f1": 1.0}) == []


@given(values, st.sampled_from(["higher", "lower"]))
def test_the_gap_is_max_minus_min_and_names_the_extremes(by_value: dict[str, float], direction: str) -> None:
    metrics = {slice_key("recall", "g", v): x for v, x in by_value.items()}
    spread = slice_spread(metrics, "recall", "g", direction)  # type: ignore[arg-type]
    assert spread is not None
    assert spread.gap == pytest.approx(max(by_value.values()) - min(by_value.values()))
    low, high = min(by_value.values()), max(by_value.values())
    assert (by_value[spread.worst], by_value[spread.best]) == ((low, high) if direction == "higher" else (high, low))
    assert slice_values(metrics, "recall", "g") == {v: by_value[v] for v in sorted(by_value)}


@given(values, st.floats(0, 1, allow_nan=False))
def test_the_rule_passes_exactly_when_the_gap_is_within_bounds(by_value: dict[str, float], bound: float) -> None:
    metrics = {slice_key("recall", "g", v): x for v, x in by_value.items()}
    verdict = decide(
        candidate="c", candidate_metrics=metrics, champion_metrics=None, champion_version=None,
        rules=[SliceGapRule("recall", "g", bound)], problem="classification", n_test=10,
    )  # fmt: skip
    gap = max(by_value.values()) - min(by_value.values())
    if abs(gap - bound) > 1e-6:
        assert verdict.passed == (gap <= bound)
    (outcome,) = verdict.outcomes
    assert outcome.kind == "slice_gap"
    assert outcome.candidate_value == pytest.approx(gap)


def test_a_wide_gap_rejects_and_the_verdict_names_both_slices() -> None:
    verdict = _decide([{"metric": "recall", "slice_by": "region", "max_slice_gap": 0.1}])
    assert not verdict.passed
    assert (
        "recall gap 0.2500 between region=south east (0.7000) and region=north (0.9500) is above the maximum 0.1"
        in (verdict.summary())
    )
    assert verdict.outcomes[0].rule == "recall gap between region slices <= 0.1"
    assert Verdict.from_dict(verdict.to_dict()) == verdict
    assert _decide([{"metric": "recall", "slice_by": "region", "max_slice_gap": 0.3}]).passed


def test_a_column_without_two_judged_slices_fails_the_rule() -> None:
    verdict = _decide([{"metric": "recall", "slice_by": "regionality", "max_slice_gap": 0.5}])
    assert not verdict.passed
    assert "fewer than two slices of regionality" in verdict.outcomes[0].reason


def test_a_negative_or_infinite_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="max_slice_gap"):
        SliceGapRule("recall", "region", -0.1)
    with pytest.raises(ValueError, match="max_slice_gap"):
        SliceGapRule("recall", "region", math.inf)
