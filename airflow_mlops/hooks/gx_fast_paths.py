"""Where Great Expectations 1.x spends more on a validation than its checks do, and how we skip it.

Profiled on 1M rows x 20 columns with 20 rules (``bench/validation_suite.py``), GX first took 7x
the same checks in plain pandas. Two costs grew with the rows:

- **A Python loop over every value of a numeric column.** Before ``column.mean``, ``.sum`` and
  ``.standard_deviation``, ``great_expectations.util.convert_pandas_series_decimal_to_float_dtype``
  asks ``does_ndarray_contain_decimal_dtype``, which runs ``isinstance(value, Decimal)`` on each
  value, one at a time: about 0.24 s per million values, for each such rule. A numpy array of a
  numeric dtype cannot hold a ``Decimal`` (only an ``object`` array can), so the answer for those
  is known from the dtype; :func:`_decimal_check` says so and leaves ``object`` arrays to GX's
  own loop.
- **A fingerprint of the whole frame.** The pandas execution engine hashes every frame under
  1 GB in memory (``hash_pandas_object`` and md5; 0.14 s at 1M x 20) into the batch markers.
  Our record never reads it: the data is named by the md5 DVC stores for the file's bytes, and
  :func:`without_frame_fingerprint` skips the hash for the one validation it wraps.

- **Whole lists cut to their first 20.** Outside COMPLETE, a column rule's report keeps its first
  ``partial_unexpected_count`` unexpected values and their row indices, yet GX gathered every
  unexpected row first (the whole frame's rows, for the index list): 20 ms at 1M rows for one rule
  with 5% missing. :func:`_first_unexpected_only` hands GX's two functions a condition with only
  the first of those rows still marked, so they read no more than they keep.

Three more were a fixed cost per validation, whatever the rows, which kept 1M rows above 2x pandas:

- **The same configuration built over and over.** ``Expectation.configuration`` is a property that
  dumps the pydantic model and builds a new ``ExpectationConfiguration`` at every read, and
  building the metric graph reads it about 110 times per rule (each domain, success and runtime
  kwarg reads it anew), and turns each of those configurations back into an expectation (a
  pydantic validation) to read its kwargs. :func:`one_configuration_per_expectation` builds each
  once per expectation object for the validation it wraps; nothing in that validation changes an
  expectation, and GX copies a configuration before it changes one.
- **A class name converted to snake case by two regular expressions at each of those reads**:
  ``camel_to_snake`` is a pure function of a class name, so it is memoized.
- **Metric ids.** Every metric configuration names itself by md5 over JSON of its kwargs, first
  passed through ``convert_to_json_serializable``, whose type ladder asks numpy about ``None``
  four times before it returns it. Kwargs made of plain JSON values (str, int, finite float, bool,
  None, lists and str-keyed dicts of them) come out of that ladder as they went in, so
  :func:`_plain_json_first` returns them at once and sends anything else down GX's own ladder.

None changes a verdict, a count, an observed value or an id (tests/unit/hooks/test_gx_fast_paths.py
checks them against GX's own, on rules that pass and rules that fail). Each is applied only where
the GX function it replaces is found; with another GX version, GX runs as it is.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
from collections.abc import Callable, Iterator
from typing import Any

_ORIGINAL_ATTRIBUTE = "__mlops_original__"
# One validation at a time may hold the class-level replacements below; a second thread waits
# rather than restoring GX's originals under the first one's feet.
_VALIDATION_LOCK = threading.RLock()


def install() -> None:
    """Replace GX functions whose answers we give faster, the same answers (idempotent)."""
    from great_expectations import util
    from great_expectations.core import id_dict
    from great_expectations.expectations import expectation, registry
    from great_expectations.expectations.metrics.map_metric_provider import map_metric_provider

    _wrap(util, "does_ndarray_contain_decimal_dtype", _decimal_check)
    _wrap(expectation, "camel_to_snake", functools.lru_cache(maxsize=1024))
    _wrap(id_dict, "convert_to_json_serializable", _plain_json_first)
    # Later registrations (a user's own map metrics) take the module's name; the ones made at import
    # hold the function itself, so the registry is walked too.
    replacements = {}
    for name in _PARTIAL_LIST_PROVIDERS:
        _wrap(map_metric_provider, name, _first_unexpected_only)
        replacement = getattr(map_metric_provider, name, None)
        if hasattr(replacement, _ORIGINAL_ATTRIBUTE):  # absent from another GX version: left as it is
            replacements[getattr(replacement, _ORIGINAL_ATTRIBUTE)] = replacement
    for definition in registry._registered_metrics.values():
        providers = definition.get("providers", {})
        for engine, (metric_class, provider) in list(providers.items()):
            if provider in replacements:
                providers[engine] = (metric_class, replacements[provider])


def _wrap(module: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    current = getattr(module, name, None)
    if current is None or hasattr(current, _ORIGINAL_ATTRIBUTE):
        return
    replacement = make(current)
    setattr(replacement, _ORIGINAL_ATTRIBUTE, current)
    setattr(module, name, replacement)


def _decimal_check(original: Callable[..., bool]) -> Callable[..., bool]:
    def does_ndarray_contain_decimal_dtype(data: Any) -> bool:
        dtype = getattr(data, "dtype", None)
        if dtype is not None and dtype.kind in "biufcmM":  # bool, ints, floats, complex, datetimes
            return False
        return bool(original(data=data))

    return does_ndarray_contain_decimal_dtype


class _NotPlain(Exception):
    """A value GX's own conversion must see."""


def _plain(value: Any) -> Any:
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:
        return value
    if kind is float:
        if math.isfinite(value):
            return value
        raise _NotPlain  # GX turns NaN into None
    if kind is list or kind is tuple:
        return [_plain(item) for item in value]
    if kind is dict:
        if not all(type(key) is str for key in value):
            raise _NotPlain
        return {key: _plain(item) for key, item in value.items()}
    raise _NotPlain


def _plain_json_first(original: Callable[..., Any]) -> Callable[..., Any]:
    def convert_to_json_serializable(data: Any) -> Any:
        try:
            return _plain(data)  # new containers, as GX's own returns
        except _NotPlain:
            return original(data=data)

    return convert_to_json_serializable


# GX's pandas functions for a column rule's partial lists: its first unexpected values and their
# row indices.
_PARTIAL_LIST_PROVIDERS = ("_pandas_column_map_condition_values", "_pandas_map_condition_index")


def _first_unexpected_only(original: Callable[..., Any]) -> Callable[..., Any]:
    def provider(*args: Any, **kwargs: Any) -> Any:
        metrics = kwargs.get("metrics")
        result_format = (kwargs.get("metric_value_kwargs") or {}).get("result_format")
        if isinstance(metrics, dict) and isinstance(result_format, dict):
            kwargs["metrics"] = _first_unexpected_metrics(metrics, result_format)
        return original(*args, **kwargs)

    return provider


def _first_unexpected_metrics(metrics: dict[str, Any], result_format: dict[str, Any]) -> dict[str, Any]:
    """``metrics`` with a condition marking only the rows a partial list keeps; as they are at COMPLETE."""
    limit = result_format.get("partial_unexpected_count")
    condition = metrics.get("unexpected_condition")
    if result_format.get("result_format") == "COMPLETE" or type(limit) is not int or limit < 0:
        return metrics
    if not isinstance(condition, tuple) or not condition:
        return metrics
    first = _first_true_only(condition[0], limit)
    return metrics if first is condition[0] else {**metrics, "unexpected_condition": (first, *condition[1:])}


def _first_true_only(mask: Any, limit: int) -> Any:
    """``mask`` with every True after the first ``limit`` turned False, or ``mask`` itself.

    Outside COMPLETE, GX keeps the first ``partial_unexpected_count`` entries of each list, in row
    order, so the rows after them change nothing in the answer.
    """
    import numpy as np
    import pandas as pd

    if not isinstance(mask, pd.Series) or mask.dtype != np.bool_:
        return mask
    values = mask.to_numpy()
    if np.count_nonzero(values) <= limit:
        return mask
    first = values.copy()
    first[np.flatnonzero(values)[limit] :] = False
    return pd.Series(first, index=mask.index, name=mask.name)


@contextlib.contextmanager
def for_one_validation() -> Iterator[None]:
    """Both per-validation shortcuts below, one validation at a time per process."""
    with _VALIDATION_LOCK, without_frame_fingerprint(), one_configuration_per_expectation():
        yield


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


@contextlib.contextmanager
def one_configuration_per_expectation() -> Iterator[None]:
    """Within the block, each expectation object builds its ``configuration`` once, and that
    configuration its expectation (``to_domain_obj``) once.

    The caches live as long as the block and hold each object they saw, so an ``id()`` cannot be
    reused by another object while its entry exists (GX's pydantic v1 models take no weak
    references, and an attribute on them would show up in their ``.dict()``). Only the
    configurations built here are answered from the cache: GX deep-copies one before it changes it.
    """
    from great_expectations.expectations.expectation import Expectation
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    built = Expectation.__dict__.get("configuration")
    to_domain = ExpectationConfiguration.__dict__.get("to_domain_obj")
    if not isinstance(built, property) or built.fget is None or not callable(to_domain):
        yield
        return
    build = built.fget
    seen: dict[int, tuple[Any, Any]] = {}
    domains: dict[int, list[Any]] = {}

    def configuration(self: Any) -> Any:
        entry = seen.get(id(self))
        if entry is None:  # the entry keeps ``self`` alive, so no other object can take its id meanwhile
            entry = seen[id(self)] = (self, build(self))
            domains[id(entry[1])] = [entry[1], None]
        return entry[1]

    def to_domain_obj(self: Any) -> Any:
        entry = domains.get(id(self))
        if entry is None:
            return to_domain(self)
        if entry[1] is None:
            entry[1] = to_domain(self)
        return entry[1]

    Expectation.configuration = property(configuration, doc=built.__doc__)  # type: ignore[method-assign,assignment]
    ExpectationConfiguration.to_domain_obj = to_domain_obj  # type: ignore[method-assign]
    try:
        yield
    finally:
        Expectation.configuration = built  # type: ignore[method-assign]
        ExpectationConfiguration.to_domain_obj = to_domain  # type: ignore[method-assign]
        seen.clear()
        domains.clear()
