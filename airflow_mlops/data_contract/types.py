"""Logical column types: what a pandas dtype or an MLflow signature type means to the contract.

Types are compared by family. A change inside a family is harmless to training (an integer
column that gained a missing value is read back as float; MLflow records a category column
as string), so it is reported without blocking. A change across families (a number column
that now holds the text "abc") changes what the model sees, so it blocks by default.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_mlops.data_contract.vocabulary import LOGICAL_TYPES, LogicalType

if TYPE_CHECKING:
    import pandas as pd

#: MLflow's ``DataType`` names (mlflow.types.schema) and what they mean here; binary is opaque text.
_MLFLOW_TYPES: dict[str, LogicalType] = {
    "boolean": "boolean",
    "integer": "integer",
    "long": "integer",
    "float": "float",
    "double": "float",
    "string": "string",
    "binary": "string",
    "datetime": "datetime",
}

_FAMILY: dict[LogicalType, str] = {
    "integer": "number",
    "float": "number",
    "boolean": "number",
    "string": "text",
    "category": "text",
    "datetime": "time",
}


def logical_type_of(series: pd.Series) -> LogicalType:
    """The logical type of a column as pandas read it; anything unusual counts as text."""
    try:
        return _logical_type_of_dtype(series.dtype)
    except TypeError:  # an unhashable dtype: judge it uncached
        return _logical_type_of_dtype.__wrapped__(series.dtype)


def column_types(frame: pd.DataFrame) -> dict[str, LogicalType]:
    """Every column's logical type by name (the first of a repeated name), read from the dtypes alone.

    A rule that only needs a type must not pull the column out of the frame: each ``frame[name]``
    costs tens of microseconds, and the checks ask about every column several times.
    """
    kinds: dict[str, LogicalType] = {}
    for name, dtype in zip(frame.columns.tolist(), frame.dtypes.tolist(), strict=True):
        if str(name) not in kinds:
            try:
                kinds[str(name)] = _logical_type_of_dtype(dtype)
            except TypeError:  # an unhashable dtype: judge it uncached
                kinds[str(name)] = _logical_type_of_dtype.__wrapped__(dtype)
    return kinds


@functools.lru_cache(maxsize=256)
def _logical_type_of_dtype(dtype: Any) -> LogicalType:
    # pandas' dtype predicates cost microseconds each and every rule asks about every column,
    # so each distinct dtype is judged once.
    import pandas as pd
    from pandas.api import types

    if types.is_bool_dtype(dtype):
        return "boolean"
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if types.is_integer_dtype(dtype):
        return "integer"
    if types.is_float_dtype(dtype):
        return "float"
    if types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "string"


def from_mlflow_type(name: str) -> LogicalType:
    """The logical type of an MLflow signature column; objects, arrays and the unknown count as text."""
    return _MLFLOW_TYPES.get(name, "string")


def parse_logical_type(name: str) -> LogicalType:
    """A type as written in the YAML or in a recorded contract, or an MLflow name such as ``double``."""
    if name in LOGICAL_TYPES:
        return name  # type: ignore[return-value]
    return from_mlflow_type(name)


def same_family(before: LogicalType, after: LogicalType) -> bool:
    """Whether a column can change from ``before`` to ``after`` without changing what the model learns from."""
    return _FAMILY[before] == _FAMILY[after]


def is_text(kind: LogicalType) -> bool:
    """Text columns are the ones the standard preprocessing one-hot encodes."""
    return _FAMILY[kind] == "text"


def logical_type_of_arrow(arrow_type: Any) -> LogicalType | None:
    """The logical type of an Arrow column (a snapshot's schema); None for a column of nulls only."""
    import pyarrow as pa

    checks: tuple[tuple[Any, LogicalType], ...] = (
        (pa.types.is_boolean, "boolean"),
        (pa.types.is_integer, "integer"),
        (pa.types.is_floating, "float"),
        (pa.types.is_decimal, "float"),
        (pa.types.is_temporal, "datetime"),
        (pa.types.is_dictionary, "category"),
    )
    if pa.types.is_null(arrow_type):
        return None
    return next((kind for check, kind in checks if check(arrow_type)), "string")


def declared_schema_issues(
    observed: Mapping[str, LogicalType | None], declared: Mapping[str, LogicalType]
) -> list[str]:
    """What differs between the columns a source returned and the ones the pipeline declared, one line each.

    Columns the declaration does not name are allowed; a declared column must be there with a type
    of the same family (a column of nulls only matches any type).
    """
    issues: list[str] = []
    for name, kind in declared.items():
        if name not in observed:
            issues.append(f"column {name!r} (declared {kind}) is missing; the source has {sorted(observed)}")
            continue
        found = observed[name]
        if found is not None and not same_family(kind, found):
            issues.append(f"column {name!r} is {found}, declared {kind}")
    return issues
