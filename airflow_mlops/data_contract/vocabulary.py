"""The words of a data contract and the defaults of its checks, shared with the pipeline spec.

This module imports nothing but ``typing``: ``airflow_mlops.spec`` uses these literals for
its YAML fields, and the spec must not pull pandas in, even indirectly.
"""

from typing import Literal

LogicalType = Literal["integer", "float", "boolean", "string", "category", "datetime"]
"""A column's type as the contract sees it: coarser than a dtype, stable across file formats."""

LOGICAL_TYPES: tuple[LogicalType, ...] = ("integer", "float", "boolean", "string", "category", "datetime")

ColumnPolicy = Literal["fail", "ignore"]
"""What a column difference does to the run: ``fail`` stops it, ``ignore`` lets it through.

For a new column, ``ignore`` leaves it out of training (declare it in ``features`` or
``columns`` to train on it); for a missing one, training goes on without it; for a changed
type, the column is trained with its new type.
"""

Problem = Literal["classification", "regression"]

#: A string column with more distinct values than this share of its rows looks like an id.
DEFAULT_ID_MAX_UNIQUE_RATIO = 0.5
#: ... but only with more distinct values than this: a small frame is not an id register.
DEFAULT_ID_MIN_UNIQUE = 20
#: A feature predicting a class target with this balanced accuracy on held-out rows is a leak.
DEFAULT_LEAKAGE_ACCURACY = 0.99
#: A feature whose absolute Pearson correlation with a regression target exceeds this is a leak.
DEFAULT_LEAKAGE_CORRELATION = 0.999
#: The leakage check looks at a random sample of at most this many rows, to stay fast.
DEFAULT_LEAKAGE_SAMPLE_ROWS = 50_000
#: A text column whose non-empty values parse as numbers at least this often is a broken number column.
DEFAULT_NUMERIC_TEXT_RATIO = 0.9
