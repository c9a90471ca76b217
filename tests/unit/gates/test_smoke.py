"""The smoke check's judgement, on plain lists."""

from __future__ import annotations

import pytest

from airflow_mlops.gates.smoke import Probe, SmokeLimits, judge_smoke


def test_answers_within_the_limits_pass() -> None:
    verdict = judge_smoke([Probe(True, ms) for ms in (5, 6, 7, 8)], SmokeLimits(0.0, 10))
    assert verdict.passed and verdict.decision == "pass"
    assert verdict.p95_ms == 8 and verdict.failed == 0
    assert verdict.summary() == "smoke check passed: 4/4 requests answered, p95 8.0 ms"
    assert verdict.to_dict()["breaches"] == []


def test_a_slow_p95_is_a_breach_naming_the_limit() -> None:
    verdict = judge_smoke([Probe(True, 4.0)] * 19 + [Probe(True, 90.0)] * 2, SmokeLimits(0.0, 0.001))
    assert not verdict.passed
    assert verdict.breaches == ("p95 latency 90.0 ms above max_p95_ms 0.001 ms",)


def test_errors_count_against_the_rate_and_the_first_error_is_kept() -> None:
    probes = [Probe(True, 3.0)] * 8 + [Probe(False, 1.0, "HTTP 500: boom"), Probe(False, 1.0, "refused")]
    assert judge_smoke(probes, SmokeLimits(0.2, 100)).passed  # 20% allowed
    verdict = judge_smoke(probes, SmokeLimits(0.1, 100))
    assert verdict.breaches == ("error rate 20.0% above max_error_rate 10.0%",)
    assert verdict.first_error == "HTTP 500: boom" and verdict.to_dict()["error_rate"] == 0.2


def test_no_answer_at_all_fails_both_ways() -> None:
    verdict = judge_smoke([Probe(False, 1.0, "refused")] * 3, SmokeLimits(1.0, 100))
    assert verdict.p95_ms is None
    assert verdict.breaches == ("no request was answered, so no latency was measured",)


def test_no_request_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        judge_smoke([], SmokeLimits())
