"""What every spec model shares: strictness, identifier and parameter types, import-path checks.

Every model forbids unknown keys: a typo such as ``test_sise`` must be an error that names
the field, not a silently ignored setting.
"""

import functools
import re
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationInfo

from airflow_mlops.errors import SpecValueError

IDENTIFIER = r"^[A-Za-z][A-Za-z0-9_]*$"
DEFAULT_ALLOWED_IMPORT_PREFIXES = ("sklearn.",)
ParamValue = str | int | float | bool | None | list[str | int | float | bool | None]
# A rule's finding: the field path at fault, the message and the hint.
SemanticIssue = tuple[tuple[str | int, ...], str, str]
_Rule = TypeVar("_Rule", bound=Callable[..., list[SemanticIssue]])


def cross_field_rule(*sections: str) -> Callable[[_Rule], _Rule]:
    """Mark a method as a rule that spans fields, reading these top-level ``sections``.

    The loader runs a rule even when other sections of the file failed the schema, as long
    as none of the sections it reads did: a typo in ``data:`` does not hide an unknown
    ``select_by`` metric, and a bad ``problem:`` does not add a bogus "unknown metric".
    """

    def mark(rule: _Rule) -> _Rule:
        rule.reads = frozenset(sections)  # type: ignore[attr-defined]
        return rule

    return mark


@functools.cache
def rules_of(model: type[Any]) -> tuple[Callable[[Any], list[SemanticIssue]], ...]:
    """The cross-field rules of a spec class, its base classes' first, each in the order written."""
    found: dict[str, Callable[[Any], list[SemanticIssue]]] = {}
    for owner in reversed(model.__mro__):
        for name, value in vars(owner).items():
            if callable(value) and hasattr(value, "reads"):
                found[name] = value
    return tuple(found.values())


class StrictModel(BaseModel):
    """The base of every spec model: unknown keys are errors, and specs never change once loaded."""

    # inf and nan are valid YAML floats but never a valid setting (a timedelta cannot hold them).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True)


_DOTTED = r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+"


def check_import_path(value: str, info: ValidationInfo, *, example: str, function: bool = False) -> str:
    """An import path from YAML must have the right shape and an allowed prefix.

    The prefix list is an administrator's decision (``[mlops] allowed_import_prefixes``), so a
    pipeline author cannot make a worker import arbitrary code.
    """
    pattern = _DOTTED + (r":[A-Za-z_]\w*" if function else "")
    if not re.fullmatch(pattern, value):
        shape = "package.module:function, with a colon before the function" if function else "package.module.Name"
        raise SpecValueError(f"must be an import path such as {example}", f"write it as {shape}")
    allowed = (info.context or {}).get("allowed_import_prefixes", DEFAULT_ALLOWED_IMPORT_PREFIXES)
    if not value.startswith(tuple(allowed)):
        raise SpecValueError(
            f"{value!r} is outside the allowed import prefixes {list(allowed)}; "
            "an administrator can extend the allowed_import_prefixes option of the mlops section",
            "use a path under one of these prefixes, or have its prefix added to "
            "AIRFLOW__MLOPS__ALLOWED_IMPORT_PREFIXES on every Airflow component",
        )
    return value
