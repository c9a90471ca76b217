"""The serving check's verdict (gates/serving.py): parity, p95 latency and malformed requests, on plain values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_mlops.gates.serving import Answer, ServingLimits, judge, latency, malformed, not_served, p95, parity

LIMITS = ServingLimits(absolute_tolerance=1e-6, relative_tolerance=1e-6, min_label_match=1.0, max_p95_ms=100)


def test_regression_values_within_tolerance_pass() -> None:
    outcome = parity([1.0, 2.0, 1e6], [1.0 + 5e-7, 2.0, 1e6 + 0.5], "regression", LIMITS)
    assert outcome.passed, outcome.reason
    assert outcome.reason.startswith("parity: 0 of 3 served values outside")


def test_regression_value_outside_both_tolerances_fails_naming_the_row() -> None:
    outcome = parity([1.0, 2.0, 3.0], [1.0, 2.01, 3.0], "regression", LIMITS)
    assert not outcome.passed
    assert "1 of 3 served values outside abs 1e-06 / rel 1e-06" in outcome.reason
    assert "first at row 1: offline 2.0, served 2.01" in outcome.reason
    assert outcome.value == pytest.approx(0.01)


def test_a_zero_tolerance_needs_exact_equality() -> None:
    exact = ServingLimits(absolute_tolerance=0, relative_tolerance=0)
    assert parity([0.1 + 0.2], [0.1 + 0.2], "regression", exact).passed
    assert not parity([0.1 + 0.2], [0.3], "regression", exact).passed


def test_classification_needs_the_stated_share_of_equal_labels() -> None:
    offline, served = [0, 1, 1, 0], [0, 1, 0, 0]
    strict = parity(offline, served, "classification", LIMITS)
    assert not strict.passed
    assert strict.reason.startswith("parity: 75.00% of 4 served labels equal the offline ones (at least 100.00%")
    assert "first at row 2: offline 1, served 0" in strict.reason
    assert parity(offline, served, "classification", ServingLimits(min_label_match=0.75)).passed


def test_labels_are_compared_exactly_even_as_text() -> None:
    assert parity(["yes", "no"], ["yes", "no"], "classification", LIMITS).passed
    assert not parity(["yes", "no"], ["yes", "No"], "classification", LIMITS).passed
    assert not parity([1, 0], ["1", "0"], "classification", LIMITS).passed


def test_nan_matches_only_nan() -> None:
    nan = float("nan")
    assert parity([nan, 1.0], [nan, 1.0], "regression", LIMITS).passed
    assert not parity([nan], [1.0], "regression", LIMITS).passed


def test_no_predictions_or_a_wrong_count_fails_with_why() -> None:
    missing = parity([1, 0], None, "classification", LIMITS, "HTTP 400: bad input")
    assert not missing.passed
    assert missing.reason == "parity: no predictions served for the test rows: HTTP 400: bad input"
    short = parity([1, 0, 1], [1, 0], "classification", LIMITS)
    assert not short.passed and short.reason == "parity: 2 predictions served for 3 test rows"
    assert not parity([], [], "classification", LIMITS).passed


def test_p95_is_an_observed_value_by_nearest_rank() -> None:
    assert p95([5.0]) == 5.0
    assert p95([float(i) for i in range(1, 101)]) == 95.0
    assert p95([float(i) for i in range(1, 21)]) == 19.0
    with pytest.raises(ValueError):
        p95([])


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=200))
def test_p95_is_at_least_95_percent_of_the_values(values: list[float]) -> None:
    observed = p95(values)
    assert observed in values
    assert sum(v <= observed for v in values) >= 0.95 * len(values)


def test_latency_is_judged_on_the_p95_against_the_limit() -> None:
    fast = latency([10.0] * 19 + [500.0], LIMITS)  # one slow request in twenty is the 5% the p95 ignores
    assert fast.passed and fast.value == 10.0
    assert fast.reason == "latency: p95 10.0 ms over 20 single-row requests (within the 100 ms limit)"
    slow = latency([10.0] * 18 + [500.0] * 2, LIMITS)
    assert not slow.passed
    assert slow.reason == "latency: p95 500.0 ms over 20 single-row requests (over the 100 ms limit)"
    assert not latency([], LIMITS).passed


@pytest.mark.parametrize(
    ("probe", "answer", "passed", "said"),
    [
        ("missing_column", Answer(400), True, "refused with 400"),
        ("wrong_type", Answer(422), True, "refused with 422"),
        ("wrong_type", Answer(500), False, "got 500; expected a 4xx, a server error means the model crashed"),
        ("missing_column", Answer(200, predictions=5), False, "was scored as if valid (200, 5 predictions)"),
        ("empty_batch", Answer(200, predictions=0), True, "answered with no predictions"),
        ("empty_batch", Answer(200, predictions=3), False, "was scored as if valid (200, 3 predictions)"),
        ("empty_batch", Answer(None, error="ConnectionResetError: reset"), False, "got no answer (ConnectionReset"),
    ],
)
def test_a_malformed_request_must_be_refused_with_a_4xx(probe: str, answer: Answer, passed: bool, said: str) -> None:
    outcome = malformed(probe, answer)
    assert outcome.passed is passed
    assert outcome.kind == "malformed" and outcome.check == probe
    assert said in outcome.reason


def test_the_verdict_passes_only_when_every_check_does_and_says_why_not() -> None:
    common = {
        "model_uri": "models:/m-1",
        "problem": "classification",
        "offline": [0, 1],
        "latencies_ms": [5.0, 6.0],
        "limits": LIMITS,
    }
    good = judge(served=[0, 1], malformed_answers={"empty_batch": Answer(400)}, **common)  # type: ignore[arg-type]
    assert good.passed and good.decision == "pass"
    assert good.summary().startswith("PASS: served models:/m-1 matched its offline predictions on 2 rows; latency")
    bad = judge(served=[0, 1], malformed_answers={"empty_batch": Answer(503)}, **common)  # type: ignore[arg-type]
    assert not bad.passed and bad.decision == "fail"
    assert bad.summary() == f"FAIL: served models:/m-1: {bad.outcomes[-1].reason}"
    record = bad.to_dict()
    assert record["decision"] == "fail" and record["rows"] == 2
    assert [o["check"] for o in record["outcomes"]] == ["parity", "latency", "empty_batch"]


def test_a_model_that_was_never_served_fails_with_the_servers_reason() -> None:
    verdict = not_served("models:/m-1", 40, "the server exited: no python_function flavor")
    assert not verdict.passed
    assert [o.kind for o in verdict.outcomes] == ["startup"]
    assert verdict.summary() == "FAIL: served models:/m-1: startup: the server exited: no python_function flavor"
