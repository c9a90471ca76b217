"""The model card as Markdown (for a repository) and as HTML (an artifact, and the ML view's version page).

Both come from Jinja2 templates shipped beside this module. Every value on a card was written by
someone (the YAML's ``card:`` text, candidate names, slice values from the data, tags), so the HTML
environment autoescapes everything, and the Markdown one passes every value through ``md``, which
escapes HTML and the characters that would change a table or a link.
"""

from __future__ import annotations

import math
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Environment

    from airflow_mlops.card.model import ModelCard

_MARKDOWN_SPECIAL = str.maketrans(
    {"&": "&amp;", "<": "&lt;", "|": "\\|", "\\": "\\\\", "`": "\\`", "*": "\\*", "_": "\\_",
     "[": "\\[", "]": "\\]", "\n": " ", "\r": " "}
)  # fmt: skip


def md(value: Any) -> str:
    """``value`` as inert Markdown text: no HTML, no emphasis, no link, no table cell break.

    ``>`` stays readable (``f1 >= 0.9``): without a ``<`` no tag can open, and mid-line it quotes nothing.
    """
    return "" if value is None else str(value).translate(_MARKDOWN_SPECIAL)


def number(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-" if value is None else str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


@cache
def _environment(markdown: bool) -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("airflow_mlops.card", "templates"),
        autoescape=not markdown,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update({"md": md, "num": number})
    return env


def to_markdown(card: ModelCard) -> str:
    return _environment(True).get_template("model_card.md.j2").render(card=card)


def to_html_fragment(card: ModelCard) -> str:
    """The card as a ``<section>``, for a page that has its own head and stylesheet (the ML view)."""
    return _environment(False).get_template("model_card.html.j2").render(card=card)


def to_html(card: ModelCard) -> str:
    """The card as a whole HTML document with its own small stylesheet, as the artifact stores it."""
    return _environment(False).get_template("model_card_page.html.j2").render(card=card)
