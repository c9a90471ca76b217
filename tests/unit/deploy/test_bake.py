"""The bake's decisions on plain values, its rounds against a scripted target, and the proxy's counts and pins."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_mlops.deploy.bake import BakeLimits, LiveStats, compare_predictions, judge_bake, run_bake
from airflow_mlops.gates.smoke import Probe, judge_smoke

URI = "models:/churn/2"


def _smoke(*oks: bool, ms: float = 5.0) -> Any:
    return judge_smoke([Probe(ok, ms, None if ok else "HTTP 500") for ok in oks], BakeLimits().smoke())


def test_labels_are_compared_exactly_and_values_by_mean_absolute_difference() -> None:
    labels = compare_predictions([0, 1, 1, 0], [0, 1, 0, 0])
    assert (labels.kind, labels.compared, labels.disagreeing, labels.disagreement) == ("labels", 4, 1, 0.25)
    assert labels.first_difference == "row 2: offline 1, live 0"
    values = compare_predictions([0.5, 1.25], [0.5, 1.75])
    assert values.kind == "values" and values.mean_abs_diff == pytest.approx(0.25)
    assert values.first_difference == "row 1: offline 1.25, live 1.75"
    # The pipeline's problem decides, not the look of the numbers: a regression that predicts whole numbers.
    assert compare_predictions([1.0, 2.0], [1.0, 2.0000001], "regression").kind == "values"
    assert compare_predictions(["yes", "no"], ["yes", "no"]).disagreeing == 0
    with pytest.raises(ValueError, match="1 live predictions for 2 offline"):
        compare_predictions([0, 1], [0])


def test_each_limit_breaches_with_its_own_reason_and_a_clean_bake_passes() -> None:
    limits = BakeLimits(max_error_rate=0.1, max_p95_ms=100, max_label_disagreement=0.2, max_mean_abs_diff=0.01)
    clean = judge_bake(URI, _smoke(True, True), LiveStats(50, 5, 80.0), compare_predictions([0, 1], [0, 1]), limits)
    assert clean.passed and clean.summary().startswith("bake passed: 2/2 smoke requests answered")
    breached = judge_bake(
        URI, _smoke(True, True), LiveStats(50, 6, 150.0), compare_predictions([0, 1, 1, 1], [1, 0, 1, 1]), limits
    )
    assert not breached.passed
    assert [b.split(" ")[0:3] for b in breached.breaches] == [
        ["live", "error", "rate"],
        ["live", "p95", "latency"],
        ["live", "labels", "differ"],
    ]
    assert "12.0% (6/50) above max_error_rate 10.0%" in breached.breaches[0]
    assert (
        "50.0% of 4 rows, above max_label_disagreement 20.0% (first at row 0: offline 0, live 1)"
        in breached.breaches[2]
    )
    drift = judge_bake(URI, _smoke(True), None, compare_predictions([1.5], [1.6]), limits)
    assert drift.breaches == ("mean |live - offline| 0.1 on 1 rows above max_mean_abs_diff 0.01 (first at row 0: "
                              "offline 1.5, live 1.6)",)  # fmt: skip
    # The smoke requests' own breaches come first; no live stats (a target without them) is no breach.
    failed = judge_bake(URI, _smoke(False, True), None, None, limits)
    assert failed.breaches[0].startswith("error rate 50.0% above max_error_rate")
    recorded = json.loads(json.dumps(breached.to_dict()))
    assert recorded["decision"] == "fail" and recorded["live"] == {"requests": 50, "errors": 6, "p95_ms": 150.0}
    assert recorded["parity"]["share"] == 0.5 and recorded["limits"]["max_label_disagreement"] == 0.2


def test_live_stats_are_read_per_version_from_the_proxy_answer() -> None:
    stats = {"versions": {URI: {"requests": 4, "errors": 1, "p50_ms": 2.0, "p95_ms": 9.5, "max_ms": 9.5}}}
    assert LiveStats.of(stats, URI) == LiveStats(4, 1, 9.5)
    assert LiveStats.of(stats, "models:/churn/1") == LiveStats(0, 0, None)


class Scripted:
    """A rollout target that answers as told: the versions' labels, stats per round, no real server."""

    def __init__(self, label: int, *, stats: list[LiveStats | None] | None = None, fail_smoke: bool = False) -> None:
        self.label, self.stats, self.fail_smoke = label, list(stats or []), fail_smoke
        self.sent: list[str] = []

    def probe(self, name: str, body: bytes) -> Probe:
        self.sent.append("smoke")
        return Probe(not self.fail_smoke, 3.0, "HTTP 500" if self.fail_smoke else None)

    def predict_pinned(self, name: str, body: bytes, model_uri: str) -> tuple[Probe, list[Any] | None]:
        self.sent.append(f"pinned {model_uri}")
        return Probe(True, 3.0), [self.label]

    def live_stats(self, name: str, model_uri: str, since: float) -> LiveStats | None:
        self.sent.append("stats")
        return self.stats.pop(0) if self.stats else None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _bake(target: Scripted, offline: int, bake_seconds: float, clock: Clock, **limits: Any) -> Any:
    return run_bake(
        target, "churn", URI, smoke_bodies=[b"s"] * 4, parity_rows=[(b"p", offline)] * 4,
        limits=BakeLimits(**limits), bake_seconds=bake_seconds, poll_seconds=2.0,
        clock=clock, wall=clock, sleep=clock.sleep,
    )  # fmt: skip


def test_a_clean_bake_watches_every_round_for_the_whole_bake_time() -> None:
    clock, target = Clock(), Scripted(1, stats=[LiveStats(3, 0, 4.0)] * 5)
    verdict = _bake(target, 1, 8.0, clock)
    # Four rounds of requests 2 s apart, then a last look at the live stats when the 8 s are up.
    assert verdict.passed and verdict.rounds == 5 and clock.slept == [2.0, 2.0, 2.0, 2.0]
    # Each round: its share of the smoke requests, its parity rows pinned to the new version, then the stats.
    assert target.sent[:3] == ["smoke", f"pinned {URI}", "stats"] and target.sent[-2:] == ["stats", "stats"]
    assert target.sent.count("stats") == 5 and target.sent.count("smoke") == 4
    assert verdict.parity is not None and verdict.parity.compared == 4 and verdict.live == LiveStats(3, 0, 4.0)


def test_the_first_round_that_breaches_ends_the_bake() -> None:
    clock = Clock()
    target = Scripted(1, stats=[LiveStats(3, 0, 4.0), LiveStats(10, 4, 4.0), LiveStats(20, 0, 4.0)])
    verdict = _bake(target, 1, 8.0, clock)
    assert not verdict.passed and verdict.rounds == 2 and clock.slept == [2.0]
    assert verdict.breaches == ("live error rate 40.0% (4/10) above max_error_rate 0.0%",)
    drift = _bake(Scripted(0), 1, 8.0, Clock())  # live labels 0 where evaluate predicted 1
    assert drift.rounds == 1 and "live labels differ from the offline ones on 100.0% of 1 rows" in drift.breaches[0]


def test_a_bake_of_no_time_is_one_round_and_a_target_without_stats_is_judged_on_its_requests() -> None:
    clock = Clock()
    verdict = _bake(Scripted(1, fail_smoke=True), 1, 0.0, clock)
    assert verdict.rounds == 1 and clock.slept == [] and verdict.live is None
    assert verdict.breaches[0].startswith("error rate 100.0% above max_error_rate")  # the smoke requests alone
    assert verdict.pinned == (4, 0) and len(verdict.breaches) == 2  # and no latency measured

    class Unpinnable(Scripted):
        def predict_pinned(self, name: str, body: bytes, model_uri: str) -> tuple[Probe, list[Any] | None]:
            return Probe(False, 1.0, "HTTP 409"), None

    class IgnoresPins(Scripted):  # a proxy of an older release: answers, but not as pinned
        def predict_pinned(self, name: str, body: bytes, model_uri: str) -> tuple[Probe, list[Any] | None]:
            return Probe(True, 1.0), None

    unpinned = _bake(IgnoresPins(1), 0, 0.0, Clock())
    assert unpinned.passed and unpinned.parity is None
    assert "live predictions not compared: no pinned answer came from models:/churn/2" in unpinned.summary()

    refused = _bake(Unpinnable(1), 1, 0.0, Clock())
    assert refused.smoke.passed and refused.pinned == (4, 4) and refused.parity is None
    assert refused.breaches == (
        "4 of 4 requests pinned to the new version got no predictions, above max_error_rate 0.0%",
    )


def _router(tmp_path: Path) -> Any:
    from airflow_mlops.deploy.proxy import Router

    route = tmp_path / "route.json"
    backends = [
        {"port": 7001, "weight": 90, "model_uri": "models:/churn/1"},
        {"port": 7002, "weight": 10, "model_uri": URI},
    ]
    route.write_text(json.dumps({"generation": 3, "backends": backends}))
    router = Router(route, timeout=1.0)
    router.refresh()
    return router


def test_the_proxy_pins_a_version_and_counts_errors_and_latency_per_version_since_a_time(tmp_path: Path) -> None:
    router = _router(tmp_path)
    assert router.pinned("2") == {7002} and router.pinned(URI) == {7002} and router.pinned("7") == set()
    assert {router.pick(set(), {7002}) for _ in range(20)} == {7002}  # a pinned request never meets v1
    for _ in range(20):
        router.done(7002, 200, 10.0)
    for status, ms in ((200, 4.0), (500, 8.0), (None, 30.0), (400, 2.0)):
        router.inflight[7001] = router.inflight.get(7001, 0) + 1
        router.done(7001, status, ms)
    stats = router.stats(since=0.0)["versions"]
    assert stats["models:/churn/1"] == {"requests": 4, "errors": 2, "p50_ms": 4.0, "p95_ms": 30.0, "max_ms": 30.0}
    assert stats[URI]["requests"] == 20 and stats[URI]["errors"] == 0 and stats[URI]["p95_ms"] == 10.0
    assert router.stats(since=router.recent[-1][0] + 1)["versions"] == {}
    assert router.status()["backends"][1] == {"port": 7002, "weight": 10, "model_uri": URI}
