"""Which columns a suite reads, so the validation task reads only those from the file.

Validating 5M rows x 20 columns read and decoded the whole file to check the seven columns its
ten rules name (issue #22): the time went into parsing columns no rule looks at, and the peak
memory held the file's bytes, the Arrow table and the frame, three times 20 columns. A column
expectation reads the columns its kwargs name and a row count reads none, so a frame of just
those columns gives each the same result. Anything else needs the whole table: a rule on the
table's columns (their count, their names, a column's position), a ``row_condition`` (a query
over any column), or a kind not known here. Then every column is read, as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: Rules on the number of rows only: the selected columns hold as many rows as the file.
_ROW_COUNT = frozenset({"expect_table_row_count_to_be_between", "expect_table_row_count_to_equal"})
#: The kinds whose kwargs name every column they read (GX 1.x: one column, a pair, or a list).
_COLUMN_KINDS = ("expect_column_", "expect_multicolumn_", "expect_compound_columns_", "expect_select_column_")
_ONE = ("column", "column_A", "column_B")


def columns_read(expectations: Sequence[Mapping[str, Any]]) -> list[str] | None:
    """The columns the suite's rules read, in order; None when one of them needs the whole table."""
    names: list[str] = []
    for item in expectations:
        kind, kwargs = item.get("type"), item.get("kwargs") or {}
        if kwargs.get("row_condition"):
            return None
        if kind in _ROW_COUNT:
            continue
        if not isinstance(kind, str) or not kind.startswith(_COLUMN_KINDS):
            return None
        if kind == "expect_column_to_exist" and kwargs.get("column_index") is not None:
            return None  # the column's position among all of them
        named = [kwargs[key] for key in _ONE if key in kwargs] + list(kwargs.get("column_list") or [])
        if not named or not all(isinstance(name, str) for name in named):
            return None
        names += named
    return list(dict.fromkeys(names))
