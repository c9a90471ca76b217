"""A spec built from the top-level sections of a file that passed the schema, when others did not.

Pydantic collects every field error of a document in one pass, but then builds no model, so
the cross-field rules (an unknown ``select_by`` metric, a duplicate candidate name) would wait
for the next run of ``validate`` to be seen. Here each section that had no error is validated
on its own, with the same context, and the rest left out, so the rules that read only good
sections can run in the same pass. Only a file with errors pays for this.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError


def sections_that_failed(errors: Collection[Mapping[str, Any]]) -> frozenset[str] | None:
    """The top-level keys pydantic found errors under; None when an error is about the whole document."""
    failed: set[str] = set()
    for error in errors:
        loc = error["loc"]
        if not loc:
            return None
        failed.add(str(loc[0]))
    return frozenset(failed)


def partial_spec(
    model: type[BaseModel], data: Mapping[str, Any], failed: frozenset[str], context: dict[str, Any]
) -> tuple[BaseModel, frozenset[str]]:
    """``model`` holding every section not in ``failed`` (validated, or its default), and the sections left out.

    A section that fails on its own is left out too, so the rules never see a raw value.
    """
    values: dict[str, Any] = {}
    left_out = {name for name in failed if name in model.model_fields}  # not an unknown top-level key
    for name, field in model.model_fields.items():
        if name in failed or name not in data:
            continue  # failed, or absent: model_construct gives the default
        annotation: Any = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        try:
            values[name] = TypeAdapter(annotation).validate_python(data[name], context=context)
        except ValidationError:
            left_out.add(name)
    return model.model_construct(**values), frozenset(left_out)
