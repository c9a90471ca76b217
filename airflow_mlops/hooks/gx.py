"""Great Expectations 1.x, called directly on an in-memory dataframe.

The official GX Airflow provider pins an Airflow range that excludes 3.3, so this module is the
whole integration. It stays thin on purpose: the spec keeps expectations as plain ``{"type": ...,
"kwargs": ...}`` dicts, and the only GX objects are the ones a single call builds and throws away.
An ephemeral context per call is cheap (milliseconds) and guarantees that suites, assets and
results of one dataset can never be seen by the validation of another.

``great_expectations`` takes about three seconds to import, so it is imported inside the
functions that need it; importing this module costs nothing at DAG-parse time.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow_mlops.errors import UnknownExpectationError
from airflow_mlops.hooks import gx_fast_paths

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "RESULT_FORMATS",
    "UnknownExpectationError",
    "expectation_class_name",
    "summarize",
    "validate_dataframe",
]

RESULT_FORMATS = frozenset({"BOOLEAN_ONLY", "BASIC", "SUMMARY", "COMPLETE"})

# GX's own default for partial lists; capped here too because COMPLETE would otherwise let
# a bad column push thousands of values into XCom.
MAX_PARTIAL_UNEXPECTED = 20

_TYPE_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
# Name parts GX spells in capitals; without this "kl" would map to "Kl" and miss
# ExpectColumnKLDivergenceToBeLessThan.
_ACRONYMS = {"kl": "KL"}
_ITEM_KEYS = frozenset({"type", "kwargs"})
# Kwargs that describe how to evaluate rather than what is expected; they only add noise
# to a one-line failure reason.
_NON_EXPECTATION_KWARGS = frozenset({"column", "mostly", "result_format", "catch_exceptions", "meta"})
_IDENTITY_EXCLUDED = {"id", "rendered_content", "notes", "meta"}
_DATASOURCE, _ASSET, _BATCH = "airflow_mlops_pandas", "dataframe", "whole_dataframe"


def expectation_class_name(type_name: str) -> str:
    """Map the spec's snake_case name to the GX class name without importing GX.

    Kept pure so that spec validation and tests can reason about names cheaply; whether
    the class really exists is only known once GX is imported.
    """
    if not isinstance(type_name, str) or not _TYPE_NAME.fullmatch(type_name):
        raise ValueError(f"expectation type must be a snake_case name like 'expect_column_to_exist', got {type_name!r}")
    return "".join(_ACRONYMS.get(part, part[:1].upper() + part[1:]) for part in type_name.split("_"))


def validate_dataframe(
    df: pd.DataFrame,
    expectations: Sequence[Mapping[str, Any]],
    *,
    suite_name: str,
    result_format: str = "SUMMARY",
) -> dict[str, Any]:
    """Validate one dataframe against spec expectations and return a JSON-safe report.

    Every expectation is built before the data is read, so a broken spec fails fast with a
    message that points at the offending list index instead of at GX internals. Results come
    back in input order because GX groups them by metric, which would make "the third rule
    failed" ambiguous. Statistics are recomputed from those results so they always agree
    with the list the caller sees.
    """
    if result_format not in RESULT_FORMATS:
        raise ValueError(f"result_format must be one of {sorted(RESULT_FORMATS)}, got {result_format!r}")
    if isinstance(expectations, (str, bytes, Mapping)) or not isinstance(expectations, Sequence):
        raise TypeError("expectations must be a list of {'type': ..., 'kwargs': {...}} mappings")
    if not suite_name:
        raise ValueError("suite_name must be a non-empty string")

    gx = _import_gx()
    import great_expectations.expectations as gxe
    import pandas

    if not isinstance(df, pandas.DataFrame):
        raise TypeError(f"validate_dataframe expects a pandas.DataFrame, got {type(df).__name__}")

    specs = [_parse_item(index, item) for index, item in enumerate(expectations)]
    built = [_build_expectation(gxe, index, type_name, kwargs) for index, (type_name, kwargs) in enumerate(specs)]

    context = _ephemeral_context(gx)
    batch_definition = (
        context.data_sources.add_pandas(name=_DATASOURCE)
        .add_dataframe_asset(name=_ASSET)
        .add_batch_definition_whole_dataframe(_BATCH)
    )
    suite, index_by_id = _suite_of(gx, suite_name, built)
    # Batch.validate rather than a ValidationDefinition: the definition's run() also saves
    # itself and serializes the whole result into the context's result store, which an
    # ephemeral context throws away (a third of a small validation's time).
    with gx_fast_paths.for_one_validation():
        batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
        run = batch.validate(suite, result_format=_gx_result_format(result_format))

    ordered: list[dict[str, Any] | None] = [None] * len(specs)
    for gx_result in run.results:
        index = index_by_id[gx_result.expectation_config.id]
        type_name, kwargs = specs[index]
        ordered[index] = _result_entry(type_name, kwargs, gx_result)
    missing = [i for i, entry in enumerate(ordered) if entry is None]
    if missing:
        raise RuntimeError(f"GX returned no result for expectations at index {missing}")
    results = [entry for entry in ordered if entry is not None]

    successful = sum(1 for entry in results if entry["success"])
    evaluated = len(results)
    return {
        "success": successful == evaluated,
        "suite": suite_name,
        "gx_version": str(gx.__version__),
        "statistics": {
            "evaluated_expectations": evaluated,
            "successful_expectations": successful,
            "unsuccessful_expectations": evaluated - successful,
            # An empty suite is vacuously met; 100.0 keeps the field a float for consumers.
            "success_percent": 100.0 * successful / evaluated if evaluated else 100.0,
        },
        "results": results,
    }


def summarize(result: Mapping[str, Any], max_failures: int = 10) -> dict[str, Any]:
    """Shrink a validation report to what a reviewer reads first, small enough for XCom.

    The full report can carry hundreds of results and sample values; the digest keeps the
    verdict, the counts and one line per failure, capped so a badly broken dataset cannot
    blow the XCom size limit. ``n_failed`` stays exact so a cap never hides how bad it was.
    """
    if max_failures < 0:
        raise ValueError(f"max_failures must be >= 0, got {max_failures}")
    failures = [r for r in result.get("results", []) if not r.get("success", False)]
    return {
        "success": bool(result.get("success", False)),
        "suite": result.get("suite"),
        "statistics": dict(result.get("statistics", {})),
        "failed": [
            {
                "type": r.get("type"),
                "column": (r.get("kwargs") or {}).get("column"),
                "reason": _failure_reason(r),
            }
            for r in failures[:max_failures]
        ],
        "n_failed": len(failures),
    }


def _import_gx() -> Any:
    # The env var is read when GX is first imported; setdefault leaves an operator's explicit
    # choice alone.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    gx_fast_paths.install()
    return gx


def _gx_result_format(result_format: str) -> dict[str, Any]:
    """GX's dict form of ``result_format``, without the ``unexpected_index_query`` no report keeps:
    at SUMMARY and COMPLETE GX filters the frame once more per column rule to write that string,
    which SUMMARY drops and ours never carries: a sixth of a 1M-row validation, nothing else changed.
    """
    return {"result_format": result_format, "return_unexpected_index_query": False}


def _ephemeral_context(gx: Any) -> Any:
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    # An ephemeral context re-serializes its whole project config to YAML into an in-memory store
    # at each data source, asset and batch definition added, and nothing reads that copy back
    # (the context reads its live config); three dumps were a sixth of a small validation.
    context._save_project_config = lambda: None
    # tqdm bars write carriage-return spam into Airflow task logs.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def _parse_item(index: int, item: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(item, Mapping):
        raise ValueError(f"expectations[{index}] must be a mapping with 'type' and 'kwargs', got {item!r}")
    extra = set(item) - _ITEM_KEYS
    if extra:
        raise ValueError(f"expectations[{index}] has unsupported keys {sorted(extra)}; only 'type' and 'kwargs'")
    type_name = item.get("type")
    if not isinstance(type_name, str) or not type_name:
        raise ValueError(f"expectations[{index}] is missing its 'type' (e.g. 'expect_column_to_exist')")
    kwargs = item.get("kwargs")
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
        raise ValueError(f"expectations[{index}] ({type_name}): 'kwargs' must be a mapping with string keys")
    return type_name, dict(kwargs)


def _build_expectation(gxe: Any, index: int, type_name: str, kwargs: dict[str, Any]) -> Any:
    known = _known_expectations(gxe)
    cls = known.get(type_name)
    if cls is None:
        suggestions = difflib.get_close_matches(type_name.lower(), list(known), n=3, cutoff=0.6)
        raise UnknownExpectationError(type_name, suggestions)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # GX validates kwargs with pydantic v1 (a ValueError)
        raise ValueError(f"expectations[{index}] ({type_name}): invalid kwargs: {_describe_error(exc)}") from exc


def _known_expectations(gxe: Any) -> dict[str, type]:
    # Keyed by GX's own ``expectation_type`` rather than a re-derived name: it is what GX
    # writes into results, and it excludes the ``Expectation`` base class and the broken
    # ``ExpectMulticolumnValuesToBeUnique`` (empty type in 1.24), which both start with "Expect".
    from great_expectations.expectations.expectation import Expectation

    known: dict[str, type] = {}
    for name in dir(gxe):
        cls = getattr(gxe, name)
        if name.startswith("Expect") and isinstance(cls, type) and issubclass(cls, Expectation):
            type_name = getattr(cls, "expectation_type", "")
            if isinstance(type_name, str) and type_name:
                known[type_name] = cls
    return known


def _describe_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    # Union-typed fields (min_value: float | dict | date ...) yield one error per member;
    # the first is the useful one, the rest read as noise.
    first_by_field: dict[str, str] = {}
    for error in errors():
        field = ".".join(str(part) for part in error.get("loc", ())) or "__root__"
        first_by_field.setdefault(field, str(error.get("msg", "")))
    parts = [msg if field == "__root__" else f"{field}: {msg}" for field, msg in first_by_field.items()]
    return "; ".join(parts) or str(exc)


def _suite_of(gx: Any, name: str, built: Sequence[Any]) -> tuple[Any, dict[str, int]]:
    """The suite holding ``built``, each with an id of its own; each expectation's id -> its index.

    Not added to the context: its store would serialize the suite (deep copies and a JSON dump, a
    sixth of a validation's fixed cost) only to give each expectation the uuid it gets here.
    """
    # GX treats a suite as a set and silently drops an expectation equal to one already in
    # it, which would leave the caller's list and the results out of step. A duplicate rule
    # is a spec mistake anyway, so it is refused with both positions. Equality mirrors
    # ExpectationSuite._expectations_are_equalish (type plus fields other than id/meta/notes).
    identities: list[tuple[str, dict[str, Any]]] = []
    for index, expectation in enumerate(built):
        identity = (expectation.expectation_type, expectation.dict(exclude=_IDENTITY_EXCLUDED))
        if identity in identities:
            raise ValueError(f"expectations[{index}] duplicates expectations[{identities.index(identity)}]")
        identities.append(identity)
    suite = gx.ExpectationSuite(name=name, expectations=list(built))
    for expectation in suite.expectations:  # as the store does on add; GX refuses id'd ones here
        expectation.id = str(uuid.uuid4())
    stored = [expectation.id for expectation in suite.expectations]
    index_by_id: dict[str, int] = {}
    for index, expectation in enumerate(built):
        if not expectation.id or index >= len(stored) or stored[index] != expectation.id:
            raise RuntimeError(f"GX did not add expectations[{index}] ({expectation.expectation_type}) to the suite")
        index_by_id[expectation.id] = index
    return suite, index_by_id


def _result_entry(type_name: str, kwargs: Mapping[str, Any], gx_result: Any) -> dict[str, Any]:
    details: Mapping[str, Any] = gx_result.result or {}
    partial = details.get("partial_unexpected_list")
    rows = details.get("partial_unexpected_index_list")
    return {
        "type": type_name,
        "kwargs": _jsonable(kwargs),
        "success": bool(gx_result.success),
        "observed_value": _jsonable(details.get("observed_value")),
        "unexpected_count": _optional_int(details.get("unexpected_count")),
        "unexpected_percent": _optional_float(details.get("unexpected_percent")),
        "partial_unexpected_list": _jsonable(list(partial or [])[:MAX_PARTIAL_UNEXPECTED]),
        # Their rows' labels, for an auditor to find them in the pinned file.
        "partial_unexpected_index_list": _jsonable(list(rows or [])[:MAX_PARTIAL_UNEXPECTED]),
        # A failure to evaluate (typically a missing column), which GX reports as success=False: its reason travels too.
        "exception": _exception_message(gx_result.exception_info),
    }


def _exception_message(info: Any) -> str | None:
    if not isinstance(info, Mapping):
        return None
    # GX 1.x uses two shapes: a flat {"raised_exception": ..., "exception_message": ...} and,
    # when metrics failed, a mapping of metric id -> that same flat dict.
    entries = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, Mapping)]
    messages: list[str] = []
    for entry in entries:
        message = entry.get("exception_message")
        if entry.get("raised_exception") and message and str(message) not in messages:
            messages.append(str(message))
    return "; ".join(messages) or None


def _optional_int(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _optional_float(value: Any) -> float | None:
    number = _number(value)
    return None if number is None else float(number)


def _number(value: Any) -> int | float | None:
    converted = _jsonable(value)
    if isinstance(converted, bool) or not isinstance(converted, (int, float)):
        return None
    return converted


def _jsonable(value: Any) -> Any:  # noqa: C901 - one flat dispatch over value kinds
    """Convert GX/numpy/pandas values so ``json.dumps`` accepts them without ``default=``.

    Non-finite floats become None: ``json.dumps`` would emit ``NaN``, which is not JSON and
    breaks strict consumers of the XCom or the artifact file.
    """
    # Rebuild even plain-looking scalars: numpy.float64 and numpy.str_ subclass float and
    # str, so they pass json.dumps but leak "np.float64(...)" into reprs and type checks.
    if value is None:
        return None
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return str(value)
    if type(value).__name__ in {"NAType", "NaTType"}:  # pandas missing-value sentinels
        return None
    if isinstance(value, Decimal):
        return _jsonable(float(value))
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if hasattr(value, "dtype"):  # numpy scalars and arrays, without importing numpy
        if getattr(value, "ndim", 0) == 0 and hasattr(value, "item"):
            return _jsonable(value.item())
        if hasattr(value, "tolist"):
            return _jsonable(value.tolist())
    return str(value)


def _failure_reason(entry: Mapping[str, Any]) -> str:
    if entry.get("exception"):
        return _short(f"could not evaluate: {entry['exception']}", 200)
    kwargs: Mapping[str, Any] = entry.get("kwargs") or {}
    count = entry.get("unexpected_count")
    if isinstance(count, int) and count > 0:
        reason = f"{count} unexpected value{'' if count == 1 else 's'}"
        percent = entry.get("unexpected_percent")
        if isinstance(percent, (int, float)):
            reason += f" ({percent:.1f}%)"
        mostly = kwargs.get("mostly")
        if isinstance(mostly, (int, float)) and not isinstance(mostly, bool):
            reason += f", at most {(1 - mostly) * 100:.1f}% allowed"
        examples = list(entry.get("partial_unexpected_list") or [])[:3]
        if examples:
            reason += f", e.g. {_short(repr(examples), 80)}"
        if rows := list(entry.get("partial_unexpected_index_list") or [])[:3]:
            reason += f" in rows {_short(', '.join(map(str, rows)), 60)}"
        return reason
    expected = ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if k not in _NON_EXPECTATION_KWARGS)
    observed = entry.get("observed_value")
    if observed is not None:
        return _short(f"observed {observed!r}, expected {expected or 'otherwise'}", 200)
    return _short(f"not met ({expected})" if expected else "not met", 200)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
