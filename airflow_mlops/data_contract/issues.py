"""A problem the checks found in a dataset, and the diff a person reads to fix it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Rule = Literal[
    "duplicate_column",
    "missing_column",
    "unexpected_column",
    "type_changed",
    "id_like_string",
    "id_like_number",
    "numeric_text",
    "feature_not_finite",
    "too_few_rows",
    "single_class",
    "class_too_small",
    "target_null",
    "target_not_finite",
    "target_continuous",
    "target_not_numeric",
    "stratify_regression",
    "leakage_equals_target",
    "leakage_predicts_target",
]

#: Rules about the set and types of columns; the diff shows them as +, - and ~ lines.
_DIFF_MARK: dict[str, str] = {"unexpected_column": "+", "missing_column": "-", "type_changed": "~"}


@dataclass(frozen=True)
class ContractIssue:
    """One problem: the column at fault, the rule it breaks, what to do, and whether the run must stop.

    ``expected``/``found`` are the logical types before and after, where the rule compares
    types (``None`` when the column is absent on that side).
    """

    rule: Rule
    column: str | None
    message: str
    blocking: bool = True
    expected: str | None = None
    found: str | None = None

    def __str__(self) -> str:
        where = f"column {self.column!r}: " if self.column is not None else ""
        verdict = "" if self.blocking else " (allowed)"
        return f"{self.rule}: {where}{self.message}{verdict}"


def blocking(issues: Iterable[ContractIssue]) -> list[ContractIssue]:
    return [issue for issue in issues if issue.blocking]


def format_diff(issues: Iterable[ContractIssue], against: str = "the contract") -> str:
    """The issues as a diff of the data against ``against`` (say "the champion's signature"), then the rest.

    ``+ customer_id (string)`` is a column the data adds, ``- mean_area (float)`` one it lacks,
    ``~ worst_area: float -> string`` one whose type changed; lines that stop the run end in
    ``[blocks]`` (or ``[allowed]``) and the message. Other problems follow as
    ``! column: rule  [blocks] message``.
    """
    issues = list(issues)
    if not issues:
        return f"the data matches {against}"
    stops = len(blocking(issues))
    lines = [f"the data differs from {against}: {len(issues)} issue(s), {stops} stopping the run"]
    for issue in issues:
        if issue.rule in _DIFF_MARK:
            lines.append(_diff_line(issue))
    for issue in issues:
        if issue.rule not in _DIFF_MARK:
            where = issue.column if issue.column is not None else "(data)"
            lines.append(f"! {where}: {issue.rule}{_tail(issue)} {issue.message}")
    return "\n".join(lines)


def _diff_line(issue: ContractIssue) -> str:
    mark = _DIFF_MARK[issue.rule]
    if mark == "~":
        body = f"{issue.column}: {issue.expected} -> {issue.found}"
    else:
        kind = issue.found if mark == "+" else issue.expected
        body = f"{issue.column} ({kind or 'any type'})"
    return f"{mark} {body}{_tail(issue)} {issue.message}"


def _tail(issue: ContractIssue) -> str:
    return "  [blocks]" if issue.blocking else "  [allowed]"
