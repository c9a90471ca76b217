"""The JSON Schema flattened into the rows of the reference's field tables: one row per field path.

Types, defaults, allowed values and bounds are read from the schema, following ``$ref``s and
unions, and written in the words a YAML author uses (``list of candidate``, ``mapping``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from airflow_mlops.spec.schema import Json, def_name, json_schema


@dataclass(frozen=True)
class FieldRow:
    """One line of a reference table: a field path and what the schema says about it."""

    path: str
    type: str
    default: str
    required: bool
    allowed: str
    constraints: str
    description: str


def field_rows(template: str) -> list[FieldRow]:
    """Every field path of a template, depth first, in the order the models declare them."""
    doc = json_schema(template)
    return list(_object_rows(doc, "", doc.get("$defs", {}), ""))


def _object_rows(node: Json, prefix: str, defs: Json, label: str) -> Iterator[FieldRow]:
    required = set(node.get("required", []))
    for name, prop in node.get("properties", {}).items():
        yield from _field_rows(f"{prefix}{name}", prop, name in required, defs, label)


def resolve(node: Json, defs: Json) -> Json:
    """Follow a ``$ref``; the referring node's own keys (default, description) win."""
    if "$ref" not in node:
        return node
    target = resolve(defs[def_name(node)], defs)
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


def _variants(node: Json, defs: Json) -> list[Json]:
    """The alternatives of a value, unions flattened and refs resolved; a plain node is its own."""
    node = resolve(node, defs)
    branches = node.get("anyOf", []) + node.get("oneOf", [])
    if not branches:
        return [node]
    found: list[Json] = []
    for branch in branches:
        found.extend(_variants(branch, defs))
    return found


def _is_null(node: Json) -> bool:
    return node.get("type") == "null"


def _human(title: str) -> str:
    """``ThresholdRuleSpec`` -> ``threshold rule``: the words a YAML author uses."""
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", title.removesuffix("Spec")).lower()
    return words or "mapping"


def _type_name(node: Json, defs: Json, in_union: bool = False) -> str:
    variants = _variants(node, defs)
    if len(variants) > 1:
        names = [_type_name(v, defs, in_union=True) for v in variants if not _is_null(v)]
        if any(_is_null(v) for v in variants):
            names.append("null")
        return " or ".join(dict.fromkeys(names))
    node = variants[0]
    kind = node.get("type")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array":
        return f"list of {_grouped(_type_name(node.get('items', {}), defs, in_union=True))}"
    if kind == "object":
        if in_union and "title" in node:
            return _human(node["title"])  # one of several shapes: say which
        values = node.get("additionalProperties")
        if "properties" not in node and isinstance(values, dict):
            return f"mapping of name to {_grouped(_type_name(values, defs))}"
        return "mapping"
    if kind == "string" and node.get("format") == "date":
        return "date"
    return str(kind) if kind else "any"


def _grouped(name: str) -> str:
    return f"({name})" if " or " in name else name


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    return f"`{json.dumps(value, separators=(', ', ': '))}`"


def _default(node: Json, defs: Json) -> str:
    resolved = resolve(node, defs)
    if "default" not in resolved:
        return ""
    if isinstance(resolved["default"], dict) and resolved["default"] and "properties" in resolved:
        return "per field"
    return _literal(resolved["default"])


def _allowed(variants: list[Json]) -> str:
    values: list[Any] = []
    for variant in variants:
        if "const" in variant:
            values.append(variant["const"])
        values.extend(variant.get("enum", []))
    keys = [k for v in variants for k in v.get("propertyNames", {}).get("enum", [])]
    parts = [", ".join(_literal(v) for v in values)] if values else []
    if keys:
        parts.append("keys: " + ", ".join(_literal(k) for k in keys))
    return "; ".join(parts)


_BOUNDS = {
    "minimum": ">= {}",
    "exclusiveMinimum": "> {}",
    "maximum": "<= {}",
    "exclusiveMaximum": "< {}",
    "minLength": "min length {}",
    "maxLength": "max length {}",
    "minItems": "min items {}",
    "maxItems": "max items {}",
}


def _constraints(variants: list[Json]) -> str:
    found: list[str] = []
    for variant in variants:
        found.extend(template.format(variant[key]) for key, template in _BOUNDS.items() if key in variant)
        if "pattern" in variant:
            found.append(f"matches `{variant['pattern']}`")
        values = variant.get("additionalProperties")
        if isinstance(values, dict):
            found.extend(f"each value {t.format(values[k])}" for k, t in _BOUNDS.items() if k in values)
    return ", ".join(dict.fromkeys(found))


def _description(node: Json, defs: Json, variants: list[Json]) -> str:
    """The field's own description; for a list without one, the description of its items."""
    text = resolve(node, defs).get("description", "")
    if not text:
        items = [i for v in variants if v.get("type") == "array" for i in _variants(v.get("items", {}), defs)]
        if len(items) == 1 and items[0].get("description"):
            text = f"Each item: {items[0]['description']}"
    return one_line(text)


def one_line(text: str) -> str:
    """Docstrings use reST ``code``; tables want one line of markdown."""
    return " ".join(text.replace("``", "`").split())


def _children(variants: list[Json], defs: Json) -> list[tuple[str, Json]]:
    """(path suffix, object schema) of the objects a field may hold: ``.field`` or ``[].field``."""
    found: list[tuple[str, Json]] = []
    for variant in variants:
        if variant.get("type") == "array" and "items" in variant:
            found.extend(("[].", item) for item in _variants(variant["items"], defs) if item.get("type") == "object")
        elif variant.get("type") == "object" and "properties" in variant:
            found.append((".", variant))
    return found


def _field_rows(path: str, prop: Json, required: bool, defs: Json, label: str) -> Iterator[FieldRow]:
    variants = _variants(prop, defs)
    yield FieldRow(
        path=path,
        type=_type_name(prop, defs),
        default=_default(prop, defs),
        required=required,
        allowed=_allowed(variants),
        constraints=_constraints(variants),
        description=f"{label}{_description(prop, defs, variants)}".strip(),
    )
    children = _children(variants, defs)
    suffixes = [suffix for suffix, _ in children]
    for suffix, child in children:
        # Two shapes under one path (a threshold or a champion rule) need saying which is which.
        own = f"*{_human(child['title'])}:* " if suffixes.count(suffix) > 1 and "title" in child else ""
        yield from _object_rows(child, path + suffix, defs, label + own)


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def table(rows: list[FieldRow]) -> list[str]:
    lines = [
        "| field | type | default | required | allowed values | constraints | description |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [
            f"`{row.path}`",
            row.type,
            row.default,
            "yes" if row.required else "",
            row.allowed,
            row.constraints,
            row.description,
        ]
        lines.append("| " + " | ".join(cell(c) for c in cells) + " |")
    return lines
