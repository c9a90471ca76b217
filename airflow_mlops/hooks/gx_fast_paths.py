"""Two places where Great Expectations 1.x spends more on a big pandas frame than its checks do.

Profiled on 1M rows x 20 columns with 20 rules (``bench/validation_suite.py``), GX took 7x the
same checks in plain pandas, and 80% of that was outside the checks:

- **A Python loop over every value of a numeric column.** Before ``column.mean``, ``.sum`` and
  ``.standard_deviation``, ``great_expectations.util.convert_pandas_series_decimal_to_float_dtype``
  asks ``does_ndarray_contain_decimal_dtype``, which runs ``isinstance(value, Decimal)`` on each
  value, one at a time: about 0.24 s per million values, for each such rule. A numpy array of a
  numeric dtype cannot hold a ``Decimal`` (only an ``object`` array can), so the answer for those
  is known from the dtype; :func:`_decimal_check` says so and leaves ``object`` arrays to GX's
  own loop. The answer is the same for every array; only the time differs.
- **A fingerprint of the whole frame.** The pandas execution engine hashes every frame under
  1 GB in memory (``hash_pandas_object`` and md5; 0.14 s at 1M x 20) into the batch markers.
  Our record never reads it: the data is named by the md5 DVC stores for the file's bytes, and
  :func:`without_frame_fingerprint` skips the hash for the one validation it wraps.

Neither changes a verdict, a count or an observed value (tests/unit/hooks/test_gx_fast_paths.py
checks both against GX's own). Both are applied only to the GX version they were written
against, found by the functions they replace; with another version, GX runs as it is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

_ORIGINAL_ATTRIBUTE = "__mlops_original__"


def install() -> None:
    """Replace GX's per-value Decimal scan with one that answers numeric dtypes at once (idempotent)."""
    from great_expectations import util

    current = getattr(util, "does_ndarray_contain_decimal_dtype", None)
    if current is None or hasattr(current, _ORIGINAL_ATTRIBUTE):
        return
    util.does_ndarray_contain_decimal_dtype = _decimal_check(current)


def _decimal_check(original: Callable[..., bool]) -> Callable[..., bool]:
    def does_ndarray_contain_decimal_dtype(data: Any) -> bool:
        dtype = getattr(data, "dtype", None)
        if dtype is not None and dtype.kind in "biufcmM":  # bool, ints, floats, complex, datetimes
            return False
        return bool(original(data=data))

    setattr(does_ndarray_contain_decimal_dtype, _ORIGINAL_ATTRIBUTE, original)
    return does_ndarray_contain_decimal_dtype


@contextlib.contextmanager
def without_frame_fingerprint() -> Iterator[None]:
    """Within the block, GX's pandas engine does not hash each frame into the batch markers."""
    from great_expectations.execution_engine import pandas_execution_engine as engine

    threshold = getattr(engine, "HASH_THRESHOLD", None)
    if threshold is None:
        yield
        return
    engine.HASH_THRESHOLD = 0  # "hash frames smaller than 0 bytes": none
    try:
        yield
    finally:
        engine.HASH_THRESHOLD = threshold
