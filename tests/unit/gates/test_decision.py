"""Tests for the champion/challenger promotion gate (``airflow_mlops.gates.decision``).

Property-based tests pin the semantics (direction, tolerances, missing metrics, first run,
decision == all outcomes passed, serialisation, ``select_best``); explicit examples pin the
exact bounds and reason strings that end up on MLflow runs and in XCom.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from airflow_mlops.gates.decision import (
    ChampionRule,
    ThresholdRule,
    Verdict,
    champion_bound,
    decide,
    select_best,
)
from airflow_mlops.gates.metrics import direction_of

SETTINGS = settings(max_examples=200, deadline=None)
NAN = float("nan")


@dataclass(frozen=True)
class Spec:
    metric: str
    problem: str
    direction: str
    lo: float
    hi: float

    @property
    def span(self) -> float:
        return self.hi - self.lo


SPECS = (
    Spec("f1", "classification", "higher", 0.0, 1.0),
    Spec("roc_auc", "classification", "higher", 0.0, 1.0),
    Spec("log_loss", "classification", "lower", 0.0, 50.0),
    Spec("r2", "regression", "higher", -10.0, 1.0),
    Spec("rmse", "regression", "lower", 0.0, 1000.0),
    Spec("mae", "regression", "lower", 0.0, 1000.0),
)
HIGHER = tuple(s for s in SPECS if s.direction == "higher")
LOWER = tuple(s for s in SPECS if s.direction == "lower")
BY_PROBLEM = {p: tuple(s for s in SPECS if s.problem == p) for p in ("classification", "regression")}


def worse(value: float, amount: float, direction: str) -> float:
    return value - amount if direction == "higher" else value + amount


def better(value: float, amount: float, direction: str) -> float:
    return value + amount if direction == "higher" else value - amount


def run(**kwargs):  # type: ignore[no-untyped-def]
    base = {
        "candidate": "challenger",
        "champion_version": "3",
        "first_run_policy": "promote",
        "n_test": 1000,
    }
    base.update(kwargs)
    return decide(**base)


# --------------------------------------------------------------------------- strategies


def value_in(spec: Spec) -> st.SearchStrategy[float]:
    return st.floats(spec.lo, spec.hi, allow_nan=False, allow_infinity=False)


def maybe_value(spec: Spec) -> st.SearchStrategy[float | None]:
    """A usable value, a missing one (None = key absent) or NaN."""
    return st.one_of(value_in(spec), value_in(spec), value_in(spec), st.none(), st.just(NAN))


@st.composite
def metrics_for(draw: st.DrawFn, specs: tuple[Spec, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for spec in specs:
        value = draw(maybe_value(spec))
        if value is not None:
            out[spec.metric] = value
    return out


@st.composite
def threshold_rule(draw: st.DrawFn, spec: Spec) -> ThresholdRule:
    lo = draw(st.none() | value_in(spec))
    hi = draw(st.none() | value_in(spec))
    if lo is None and hi is None:  # a rule with no bound is invalid by construction
        lo = draw(value_in(spec))
    return ThresholdRule(spec.metric, min=lo, max=hi)


@st.composite
def champion_rule(draw: st.DrawFn, spec: Spec) -> ChampionRule:
    relative = draw(st.booleans())
    top = 1.0 if relative else spec.span / 2
    amount = st.floats(0.0, top, allow_nan=False)
    kind = draw(st.sampled_from(["max_drop", "min_gain", "default"]))
    if kind == "max_drop":
        return ChampionRule(spec.metric, max_drop=draw(amount), relative=relative)
    if kind == "min_gain":
        return ChampionRule(spec.metric, min_gain=draw(amount), relative=relative)
    return ChampionRule(spec.metric, relative=relative)


def any_rule(specs: tuple[Spec, ...]) -> st.SearchStrategy[ThresholdRule | ChampionRule]:
    return st.sampled_from(specs).flatmap(lambda s: threshold_rule(s) | champion_rule(s))


@st.composite
def gate_inputs(draw: st.DrawFn) -> dict[str, object]:
    problem = draw(st.sampled_from(sorted(BY_PROBLEM)))
    specs = BY_PROBLEM[problem]
    return {
        "problem": problem,
        "candidate_metrics": draw(metrics_for(specs)),
        "champion_metrics": draw(st.none() | metrics_for(specs)),
        "rules": draw(st.lists(any_rule(specs), max_size=6)),
        "first_run_policy": draw(st.sampled_from(["promote", "fail"])),
        "n_test": draw(st.integers(0, 10_000)),
        "min_test_rows": draw(st.integers(0, 10_000)),
    }


# --------------------------------------------------------------------------- structure


@SETTINGS
@given(gate_inputs())
def test_decision_is_conjunction_of_outcomes_one_per_rule(inputs: dict[str, object]) -> None:
    verdict = run(**inputs)
    rules = inputs["rules"]
    assert isinstance(rules, list)
    extra = 1 if inputs["min_test_rows"] else 0
    assert len(verdict.outcomes) == len(rules) + extra
    assert (verdict.decision == "promote") == all(o.passed for o in verdict.outcomes)
    assert verdict.passed == (verdict.decision == "promote")
    assert verdict.failed_outcomes == tuple(o for o in verdict.outcomes if not o.passed)
    assert verdict.first_run == (inputs["champion_metrics"] is None)
    assert verdict.n_test == inputs["n_test"]
    if extra:
        size = verdict.outcomes[0]
        assert size.kind == "sample_size"
        assert size.passed == (inputs["n_test"] >= inputs["min_test_rows"])
    # Outcomes follow the rules, in order.
    for rule, outcome in zip(rules, verdict.outcomes[extra:], strict=True):
        assert outcome.metric == rule.metric
        assert outcome.kind == ("threshold" if isinstance(rule, ThresholdRule) else "champion")
        assert outcome.rule == rule.describe(direction_of(rule.metric, inputs["problem"]))  # type: ignore[arg-type]
        assert outcome.reason
    summary = verdict.summary()
    assert summary.startswith(f"{verdict.decision.upper()} challenger: ")
    assert f"{sum(o.passed for o in verdict.outcomes)}/{len(verdict.outcomes)} rules passed" in summary
    for failed in verdict.failed_outcomes:
        assert failed.reason in summary


@SETTINGS
@given(gate_inputs())
def test_no_rules_means_only_sample_size_decides(inputs: dict[str, object]) -> None:
    verdict = run(**{**inputs, "rules": []})
    enough = inputs["n_test"] >= inputs["min_test_rows"]
    assert verdict.decision == ("promote" if enough else "reject")


# --------------------------------------------------------------------------- direction


@st.composite
def aligned_rules(draw: st.DrawFn, spec: Spec) -> list[ThresholdRule | ChampionRule]:
    """Rules on ``spec.metric`` that can only get easier as the candidate improves."""
    aligned_threshold = value_in(spec).map(
        lambda b: ThresholdRule(spec.metric, min=b) if spec.direction == "higher" else ThresholdRule(spec.metric, max=b)
    )
    return draw(st.lists(champion_rule(spec) | aligned_threshold, min_size=1, max_size=5))


@SETTINGS
@given(
    st.sampled_from(SPECS).flatmap(
        lambda s: st.tuples(
            st.just(s),
            aligned_rules(s),
            value_in(s),
            value_in(s),
            st.floats(0.0, s.span, allow_nan=False),
        )
    )
)
def test_improving_the_candidate_never_turns_promote_into_reject(
    case: tuple[Spec, list[ThresholdRule | ChampionRule], float, float, float],
) -> None:
    spec, rules, value, champ, delta = case
    improved = better(value, delta, spec.direction)
    common = {"problem": spec.problem, "champion_metrics": {spec.metric: champ}, "rules": rules}
    before = run(candidate_metrics={spec.metric: value}, **common)
    after = run(candidate_metrics={spec.metric: improved}, **common)
    for b, a in zip(before.outcomes, after.outcomes, strict=True):
        assert not b.passed or a.passed, (b, a)
    if before.decision == "promote":
        assert after.decision == "promote"
    # And the mirror image: worsening never turns reject into promote.
    worsened = run(candidate_metrics={spec.metric: worse(value, delta, spec.direction)}, **common)
    if before.decision == "reject":
        assert worsened.decision == "reject"


@SETTINGS
@given(st.sampled_from(SPECS).flatmap(lambda s: st.tuples(st.just(s), value_in(s), value_in(s))))
def test_plain_champion_rule_requires_at_least_the_champion(case: tuple[Spec, float, float]) -> None:
    spec, value, champ = case
    verdict = run(
        problem=spec.problem,
        candidate_metrics={spec.metric: value},
        champion_metrics={spec.metric: champ},
        rules=[ChampionRule(spec.metric)],
    )
    at_least_as_good = value >= champ if spec.direction == "higher" else value <= champ
    if abs(value - champ) > 1e-9:
        assert verdict.passed == at_least_as_good
    if at_least_as_good:
        assert verdict.passed


# --------------------------------------------------------------------------- tolerances


@st.composite
def tolerance_case(draw: st.DrawFn) -> tuple[Spec, ChampionRule, float, float]:
    """(spec, rule, champion value, exact boundary value the candidate must reach)."""
    spec = draw(st.sampled_from(SPECS))
    champ = draw(value_in(spec))
    relative = draw(st.booleans())
    amount = draw(st.floats(0.0, 1.0 if relative else spec.span / 2, allow_nan=False))
    scaled = amount * abs(champ) if relative else amount
    if draw(st.booleans()):
        rule = ChampionRule(spec.metric, max_drop=amount, relative=relative)
        boundary = worse(champ, scaled, spec.direction)
    else:
        rule = ChampionRule(spec.metric, min_gain=amount, relative=relative)
        boundary = better(champ, scaled, spec.direction)
    return spec, rule, champ, boundary


@SETTINGS
@given(tolerance_case())
def test_tolerance_boundary_passes_and_just_beyond_fails(
    case: tuple[Spec, ChampionRule, float, float],
) -> None:
    spec, rule, champ, boundary = case
    common = {"problem": spec.problem, "champion_metrics": {spec.metric: champ}, "rules": [rule]}

    on = run(candidate_metrics={spec.metric: boundary}, **common)
    assert on.decision == "promote", on.summary()
    assert on.outcomes[0].threshold == pytest.approx(boundary, abs=1e-9)
    assert on.outcomes[0].champion_value == champ
    assert on.outcomes[0].candidate_value == boundary

    inside = run(candidate_metrics={spec.metric: better(boundary, 1e-6, spec.direction)}, **common)
    assert inside.decision == "promote", inside.summary()

    beyond = run(candidate_metrics={spec.metric: worse(boundary, 1e-6, spec.direction)}, **common)
    assert beyond.decision == "reject", beyond.summary()
    assert "misses" in beyond.outcomes[0].reason


@SETTINGS
@given(
    st.sampled_from(SPECS).flatmap(
        lambda s: st.tuples(
            st.just(s),
            value_in(s),
            st.floats(0.0, 1.0, allow_nan=False),
            st.sampled_from(["max_drop", "min_gain"]),
        )
    )
)
def test_relative_tolerance_is_a_fraction_of_abs_champion(case: tuple[Spec, float, float, str]) -> None:
    spec, champ, fraction, kind = case
    relative = ChampionRule(spec.metric, relative=True, **{kind: fraction})
    absolute = ChampionRule(spec.metric, relative=False, **{kind: fraction * abs(champ)})
    rel_bound = champion_bound(relative, champ, spec.direction)
    abs_bound = champion_bound(absolute, champ, spec.direction)
    assert rel_bound == pytest.approx(abs_bound, abs=1e-9)
    assert abs(rel_bound - champ) == pytest.approx(fraction * abs(champ), abs=1e-9)
    # A drop never asks for better than the champion; a gain never accepts worse,
    # including for negative champion values (r2), which is why |champion| is used.
    if kind == "max_drop":
        assert (rel_bound <= champ) if spec.direction == "higher" else (rel_bound >= champ)
    else:
        assert (rel_bound >= champ) if spec.direction == "higher" else (rel_bound <= champ)


@SETTINGS
@given(
    st.sampled_from(SPECS).flatmap(
        lambda s: st.tuples(st.just(s), value_in(s), st.floats(0.0, s.span / 2, allow_nan=False))
    )
)
def test_max_drop_and_min_gain_are_mirror_images(case: tuple[Spec, float, float]) -> None:
    spec, champ, amount = case
    drop = champion_bound(ChampionRule(spec.metric, max_drop=amount), champ, spec.direction)
    gain = champion_bound(ChampionRule(spec.metric, min_gain=amount), champ, spec.direction)
    assert drop == worse(champ, amount, spec.direction)
    assert gain == better(champ, amount, spec.direction)
    assert (drop + gain) / 2 == pytest.approx(champ, abs=1e-9)


# --------------------------------------------------------------------------- missing metrics


@SETTINGS
@given(
    st.sampled_from(SPECS).flatmap(
        lambda s: st.tuples(st.just(s), st.booleans(), threshold_rule(s) | champion_rule(s), value_in(s))
    )
)
def test_missing_or_nan_candidate_metric_rejects(
    case: tuple[Spec, bool, ThresholdRule | ChampionRule, float],
) -> None:
    spec, as_nan, rule, champ = case
    candidate = {spec.metric: NAN} if as_nan else {}
    verdict = run(
        problem=spec.problem,
        candidate_metrics=candidate,
        champion_metrics={spec.metric: champ},
        rules=[rule],
    )
    assert verdict.decision == "reject"
    (outcome,) = verdict.outcomes
    assert not outcome.passed
    assert spec.metric in outcome.reason
    assert outcome.reason == f"{spec.metric} was not computed for the candidate"


@SETTINGS
@given(
    st.sampled_from(SPECS).flatmap(
        lambda s: st.tuples(st.just(s), st.booleans(), champion_rule(s), value_in(s), value_in(s))
    )
)
def test_missing_or_nan_champion_metric_rejects(case: tuple[Spec, bool, ChampionRule, float, float]) -> None:
    spec, as_nan, rule, value, other = case
    # The champion has other metrics, just not this one.
    other_metric = "accuracy" if spec.problem == "classification" else "r2"
    assume(other_metric != spec.metric)
    champion = {other_metric: other}
    if as_nan:
        champion[spec.metric] = NAN
    verdict = run(
        problem=spec.problem,
        candidate_metrics={spec.metric: value},
        champion_metrics=champion,
        rules=[rule],
    )
    assert verdict.decision == "reject"
    (outcome,) = verdict.outcomes
    assert not outcome.passed
    assert outcome.reason == f"{spec.metric} could not be computed for the champion on this test set"
    assert outcome.threshold is None


# --------------------------------------------------------------------------- first run


@SETTINGS
@given(gate_inputs())
def test_first_run_promote_policy_depends_only_on_non_champion_rules(inputs: dict[str, object]) -> None:
    inputs = {**inputs, "champion_metrics": None, "first_run_policy": "promote"}
    rules = inputs["rules"]
    assert isinstance(rules, list)
    verdict = run(**inputs)
    without = run(**{**inputs, "rules": [r for r in rules if isinstance(r, ThresholdRule)]})
    assert verdict.first_run
    candidate = inputs["candidate_metrics"]
    assert isinstance(candidate, dict)
    broken = [r for r in rules if isinstance(r, ChampionRule) and not math.isfinite(candidate.get(r.metric, math.nan))]
    if broken:
        # A broken metric is never promoted, not even as the first champion.
        assert verdict.decision == "reject"
    else:
        assert verdict.decision == without.decision
    for outcome in verdict.outcomes:
        if outcome.kind == "champion":
            usable = outcome.candidate_value is not None and math.isfinite(outcome.candidate_value)
            assert outcome.passed == usable
            if usable:
                assert outcome.reason == "no champion yet; first_run policy is 'promote'"
            else:
                assert outcome.reason == f"{outcome.metric} was not computed for the candidate"


@SETTINGS
@given(gate_inputs())
def test_first_run_fail_policy_rejects_when_any_champion_rule(inputs: dict[str, object]) -> None:
    inputs = {**inputs, "champion_metrics": None, "first_run_policy": "fail"}
    rules = inputs["rules"]
    assert isinstance(rules, list)
    verdict = run(**inputs)
    if any(isinstance(r, ChampionRule) for r in rules):
        assert verdict.decision == "reject"
    else:
        # Without champion rules the policy is irrelevant.
        assert verdict.decision == run(**{**inputs, "first_run_policy": "promote"}).decision
    for outcome in verdict.outcomes:
        if outcome.kind == "champion":
            assert not outcome.passed
            assert outcome.reason in (
                "no champion to compare against and first_run policy is 'fail'",
                f"{outcome.metric} was not computed for the candidate",
            )


# --------------------------------------------------------------------------- serialisation


@SETTINGS
@given(gate_inputs(), st.none() | st.text(max_size=5))
def test_verdict_dict_round_trip(inputs: dict[str, object], champion_version: str | None) -> None:
    verdict = run(**inputs, **{"champion_version": champion_version})
    data = verdict.to_dict()
    assert data["summary"] == verdict.summary()
    assert isinstance(data["outcomes"], list)
    assert len(data["outcomes"]) == len(verdict.outcomes)
    text = json.dumps(data, allow_nan=False)  # strict JSON even when a metric was NaN
    back = Verdict.from_dict(data)
    assert back.to_dict().keys() == data.keys()
    assert json.dumps(back.to_dict()) == text
    assert Verdict.from_dict(json.loads(text)).summary() == verdict.summary()


@SETTINGS
@given(gate_inputs())
def test_verdict_json_round_trip_without_nan(inputs: dict[str, object]) -> None:
    inputs = dict(inputs)
    for key in ("candidate_metrics", "champion_metrics"):
        metrics = inputs[key]
        if metrics is not None:
            assert isinstance(metrics, dict)
            inputs[key] = {k: v for k, v in metrics.items() if math.isfinite(v)}
    verdict = run(**inputs)
    text = json.dumps(verdict.to_dict(), allow_nan=False)
    assert Verdict.from_dict(json.loads(text)) == verdict
    assert Verdict.from_dict(verdict.to_dict()) == verdict


# --------------------------------------------------------------------------- select_best


def select_value(spec: Spec) -> st.SearchStrategy[float | None]:
    # A few repeated values make ties likely.
    return st.one_of(
        value_in(spec),
        st.sampled_from([spec.lo, spec.hi, (spec.lo + spec.hi) / 2]),
        st.none(),
        st.just(NAN),
    )


@st.composite
def select_case(draw: st.DrawFn) -> tuple[Spec, list[tuple[str, dict[str, float]]]]:
    spec = draw(st.sampled_from(SPECS))
    values = draw(st.lists(select_value(spec), min_size=1, max_size=8))
    candidates = []
    for i, value in enumerate(values):
        metrics = {"unrelated": 1.0}
        if value is not None:
            metrics[spec.metric] = value
        candidates.append((f"c{i}", metrics))
    return spec, candidates


def _usable(metrics: dict[str, float], metric: str) -> bool:
    value = metrics.get(metric)
    return value is not None and not math.isnan(value)


@SETTINGS
@given(select_case())
def test_select_best_picks_first_optimal_usable_candidate(
    case: tuple[Spec, list[tuple[str, dict[str, float]]]],
) -> None:
    spec, candidates = case
    chosen = select_best(candidates, spec.metric, spec.problem)  # type: ignore[arg-type]
    names = [name for name, _ in candidates]
    assert chosen in names
    usable = [(i, m[spec.metric]) for i, (_, m) in enumerate(candidates) if _usable(m, spec.metric)]
    if not usable:
        assert chosen == names[0]
        return
    best = max(v for _, v in usable) if spec.direction == "higher" else min(v for _, v in usable)
    index = names.index(chosen)
    chosen_metrics = candidates[index][1]
    assert _usable(chosen_metrics, spec.metric)
    assert chosen_metrics[spec.metric] == best
    assert index == min(i for i, v in usable if v == best)


@SETTINGS
@given(select_case(), st.randoms(use_true_random=False))
def test_select_best_value_is_order_independent(
    case: tuple[Spec, list[tuple[str, dict[str, float]]]], rnd: object
) -> None:
    spec, candidates = case
    shuffled = list(candidates)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    a = dict(candidates)[select_best(candidates, spec.metric, spec.problem)]  # type: ignore[arg-type]
    b = dict(shuffled)[select_best(shuffled, spec.metric, spec.problem)]  # type: ignore[arg-type]
    if _usable(a, spec.metric) or _usable(b, spec.metric):
        assert a[spec.metric] == b[spec.metric]


# --------------------------------------------------------------------------- explicit examples


def test_f1_drop_beyond_tolerance_rejects() -> None:
    verdict = run(
        problem="classification",
        candidate_metrics={"f1": 0.91},
        champion_metrics={"f1": 0.95},
        rules=[ChampionRule("f1", max_drop=0.005)],
    )
    assert verdict.decision == "reject"
    (outcome,) = verdict.outcomes
    assert outcome.threshold == pytest.approx(0.945)
    assert outcome.candidate_value == 0.91
    assert outcome.champion_value == 0.95
    assert outcome.kind == "champion"
    assert outcome.rule == "f1 drops at most 0.005 below champion"
    assert outcome.reason == "f1 0.9100 misses >= 0.9450 (champion 0.9500)"
    assert verdict.summary() == ("REJECT challenger: 0/1 rules passed; f1 0.9100 misses >= 0.9450 (champion 0.9500)")


def test_f1_exactly_on_the_tolerance_boundary_promotes() -> None:
    # 0.8 - 0.1 is 0.7000000000000001 in binary floating point, just above 0.7;
    # without the epsilon a candidate exactly on the boundary would be rejected.
    assert 0.8 - 0.1 > 0.7
    verdict = run(
        problem="classification",
        candidate_metrics={"f1": 0.7},
        champion_metrics={"f1": 0.8},
        rules=[ChampionRule("f1", max_drop=0.1)],
    )
    assert verdict.decision == "promote"
    assert verdict.outcomes[0].reason == "f1 0.7000 meets >= 0.7000 (champion 0.8000)"
    just_below = run(
        problem="classification",
        candidate_metrics={"f1": 0.7 - 1e-6},
        champion_metrics={"f1": 0.8},
        rules=[ChampionRule("f1", max_drop=0.1)],
    )
    assert just_below.decision == "reject"


def test_rmse_min_gain_met_promotes() -> None:
    verdict = run(
        problem="regression",
        candidate_metrics={"rmse": 1.0},
        champion_metrics={"rmse": 1.1},
        rules=[ChampionRule("rmse", min_gain=0.05)],
    )
    assert verdict.decision == "promote"
    (outcome,) = verdict.outcomes
    assert outcome.threshold == pytest.approx(1.05)
    assert outcome.rule == "rmse falls at least 0.05 below champion"
    assert outcome.reason == "rmse 1.0000 meets <= 1.0500 (champion 1.1000)"
    assert verdict.summary() == "PROMOTE challenger: 1/1 rules passed"


def test_rmse_min_gain_missed_rejects() -> None:
    verdict = run(
        problem="regression",
        candidate_metrics={"rmse": 1.06},
        champion_metrics={"rmse": 1.1},
        rules=[ChampionRule("rmse", min_gain=0.05)],
    )
    assert verdict.decision == "reject"
    assert verdict.outcomes[0].reason == "rmse 1.0600 misses <= 1.0500 (champion 1.1000)"


def test_relative_tolerances_scale_with_abs_champion() -> None:
    # r2 can be negative: a 10 % relative drop from -0.5 is -0.55, not -0.45.
    drop = ChampionRule("r2", max_drop=0.1, relative=True)
    assert drop.describe() == "r2 drops at most 0.1 (relative) below champion"
    assert champion_bound(drop, -0.5, "higher") == pytest.approx(-0.55)
    assert champion_bound(drop, 0.8, "higher") == pytest.approx(0.72)
    gain = ChampionRule("log_loss", min_gain=0.25, relative=True)
    assert gain.describe("lower") == "log_loss falls at least 0.25 (relative) below champion"
    assert champion_bound(gain, 0.4, "lower") == pytest.approx(0.3)
    verdict = run(
        problem="classification",
        candidate_metrics={"log_loss": 0.31},
        champion_metrics={"log_loss": 0.4},
        rules=[gain],
    )
    assert verdict.decision == "reject"
    assert verdict.outcomes[0].reason == "log_loss 0.3100 misses <= 0.3000 (champion 0.4000)"


def test_default_champion_rule_requires_no_worsening() -> None:
    rule = ChampionRule("mae")
    assert rule.describe("lower") == "mae may rise at most 0 over champion"
    common = {"problem": "regression", "champion_metrics": {"mae": 2.0}, "rules": [rule]}
    assert run(candidate_metrics={"mae": 2.0}, **common).decision == "promote"
    assert run(candidate_metrics={"mae": 2.001}, **common).decision == "reject"


def test_threshold_reasons() -> None:
    rules = [
        ThresholdRule("f1", min=0.9),
        ThresholdRule("log_loss", max=0.5),
        ThresholdRule("accuracy", min=0.5, max=0.99),
    ]
    assert [r.describe() for r in rules] == [
        "f1 >= 0.9",
        "log_loss <= 0.5",
        "accuracy >= 0.5 and accuracy <= 0.99",
    ]
    verdict = run(
        problem="classification",
        candidate_metrics={"f1": 0.85, "log_loss": 0.75, "accuracy": 0.95},
        champion_metrics=None,
        rules=rules,
    )
    assert verdict.decision == "reject"
    assert [(o.passed, o.threshold, o.reason) for o in verdict.outcomes] == [
        (False, 0.9, "f1 0.8500 is below the minimum 0.9"),
        (False, 0.5, "log_loss 0.7500 is above the maximum 0.5"),
        (True, 0.5, "accuracy 0.9500 is within bounds"),
    ]
    above = run(
        problem="classification",
        candidate_metrics={"accuracy": 0.995},
        champion_metrics=None,
        rules=[rules[2]],
    )
    assert above.outcomes[0].reason == "accuracy 0.9950 is above the maximum 0.99"
    assert above.outcomes[0].threshold == 0.99


def test_threshold_boundary_is_inclusive() -> None:
    verdict = run(
        problem="classification",
        candidate_metrics={"f1": 0.9 - 1e-12, "log_loss": 0.5 + 1e-12},
        champion_metrics=None,
        rules=[ThresholdRule("f1", min=0.9), ThresholdRule("log_loss", max=0.5)],
    )
    assert verdict.decision == "promote"
    off = run(
        problem="classification",
        candidate_metrics={"f1": 0.9 - 1e-6},
        champion_metrics=None,
        rules=[ThresholdRule("f1", min=0.9)],
    )
    assert off.decision == "reject"


def test_missing_metric_reasons() -> None:
    verdict = run(
        problem="classification",
        candidate_metrics={"roc_auc": 0.9, "f1": NAN},
        champion_metrics={"accuracy": 0.9, "f1": 0.9},
        rules=[ThresholdRule("f1", min=0.5), ChampionRule("roc_auc"), ChampionRule("accuracy")],
    )
    assert verdict.decision == "reject"
    assert [o.reason for o in verdict.outcomes] == [
        "f1 was not computed for the candidate",
        "roc_auc could not be computed for the champion on this test set",
        "accuracy was not computed for the candidate",
    ]
    assert verdict.outcomes[0].threshold == 0.5


def test_first_run_reasons() -> None:
    common = {
        "problem": "classification",
        "candidate_metrics": {"f1": 0.8},
        "champion_metrics": None,
        "champion_version": None,
        "rules": [ChampionRule("f1", max_drop=0.01)],
    }
    promoted = run(**common, first_run_policy="promote")
    assert promoted.decision == "promote"
    assert promoted.first_run
    assert promoted.champion_version is None
    assert promoted.outcomes[0].reason == "no champion yet; first_run policy is 'promote'"
    assert promoted.outcomes[0].threshold is None
    failed = run(**common, first_run_policy="fail")
    assert failed.decision == "reject"
    assert failed.outcomes[0].reason == "no champion to compare against and first_run policy is 'fail'"


def test_sample_size_rule() -> None:
    common = {
        "problem": "regression",
        "candidate_metrics": {"rmse": 1.0},
        "champion_metrics": {"rmse": 1.0},
        "rules": [ChampionRule("rmse")],
        "min_test_rows": 100,
    }
    small = run(**common, n_test=50)
    assert small.decision == "reject"
    size = small.outcomes[0]
    assert (size.rule, size.metric, size.kind) == ("test rows >= 100", "n_test", "sample_size")
    assert (size.candidate_value, size.threshold, size.passed) == (50.0, 100.0, False)
    assert size.reason == "test set has 50 rows, fewer than the 100 required"
    assert small.outcomes[1].passed
    exact = run(**common, n_test=100)
    assert exact.decision == "promote"
    assert exact.outcomes[0].reason == "test set has 100 rows"
    assert len(run(**{**common, "min_test_rows": 0}, n_test=5).outcomes) == 1


def test_unknown_champion_metric_for_problem_raises() -> None:
    with pytest.raises(KeyError, match="unknown classification metric 'rmse'"):
        run(
            problem="classification",
            candidate_metrics={"rmse": 1.0},
            champion_metrics={"rmse": 1.0},
            rules=[ChampionRule("rmse")],
        )


def test_verdict_to_dict_example() -> None:
    verdict = run(
        problem="classification",
        candidate_metrics={"f1": 0.91},
        champion_metrics={"f1": 0.95},
        rules=[ChampionRule("f1", max_drop=0.005)],
        n_test=250,
    )
    data = verdict.to_dict()
    assert data["decision"] == "reject"
    assert data["candidate"] == "challenger"
    assert data["champion_version"] == "3"
    assert data["first_run"] is False
    assert data["n_test"] == 250
    assert data["outcomes"][0]["kind"] == "champion"
    assert data["outcomes"][0]["passed"] is False
    assert Verdict.from_dict(json.loads(json.dumps(data))) == verdict
    assert replace(verdict, decision="promote") != Verdict.from_dict(data)


def test_select_best_examples() -> None:
    rmse = [("a", {"rmse": 2.0}), ("b", {"rmse": 1.0}), ("c", {"rmse": 1.0})]
    assert select_best(rmse, "rmse", "regression") == "b"
    f1 = [("broken", {"f1": NAN}), ("missing", {}), ("ok", {"f1": 0.1}), ("good", {"f1": 0.9})]
    assert select_best(f1, "f1", "classification") == "good"
    assert select_best(f1[:3], "f1", "classification") == "ok"
    assert select_best([("x", {}), ("y", {"f1": NAN})], "f1", "classification") == "x"
    r2 = [("neg", {"r2": -3.0}), ("less_neg", {"r2": -0.5})]
    assert select_best(r2, "r2", "regression") == "less_neg"
    with pytest.raises(ValueError, match="no candidates"):
        select_best([], "f1", "classification")
    with pytest.raises(KeyError):
        select_best(rmse, "rmse", "classification")


def test_broken_first_candidate_is_never_promoted() -> None:
    verdict = decide(
        candidate="m",
        candidate_metrics={"f1": float("nan")},
        champion_metrics=None,
        champion_version=None,
        rules=[ChampionRule("f1", max_drop=0.01)],
        problem="classification",
        n_test=100,
    )
    assert verdict.decision == "reject"
    assert verdict.outcomes[0].reason == "f1 was not computed for the candidate"
    assert verdict.to_dict()["outcomes"][0]["candidate_value"] is None


def test_infinite_champion_value_is_not_comparable() -> None:
    verdict = decide(
        candidate="m",
        candidate_metrics={"rmse": 1.0},
        champion_metrics={"rmse": float("inf")},
        champion_version="3",
        rules=[ChampionRule("rmse", min_gain=0.1)],
        problem="regression",
        n_test=50,
    )
    assert verdict.decision == "reject"
    assert "could not be computed for the champion" in verdict.outcomes[0].reason


def test_contradictory_rules_are_refused() -> None:
    with pytest.raises(ValueError, match="needs min or max"):
        ThresholdRule("f1")
    with pytest.raises(ValueError, match="both max_drop and min_gain"):
        ChampionRule("f1", max_drop=0.1, min_gain=0.1)


def test_averaging_is_named_on_class_averaged_rules_and_in_the_summary() -> None:
    verdict = run(
        problem="classification",
        candidate_metrics={"f1": 0.9, "accuracy": 0.95, "recall[region=north]": 0.8},
        champion_metrics=None,
        rules=[ThresholdRule("f1", min=0.8), ThresholdRule("accuracy", min=0.9), ThresholdRule("recall", min=0.7,
               slice_by="region")],
        averaging="weighted average over 3 classes",
    )  # fmt: skip
    assert [o.rule for o in verdict.outcomes] == [
        "f1 >= 0.8 (weighted average over 3 classes)",
        "accuracy >= 0.9",
        "recall[region=north] >= 0.7 (weighted average over 3 classes)",
    ]
    assert verdict.summary().endswith(
        "3/3 rules passed (precision, recall, f1, roc_auc: weighted average over 3 classes)"
    )
    assert Verdict.from_dict(verdict.to_dict()) == verdict
