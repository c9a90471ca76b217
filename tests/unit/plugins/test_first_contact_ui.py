"""What a new user saw in the UI (issue #15): "schedule None", a trend joining different data, a wrapped commit."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from airflow_mlops.plugins import metadata, render
from tests.unit.plugins.test_render import _pipelines_page, _run

STYLE = Path(render.__file__).with_name("static") / "style.css"


def _point(value: float, data: str, label: str) -> dict[str, object]:
    return {"value": value, "decision": "promote", "label": label, "data": data}


def test_the_trend_is_not_drawn_across_a_change_of_data() -> None:
    svg = str(
        render.sparkline(
            [
                _point(0.90, "a" * 40, "r1"),
                _point(0.91, "a" * 40, "r2"),
                _point(0.80, "b" * 40, "r3"),
                _point(0.82, "b" * 40, "r4"),
            ]
        )
    )

    assert svg.count("<polyline") == 2  # r1-r2 and r3-r4, never r2-r3
    [mark] = re.findall(r'<line class="spark-data-change"[^>]*>.*?</line>', svg)
    assert f"data changed: {'a' * 8} → {'b' * 8}" in mark
    assert "over 4 runs on 2 data versions" in svg


def test_runs_on_the_same_data_make_one_line_without_marks() -> None:
    svg = str(render.sparkline([_point(0.9, "a", "r1"), _point(0.91, "a", "r2"), _point(0.92, "a", "r3")]))

    assert svg.count("<polyline") == 1
    assert "spark-data-change" not in svg and "data versions" not in svg


def test_each_run_names_its_data_commit_in_one_piece() -> None:
    commit = "df7352faa7ab0123456789abcdef0123456789ab"
    run = SimpleNamespace(
        run_id="manual__1", state="success", run_type="manual", run_after=datetime(2026, 1, 1, tzinfo=UTC),
        start_date=None, end_date=None,
    )  # fmt: skip

    summary = metadata.run_summary(run, {"resolve_data": {"commit": commit}})  # type: ignore[arg-type]
    html = _pipelines_page(runs=[{**_run(), "data_commit": commit}])

    assert summary["data_commit"] == commit
    assert f'<td class="mono commit" title="{commit}">{commit[:8]}</td>' in html
    assert re.search(r"\.commit \{[^}]*white-space: nowrap", STYLE.read_text())


def test_a_pipeline_without_a_schedule_says_so_in_words() -> None:
    assert metadata._schedule("None") is None  # what Airflow's timetable summary says for schedule=None
    assert metadata._schedule("0 3 * * *") == "0 3 * * *"

    html = _pipelines_page(schedule=None)

    assert "schedule <code>None" not in html and "no schedule: runs when triggered" in html
    assert "schedule <code>0 3 * * *</code>" in _pipelines_page(schedule="0 3 * * *")
