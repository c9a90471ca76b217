"""The terminal report of a run shows a metric that could not be computed, and dropped candidates, in words."""

from __future__ import annotations

from airflow_mlops.report import format_report


def test_not_computable_metrics_and_dropped_candidates_are_named_not_printed_as_nan() -> None:
    report = {
        "run_id": "r",
        "dag_id": "d",
        "model_name": "m",
        "aliases": {"champion": None},
        "evaluation": {
            "n_test": 10,
            "candidates": [
                {
                    "candidate": "nan_scores",
                    "metrics": {"f1": 0.9},
                    "not_computable": {"roc_auc": "Input contains NaN."},
                },
                {"candidate": "logreg", "metrics": {"f1": 0.8, "roc_auc": 0.85}},
            ],
            "champion": {"version": "2", "metrics": {"f1": float("nan")}},
            "dropped": [{"candidate": "broken", "error": "ValueError: bad rate", "mlflow_run_id": "x"}],
        },
        "verdict": {
            "decision": "reject",
            "candidate": "nan_scores",
            "outcomes": [{"passed": False, "reason": "roc_auc not computable: Input contains NaN."}],
        },
    }
    text = format_report(report)
    [nan_row] = [line for line in text.splitlines() if line.strip().startswith("nan_scores ")]
    assert nan_row.split()[1:] == ["0.9000", "n/c"]
    assert "nan_scores roc_auc: not computable: Input contains NaN." in text
    assert "dropped broken: ValueError: bad rate" in text
    assert "NO  roc_auc not computable: Input contains NaN." in text
