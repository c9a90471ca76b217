"""Where and when a DAG run's task instances ran, from the REST API's records: a table for the CI log, and overlap."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def ran_together(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two task instances ran at the same time on different workers."""
    return (
        a["hostname"] != b["hostname"]
        and when(a["start_date"]) < when(b["end_date"])
        and when(b["start_date"]) < when(a["end_date"])
    )


def label(ti: dict[str, Any]) -> str:
    if ti["map_index"] < 0:
        return str(ti["task_id"])
    return f"{ti['task_id']}[{ti.get('rendered_map_index') or ti['map_index']}]"


def assignment_table(tis: list[dict[str, Any]]) -> str:
    rows = sorted(tis, key=lambda ti: (ti["start_date"] or "", ti["map_index"]))
    t0 = min(when(ti["start_date"]) for ti in rows if ti["start_date"])
    lines = [f"{'task':<22} {'worker':<8} {'state':<15} {'start':>7} {'end':>7}"]
    for ti in rows:
        start = f"{(when(ti['start_date']) - t0).total_seconds():7.1f}" if ti["start_date"] else "      -"
        end = f"{(when(ti['end_date']) - t0).total_seconds():7.1f}" if ti["end_date"] else "      -"
        lines.append(f"{label(ti):<22} {ti['hostname'] or '-':<8} {ti['state']:<15} {start} {end}")
    return "\n".join(lines)
