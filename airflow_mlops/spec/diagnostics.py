"""Pydantic's validation errors as ConfigIssues: the line the user wrote, and a hint of what to write.

Pydantic reports a ``loc`` through the models (with union tags the user never wrote) and a
terse message; here the ``loc`` is walked back through the models to the field, and the
field's type, bounds, default and description become the hint.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, Tag, ValidationError
from pydantic.fields import FieldInfo

from airflow_mlops.errors import ConfigIssue, PipelineConfigError
from airflow_mlops.spec.document import LoadedYaml, issue_at
from airflow_mlops.spec.models_base import IDENTIFIER

if typing.TYPE_CHECKING:
    from airflow_mlops.spec.tree_checks import Loc


def _unwrap_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is None and not isinstance(annotation, types.UnionType):
        return []
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found.extend(_unwrap_models(arg))
    return found


def _union_tags(annotation: Any) -> dict[str, type[BaseModel] | None]:
    """Tag -> model (None for a non-model member) of the tagged unions inside ``annotation``."""
    found: dict[str, type[BaseModel] | None] = {}
    if typing.get_origin(annotation) is typing.Annotated:
        base, *extras = typing.get_args(annotation)
        for extra in extras:
            if isinstance(extra, Tag):
                is_model = isinstance(base, type) and issubclass(base, BaseModel)
                found[extra.tag] = base if is_model else None
    for arg in typing.get_args(annotation):
        found.update(_union_tags(arg))
    return found


def _walk(root: type[BaseModel], loc: Loc) -> tuple[Loc, list[type[BaseModel]]]:
    """Follow ``loc`` through the model classes.

    Returns ``loc`` without union tags (pydantic inserts e.g. 'threshold' for a tagged union,
    a key the user never wrote) and the candidate models at its end.
    """
    candidates: list[type[BaseModel]] = [root]
    tags: dict[str, type[BaseModel] | None] = {}
    kept: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and part in tags:
            model = tags[part]
            candidates, tags = ([model] if model is not None else []), {}
            continue
        kept.append(part)
        if isinstance(part, int):
            continue
        owners = [c for c in candidates if part in c.model_fields]
        if not owners:
            candidates, tags = [], {}
            continue
        annotation = owners[0].model_fields[part].annotation
        candidates, tags = _unwrap_models(annotation), _union_tags(annotation)
    return tuple(kept), candidates


def _model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The pydantic model class that owns the field at the end of ``loc``."""
    _, candidates = _walk(root, loc)
    return candidates[0] if len(candidates) == 1 else None


def _field_at(root: type[BaseModel], loc: Loc) -> tuple[str, FieldInfo | None]:
    """The name of the field an error is about, and its pydantic FieldInfo when it is a model field.

    A list item (``tags[1]``) has no FieldInfo; a mapping value (``timeouts.train``) gets one
    made from the mapping's value type, which carries its bounds. Union tags in ``loc`` are skipped.
    """
    kept, _ = _walk(root, loc)
    name = next((part for part in reversed(kept) if isinstance(part, str)), "")
    if not kept or not isinstance(kept[-1], str):
        return name, None
    index = max(i for i, part in enumerate(loc) if part == name)
    _, owners = _walk(root, loc[:index])
    fields = [owner.model_fields[name] for owner in owners if name in owner.model_fields]
    if fields:
        return name, fields[0]
    if len(kept) > 1 and isinstance(kept[-2], str):
        _, mapping = _field_at(root, loc[:index])
        if mapping is not None and typing.get_origin(mapping.annotation) is dict:
            return name, FieldInfo.from_annotation(typing.get_args(mapping.annotation)[1])
    return name, None


# What to write for a value of the wrong type, by the type pydantic wanted.
_ERROR_TYPES: dict[str, type] = {
    **dict.fromkeys(("int_type", "int_parsing", "int_parsing_size", "int_from_float"), int),
    **dict.fromkeys(("float_type", "float_parsing"), float),
    **dict.fromkeys(("bool_type", "bool_parsing"), bool),
    **dict.fromkeys(("string_type", "string_unicode"), str),
    **dict.fromkeys(("list_type", "tuple_type", "set_type", "frozen_set_type", "iterable_type"), list),
    **dict.fromkeys(("dict_type", "mapping_type", "model_type", "model_attributes_type"), dict),
    **dict.fromkeys(
        ("date_type", "date_parsing", "date_from_datetime_parsing", "date_from_datetime_inexact", "datetime_type"),
        date,
    ),
}
_HOW_TO_WRITE: dict[type, str] = {
    int: "a whole number such as 3, without quotes",
    float: "a number such as 0.25, without quotes",
    bool: "true or false, without quotes",
    str: "text; put it in quotes when YAML would read it as a number, a date or true/false",
    list: "a list: one '- item' per line below the key, or a comma-separated list in square brackets on one line",
    dict: "a mapping: 'key: value' lines indented below the key, or {key: value} on one line",
    date: "a date as YYYY-MM-DD, e.g. 2025-01-31",
}
_BOUNDS = {"gt": "greater than", "ge": "at least", "lt": "less than", "le": "at most"}
# The patterns of the spec models, in words.
_PATTERNS = {
    IDENTIFIER: "start with a letter, then letters, digits and '_' only (it becomes part of task ids)",
    r"^[A-Za-z0-9_.\-]+$": "letters, digits, '_', '.' and '-' only (it is the DAG id)",
    r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$": "start with a letter or digit, then letters, digits, '_', '.' and '-' only",
    r"^[A-Za-z][A-Za-z0-9_\-]*$": "start with a letter, then letters, digits, '_' and '-' only",
    r"^expect_[a-z0-9_]+$": "a Great Expectations expectation name, e.g. expect_column_values_to_not_be_null",
}


def _bounds(field: FieldInfo | None, ctx: dict[str, Any]) -> str:
    """'greater than 0 and less than 1': the field's whole range, else what the error says."""
    limits = [(kind, getattr(item, kind)) for item in (field.metadata if field else []) for kind in _BOUNDS
              if getattr(item, kind, None) is not None]  # fmt: skip
    if not limits:
        limits = [(kind, ctx[kind]) for kind in _BOUNDS if kind in ctx]
    shown = {kind: f"{value:g}" if isinstance(value, float) else str(value) for kind, value in limits}
    if set(shown) == {"ge", "le"}:
        return f"from {shown['ge']} to {shown['le']}"
    return " and ".join(f"{_BOUNDS[kind]} {value}" for kind, value in shown.items())


def _default_note(field: FieldInfo | None) -> str:
    if field is None or not isinstance(field.default, (bool, int, float, str)) or field.default == "":
        return ""
    default = str(field.default).lower() if isinstance(field.default, bool) else field.default
    return f" (default: {default})"


@dataclass(frozen=True)
class _Failure:
    """One pydantic error, with the field it is about: what a hint is made from."""

    kind: str
    ctx: dict[str, Any]
    input: Any
    name: str
    field: FieldInfo | None
    expected: type[BaseModel] | None  # the model the value should have been, if any

    @property
    def description(self) -> str:
        return self.field.description or "" if self.field is not None else ""


def _hint_missing(failure: _Failure) -> str:
    doc = (failure.expected.__doc__ or "").strip().split("\n")[0] if failure.expected is not None else ""
    what = failure.description or doc
    where = f"add '{failure.name}:' to this file or to a defaults.yaml above it"
    return f"{where}; {failure.name}: {what}" if what else where


def _hint_literal(failure: _Failure) -> str:
    import difflib  # only a file with a wrong value pays for it

    allowed = re.findall(r"'([^']*)'", str(failure.ctx.get("expected", "")))
    close = difflib.get_close_matches(str(failure.input), allowed, n=1)
    text = f"did you mean {close[0]!r}?" if close else f"write one of: {', '.join(allowed)}"
    return f"{text} {failure.description}" if failure.description else text


def _hint_bounds(failure: _Failure) -> str:
    word = "a whole number" if failure.field is not None and failure.field.annotation is int else "a number"
    return f"{failure.name or 'this value'} takes {word} {_bounds(failure.field, failure.ctx)}" + _default_note(
        failure.field
    )


def _hint_finite(failure: _Failure) -> str:
    return f"inf and nan are not settings; write a finite number{_default_note(failure.field)}"


def _hint_type(failure: _Failure) -> str:
    hint = f"write {_HOW_TO_WRITE[_ERROR_TYPES[failure.kind]]}{_default_note(failure.field)}"
    if failure.kind in ("model_type", "model_attributes_type") and failure.expected is not None:
        hint += f"; its keys: {', '.join(failure.expected.model_fields)}"
    return hint


def _hint_pattern(failure: _Failure) -> str:
    pattern = str(failure.ctx.get("pattern", ""))
    return _PATTERNS.get(pattern, f"write a value that matches the regular expression {pattern}")


def _hint_length(failure: _Failure) -> str:
    what = "characters" if failure.kind.startswith("string_") else "items"
    name = failure.name or "this value"
    if failure.kind.endswith("too_long"):
        return f"{name} takes at most {failure.ctx.get('max_length')} {what}"
    size = failure.ctx.get("min_length", 1)
    return f"{name} may not be empty" if size == 1 else f"{name} needs at least {size} {what}"


def _hint_tag(failure: _Failure) -> str:
    return f"write one of: {failure.ctx['expected_tags']}" if failure.ctx.get("expected_tags") else ""


_HINTS: dict[str, Callable[[_Failure], str]] = {
    "missing": _hint_missing,
    "literal_error": _hint_literal,
    **dict.fromkeys(("greater_than", "greater_than_equal", "less_than", "less_than_equal"), _hint_bounds),
    "finite_number": _hint_finite,
    **dict.fromkeys(_ERROR_TYPES, _hint_type),
    "string_pattern_mismatch": _hint_pattern,
    **dict.fromkeys(("string_too_short", "too_short", "string_too_long", "too_long"), _hint_length),
    **dict.fromkeys(("union_tag_invalid", "union_tag_not_found"), _hint_tag),
}


def _hint_for(error: Any, root: type[BaseModel], loc: Loc) -> str:
    """A hint for a pydantic error: what to write instead, from the error type and the field.

    A validator of the spec models that raises SpecValueError brings its own hint; for the
    generic errors (types, ranges, allowed values) it is made from the field's type, bounds,
    default and description.
    """
    ctx: dict[str, Any] = error.get("ctx") or {}
    own = getattr(ctx.get("error"), "hint", "")
    if own:
        return str(own)
    name, field = _field_at(root, loc)
    failure = _Failure(error["type"], ctx, error.get("input"), name, field, _model_at(root, loc))
    describe = _HINTS.get(failure.kind)
    hint = describe(failure) if describe is not None else ""
    if hint:
        return hint
    if failure.description:
        return f"{name}: {failure.description}"
    return "see docs/pipeline-reference.md (or run `airflow-mlops schema`) for what this field takes"


def _describe_error(error: Any, model: type[BaseModel]) -> tuple[str, str]:
    kind = error["type"]
    loc: Loc = tuple(error["loc"])
    if kind == "extra_forbidden":
        import difflib  # only a file with a typo pays for it

        owner = _model_at(model, loc[:-1])
        known = sorted(owner.model_fields) if owner else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else (f"allowed keys: {', '.join(known)}" if known else "")
        return f"unknown key {loc[-1]!r}", hint or "remove it; this place takes no keys of its own"
    if kind == "missing":
        return "required field is missing", _hint_for(error, model, loc)
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    if kind == "string_pattern_mismatch":
        # The hint says the form in words; a regex's '[a-z...]' would also be eaten as markup by
        # the rich table of `airflow dags list-import-errors`.
        message = "does not have the form this field takes"
    if kind not in ("value_error", "assertion_error") and "input" in error:
        shown = _short_repr(error["input"])
        message += f" (got {shown[:60]}{'...' if len(shown) > 60 else ''})"
    return message, _hint_for(error, model, loc)


def _short_repr(value: Any) -> str:
    try:
        return repr(value)
    except ValueError:  # an int beyond Python's digit limit cannot even be printed
        return f"a {type(value).__name__} too large to print"


def _top_level_mapping(doc: LoadedYaml, top_level_hint: str) -> None:
    if not isinstance(doc.data, dict):
        found = "an empty file" if doc.data is None else type(doc.data).__name__
        line, column = (doc.root.start_mark.line + 1, doc.root.start_mark.column + 1) if doc.root else (1, 1)
        message = f"expected a mapping of settings at the top level, found {found}"
        raise PipelineConfigError([ConfigIssue(doc.file, line, column, "", message, top_level_hint)])


def _issues_of(err: ValidationError, model: type[BaseModel], doc: LoadedYaml) -> list[ConfigIssue]:
    issues = []
    for error in err.errors():
        message, hint = _describe_error(error, model)
        loc, _ = _walk(model, tuple(error["loc"]))
        issues.append(issue_at(doc, loc, message, hint))
    return issues


def validate(model: type[BaseModel], doc: LoadedYaml, context: dict[str, Any], top_level_hint: str) -> Any:
    """``model`` from the document, or every problem at its line; ``top_level_hint`` says what the file holds."""
    _top_level_mapping(doc, top_level_hint)
    try:
        return model.model_validate(doc.data, context=context)
    except ValidationError as err:
        raise PipelineConfigError(_issues_of(err, model, doc)) from None


@dataclass(frozen=True)
class Checked:
    """The schema's verdict on a document, with what the cross-field rules may still read."""

    spec: Any  # the model; when ``issues``, built from the sections that passed (None: nothing can be read)
    failed: frozenset[str]  # top-level sections left out of ``spec``
    issues: list[ConfigIssue]


def check(model: type[BaseModel], doc: LoadedYaml, context: dict[str, Any], top_level_hint: str) -> Checked:
    """Like ``validate``, but a schema error leaves a spec of the good sections for the cross-field rules."""
    from airflow_mlops.spec.partial import partial_spec, sections_that_failed

    _top_level_mapping(doc, top_level_hint)
    try:
        return Checked(model.model_validate(doc.data, context=context), frozenset(), [])
    except ValidationError as err:
        issues = _issues_of(err, model, doc)
        failed = sections_that_failed(err.errors(include_url=False, include_context=False, include_input=False))
        if failed is None:
            return Checked(None, frozenset(model.model_fields), issues)
        spec, left_out = partial_spec(model, doc.data, failed, context)
        return Checked(spec, left_out, issues)
