"""The run page rendered from a view model with every key set, so a test states only what it is about."""

from __future__ import annotations

from typing import Any

from airflow_mlops.plugins import render

EMPTY_RUN_VIEW: dict[str, Any] = {
    "root": "/mlops",
    "title": "t",
    "dag_id": "d",
    "run_id": "r",
    "run": {"state": "success", "start_date": None, "end_date": None},
    "tasks": [],
    "mlflow_run_id": None,
    "experiment_id": None,
    "data": None,
    "validation": None,
    "verdict": None,
    "serving": None,
    "gate_rows": [],
    "n_test": None,
    "candidate_rows": [],
    "champion_row": False,
    "registered": [],
    "aliases": {},
    "mlflow_error": None,
    "mlflow_ui": None,
}


def render_run_page(**view: Any) -> str:
    """``run.html`` for ``view`` over :data:`EMPTY_RUN_VIEW`."""
    return render.render("run.html", **{**EMPTY_RUN_VIEW, **view})
