"""docs/reliability.md promises that every row is backed by a test CI runs; this keeps it true.

Each table row must name at least one test, and every named test must exist: a renamed or
deleted test would otherwise leave a claim in the docs with nothing behind it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reliability.md"
REFERENCE = re.compile(r"`((?:[\w/]+/)?\w+\.py)?(?:::(\w+))?`")


def _rows() -> list[list[str]]:
    rows = []
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and not set(cells[0]) <= {"-"} and cells[-1] != "test":
            rows.append(cells)
    return rows


def _test_file(name: str) -> Path:
    if "/" in name:
        return ROOT / name
    found = list((ROOT / "tests").rglob(name))
    assert len(found) == 1, f"{name} names {len(found)} files under tests/"
    return found[0]


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_the_doc_has_both_tables() -> None:
    text = DOC.read_text()
    assert "## Faults injected" in text and "## Bad input" in text
    assert len(_rows()) >= 15


def test_every_row_names_tests_that_exist() -> None:
    for cells in _rows():
        references = [(m.group(1), m.group(2)) for m in REFERENCE.finditer(cells[-1]) if m.group(1) or m.group(2)]
        assert references, f"row without a test: {cells[0]}"
        current: Path | None = None
        for file_name, function in references:
            if file_name:
                current = _test_file(file_name)
                assert current.is_file(), f"{cells[0]}: {file_name} does not exist"
            assert current is not None, f"{cells[0]}: '::{function}' without a file before it"
            if function:
                assert function in _functions(current), f"{cells[0]}: {current.name} has no {function}"
