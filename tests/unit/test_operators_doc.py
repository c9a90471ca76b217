"""docs/operators.md is the operators' API reference; this keeps it true to their constructors.

Every operator the provider publishes has a section whose parameter table lists exactly the
parameters its airflow-mlops classes accept, with their defaults, and marks as templated
exactly those in ``template_fields``. A renamed, added or removed parameter fails here until
the reference says so too.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import BaseOperator

from airflow_mlops.get_provider_info import get_provider_info

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "operators.md"
SECTION = re.compile(r"^## `(\w+)`$")
PARAMETER_HEADER = ["parameter", "type", "default", "templated", "meaning"]
# Cells are separated by pipes not escaped as \| (union types such as `str \| None`).
CELL_SEPARATOR = re.compile(r"(?<!\\)\|")


def published_operators() -> dict[str, type[BaseOperator]]:
    """Every operator class defined in a module the provider metadata lists under ``operators``."""
    found: dict[str, type[BaseOperator]] = {}
    for group in get_provider_info()["operators"]:
        for module_name in group["python-modules"]:
            module = importlib.import_module(module_name)
            for name, obj in vars(module).items():
                if inspect.isclass(obj) and issubclass(obj, BaseOperator) and obj.__module__ == module_name:
                    found[name] = obj
    return found


def own_parameters(operator: type[BaseOperator]) -> dict[str, inspect.Parameter]:
    """The constructor parameters the package's own classes in the MRO declare.

    A base class may own a parameter (``mlflow_conn_id``); the Airflow classes underneath
    (BaseOperator, ApprovalOperator) take the rest through ``**kwargs`` and are not ours to document.
    """
    params: dict[str, inspect.Parameter] = {}
    for cls in reversed(operator.__mro__):
        if not cls.__module__.startswith("airflow_mlops") or "__init__" not in vars(cls):
            continue
        for param in inspect.signature(cls.__init__).parameters.values():
            if param.name != "self" and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                params[param.name] = param
    return params


def _cells(line: str) -> list[str]:
    return [cell.strip().replace("\\|", "|") for cell in CELL_SEPARATOR.split(line.strip().strip("|"))]


def documented() -> dict[str, list[list[str]]]:
    """``{operator: parameter-table rows}`` for every ``## `Name` `` section of the doc."""
    sections: dict[str, list[list[str]]] = {}
    current: str | None = None
    in_table = False
    for line in DOC.read_text().splitlines():
        heading = SECTION.match(line)
        if heading or line.startswith("## "):
            current = heading.group(1) if heading else None
            if current is not None:
                assert current not in sections, f"{current} has two sections"
                sections[current] = []
            in_table = False
            continue
        if current is None:
            continue
        if line.startswith("|") and _cells(line) == PARAMETER_HEADER:
            in_table = True
        elif in_table and line.startswith("|"):
            cells = _cells(line)
            if not set(cells[0]) <= {"-"}:
                assert len(cells) == len(PARAMETER_HEADER), f"{current}: malformed row {line!r}"
                sections[current].append(cells)
        else:
            in_table = False
    return sections


def _name(cell: str) -> str:
    assert cell.startswith("`") and cell.endswith("`"), f"parameter {cell!r} is not written as `name`"
    return cell.strip("`")


OPERATORS = published_operators()
SECTIONS = documented()


def test_the_published_operators_are_found() -> None:
    assert len(OPERATORS) >= 12
    assert {"TrainCandidateOperator", "PromoteModelOperator", "ModelApprovalOperator"} <= set(OPERATORS)


def test_every_section_is_a_published_operator_and_every_operator_has_one() -> None:
    assert sorted(SECTIONS) == sorted(OPERATORS)


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_parameter_table_names_exactly_the_constructor_parameters(name: str) -> None:
    rows = SECTIONS.get(name, [])
    names = [_name(row[0]) for row in rows]
    assert len(names) == len(set(names)), f"{name}: a parameter is listed twice"
    actual = set(own_parameters(OPERATORS[name]))
    assert not actual - set(names), f"{name}: parameters missing from docs/operators.md"
    assert not set(names) - actual, f"{name}: docs/operators.md names parameters {name}.__init__ does not have"


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_defaults_match_the_signature(name: str) -> None:
    params = own_parameters(OPERATORS[name])
    for row in SECTIONS.get(name, []):
        param = params.get(_name(row[0]))
        if param is None:
            continue  # reported by the test above
        default: Any = row[2]
        if param.default is inspect.Parameter.empty:
            assert default == "required", f"{name}.{param.name} has no default; the doc says {default}"
        else:
            assert default.startswith("`") and default.endswith("`"), f"{name}.{param.name}: default {default!r}"
            assert ast.literal_eval(default.strip("`")) == param.default, f"{name}.{param.name}"


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_templated_column_matches_template_fields(name: str) -> None:
    operator = OPERATORS[name]
    own = set(own_parameters(operator))
    marked = {_name(row[0]) for row in SECTIONS.get(name, []) if row[3] == "yes"}
    assert all(row[3] in ("yes", "") for row in SECTIONS.get(name, [])), name
    assert marked == own & set(operator.template_fields), name
