"""HTML for the ML view: Jinja templates shipped in the wheel, with autoescaping on everything.

Every value on a page comes from somewhere a user can write (pipeline YAML descriptions, run
ids, candidate names, MLflow tags), so the environment escapes all of it; the one piece of
markup built in Python, the sparkline, escapes its text and writes only numbers it formatted.
No script runs on these pages and nothing is fetched from elsewhere: the stylesheet and the
icon are served by the plugin itself (``static/``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from typing import Any

from jinja2 import ChainableUndefined, Environment, PackageLoader, Undefined
from markupsafe import Markup, escape

from airflow_mlops.plugins import urls

STATIC_TYPES = {"style.css": "text/css; charset=utf-8", "icon.svg": "image/svg+xml"}
METRIC_ORDER = ("f1", "roc_auc", "accuracy", "precision", "recall", "log_loss", "r2", "rmse", "mae")


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("airflow_mlops.plugins", "templates"),
        autoescape=True,
        # The pages show records written by other versions, other tools or by hand: a missing
        # field renders as empty (or "-" through the filters) instead of failing the page.
        undefined=ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        {"num": number, "short": short, "when": when, "safe_url": urls.without_userinfo, "signed": signed}
    )
    env.globals.update(
        {
            "urls": urls,
            "metric_columns": metric_columns,
            "sparkline": sparkline,
            "delta": delta,
        }
    )
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def static_file(name: str) -> bytes | None:
    if name not in STATIC_TYPES:
        return None
    return files("airflow_mlops.plugins").joinpath("static", name).read_bytes()


def number(value: Any, digits: int = 4) -> str:
    if value is None or isinstance(value, Undefined):
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}" if math.isfinite(value) else str(value)
    return str(value)


def signed(value: float | None, digits: int = 4) -> str:
    return f"{value:+.{digits}f}" if isinstance(value, int | float) else "-"


def short(value: Any, length: int = 12) -> str:
    return "-" if not value or isinstance(value, Undefined) else str(value)[:length]


def when(value: str | None) -> str:
    """``2026-11-22T20:29:08+00:00`` -> ``2026-11-22 20:29:08 UTC``; the UI shows times in UTC."""
    if not value or isinstance(value, Undefined):
        return "-"
    text = str(value).replace("T", " ")
    return text.removesuffix("+00:00") + " UTC" if text.endswith("+00:00") else text


def metric_columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The metric names present in any row, in the order people read them (f1 first)."""
    present = {name for row in rows for name in row}
    known = [m for m in METRIC_ORDER if m in present]
    return known + sorted(present - set(known))


def delta(candidate: float | None, reference: float | None) -> float | None:
    if not isinstance(candidate, int | float) or not isinstance(reference, int | float):
        return None
    return float(candidate) - float(reference)


def sparkline(points: Sequence[dict[str, Any]], width: int = 140, height: int = 32) -> Markup:
    """An inline SVG line of ``value`` over runs (oldest first), a dot per run coloured by verdict.

    ``points`` are ``{"value": float | None, "decision": str | None, "label": str, "data": str | None}``;
    runs without a value leave a gap in the line but keep their place on the x axis. Runs on
    different data (``data``: the commit) were scored on different test rows, so the line is not
    drawn across a change of data: a dashed mark stands there instead, titled with both commits.
    """
    values: list[float] = [float(p["value"]) for p in points if isinstance(p.get("value"), int | float)]
    if not values:
        return Markup('<span class="muted">no metrics yet</span>')
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    pad = 4.0
    step = (width - 2 * pad) / max(len(points) - 1, 1)

    def y(value: float) -> float:
        return height - pad - (value - low) / span * (height - 2 * pad)

    segments: list[list[str]] = [[]]
    dots: list[str] = []
    marks: list[str] = []
    data: Any = None
    for i, point in enumerate(points):
        value = point.get("value")
        if not isinstance(value, int | float):
            segments.append([])
            continue
        x = pad + i * step
        if dots and point.get("data") != data:
            segments.append([])
            title = escape(f"data changed: {str(data or '?')[:8]} → {str(point.get('data') or '?')[:8]}")
            middle = x - step / 2
            marks.append(f'<line class="spark-data-change" x1="{middle:.1f}" y1="0" x2="{middle:.1f}" y2="{height}">'
                         f"<title>{title}</title></line>")  # fmt: skip
        data = point.get("data")
        yy = y(float(value)) if high != low else height / 2
        segments[-1].append(f"{x:.1f},{yy:.1f}")
        css = {"promote": "dot-promote", "reject": "dot-reject"}.get(str(point.get("decision")), "dot-none")
        title = escape(f"{point.get('label', '')}: {number(value)} ({point.get('decision') or 'no verdict'})")
        dots.append(f'<circle class="{css}" cx="{x:.1f}" cy="{yy:.1f}" r="2.6"><title>{title}</title></circle>')
    lines = "".join(f'<polyline class="spark" points="{" ".join(s)}"/>' for s in segments if len(s) > 1)
    versions = f" on {len(marks) + 1} data versions" if marks else ""
    label = escape(f"from {number(values[0])} to {number(values[-1])} over {len(points)} runs{versions}")
    return Markup(
        f'<svg class="sparkline" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{label}">{"".join(marks)}{lines}{"".join(dots)}</svg>'
    )
