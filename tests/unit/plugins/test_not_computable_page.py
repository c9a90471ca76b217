"""The run page says "not computable" with the reason where a number would be, and lists dropped candidates."""

from __future__ import annotations

from typing import Any

from airflow_mlops.plugins import views
from tests.unit.plugins.run_page import render_run_page

EVALUATION: dict[str, Any] = {
    "n_test": 10,
    "candidates": [
        {
            "candidate": "nan_scores",
            "metrics": {"f1": 0.9},
            "not_computable": {"roc_auc": "Input contains <NaN>."},
            "mlflow_run_id": "c1",
            "experiment_id": "1",
            "estimator": "trainer:x",
        },
    ],
    "champion": {"version": "3", "metrics": {"f1": 0.8}, "not_computable": {"roc_auc": "one class"}, "run_id": "c0"},
    "dropped": [{"candidate": "broken", "error": "ValueError: bad rate", "mlflow_run_id": "c2"}],
}
VERDICT: dict[str, Any] = {
    "decision": "reject",
    "candidate": "nan_scores",
    "champion_version": "3",
    "n_test": 10,
    "outcomes": [
        {
            "rule": "roc_auc >= 0.5",
            "metric": "roc_auc",
            "kind": "threshold",
            "candidate_value": None,
            "champion_value": None,
            "threshold": 0.5,
            "passed": False,
            "reason": "roc_auc not computable: Input contains <NaN>.",
        },
    ],
    "dropped": {"broken": "ValueError: bad rate"},
}


def test_rows_carry_the_reasons() -> None:
    rows = views._candidate_rows(EVALUATION, [])
    by_name = {r["name"]: r for r in rows}
    assert by_name["nan_scores"]["not_computable"] == {"roc_auc": "Input contains <NaN>."}
    assert by_name["broken"]["dropped"] and by_name["broken"]["note"] == "dropped: ValueError: bad rate"
    assert by_name["champion v3"]["not_computable"] == {"roc_auc": "one class"}
    [gate_row] = views._gate_rows(VERDICT, {}, views._not_computable(EVALUATION, VERDICT))
    assert gate_row["candidate_not_computable"] == "Input contains <NaN>."
    assert gate_row["champion_not_computable"] == "one class"


def test_the_run_page_shows_not_computable_with_the_reason() -> None:
    html = render_run_page(
        verdict=VERDICT,
        gate_rows=views._gate_rows(VERDICT, {}, views._not_computable(EVALUATION, VERDICT)),
        n_test=10,
        candidate_rows=views._candidate_rows(EVALUATION, []),
        champion_row=True,
    )
    assert 'not computable <span class="muted">(Input contains &lt;NaN&gt;.)</span>' in html
    assert "(one class)" in html
    assert '<span title="Input contains &lt;NaN&gt;.">not computable</span>' in html
    assert "<strong>broken</strong> dropped, not judged: ValueError: bad rate" in html
    assert ">nan<" not in html.lower()
