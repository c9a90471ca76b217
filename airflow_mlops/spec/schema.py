"""The JSON Schema of pipeline files, for editors and for the generated reference.

The pydantic models are the single source of truth. Editors (yaml-language-server,
JetBrains) complete and check pipeline YAML from this schema, and ``docs/pipeline-reference.md``
is rendered from the same schema (commands/reference.py), so the reference cannot describe a
field the loader does not accept.

The schema is pydantic's, refined where pydantic cannot see what the loader does: the
short ``- expect_x: {...}`` form of an expectation, the step names ``timeouts`` accepts and
the metric names each ``problem`` knows. It uses only keywords that draft-07 and 2020-12
share, because yaml-language-server validates with draft-07.

Only pydantic and the spec models are imported at module level: ``airflow-mlops schema``
must stay instant.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema

from airflow_mlops.gates.metrics import METRICS_BY_PROBLEM
from airflow_mlops.spec.cron import PRESETS
from airflow_mlops.spec.templates import DEFAULT_TEMPLATE, TEMPLATES

if TYPE_CHECKING:
    from pydantic_core import core_schema

    from airflow_mlops.spec.models_common import PipelineBase

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_TITLE = "airflow-mlops pipeline"
REFERENCE_PATH = "docs/pipeline-reference.md"
_CRON_EXAMPLES = ["0 3 * * *", "@daily"]

Json = dict[str, Any]


class _Generator(GenerateJsonSchema):
    """pydantic's generator, plus the defaults of ``default_factory`` fields.

    pydantic leaves them out, so ``tags`` would read as having no default at all; editors
    also offer the default when completing a key.
    """

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            return factory()  # type: ignore[call-arg]
        return super().get_default_value(schema)


def template_names() -> list[str]:
    return list(TEMPLATES)


def default_template() -> str:
    """The template of a file without a ``template`` key."""
    return DEFAULT_TEMPLATE


def step_names(template: str) -> tuple[str, ...]:
    """The task ids a template builds; ``timeouts`` accepts these keys (and ``default``)."""
    # step_names() reads no field, so an unvalidated instance is enough to ask it.
    return TEMPLATES[template].spec.model_construct(pipeline="<pipeline>").step_names()


def json_schema(template: str | None = None) -> Json:
    """The JSON Schema of one template's pipeline file, or of any pipeline file.

    Without ``template`` the document is a ``oneOf`` over the templates; the ``template``
    key picks the branch (each branch fixes it with ``const``, and only ``retraining``, the
    default, may leave it out).
    """
    if template is not None and template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}; templates: {', '.join(TEMPLATES)}")
    names = [template] if template is not None else template_names()
    classes: list[type[PipelineBase]] = [TEMPLATES[n].spec for n in names]
    refs, top = models_json_schema(
        [(cls, "validation") for cls in classes],
        union_format="primitive_type_array",
        schema_generator=_Generator,
    )
    defs: Json = top.get("$defs", {})
    def_names = {name: def_name(refs[(cls, "validation")]) for name, cls in zip(names, classes, strict=True)}
    _refine(defs, def_names)
    header: Json = {"$schema": SCHEMA_DIALECT}
    if template is not None:
        # The template's own object at the root, not a $ref: draft-07 readers ignore a
        # root $ref's siblings, and editors show the root's description on hover.
        root = defs.pop(def_names[template])
        doc = {
            **header,
            "title": f"{SCHEMA_TITLE} ({template})",
            **{k: v for k, v in root.items() if k != "title"},
        }
        if defs:
            doc["$defs"] = defs
        return doc
    return {
        **header,
        "title": SCHEMA_TITLE,
        "description": (
            "A pipeline file for airflow-mlops. `template` picks the kind of pipeline "
            f"({', '.join(names)}; default {default_template()}). Reference: {REFERENCE_PATH}."
        ),
        "oneOf": [{"$ref": f"#/$defs/{def_names[n]}"} for n in names],
        "$defs": defs,
    }


def def_name(ref: JsonSchemaValue) -> str:
    return str(ref["$ref"]).rsplit("/", 1)[-1]


def _refine(defs: Json, def_names: dict[str, str]) -> None:
    """Teach the schema what the loader accepts beyond the pydantic field types."""
    if "Expectation" in defs:
        defs["Expectation"] = _expectation_schema(defs["Expectation"])
    for template, name in def_names.items():
        properties = defs[name]["properties"]
        properties["timeouts"]["propertyNames"] = {"enum": ["default", *step_names(template)]}
        _describe_cron(properties["schedule"])
        if "problem" in properties and "select_by" in properties:
            _restrict_metrics(defs, defs[name])


def _expectation_schema(long_form: Json) -> Json:
    """Users write ``- expect_column_values_to_not_be_null: {column: age}``; accept that form too.

    The model converts the single-key mapping before validation, which pydantic's schema
    cannot show, so without this every inline expectation would be flagged by editors.
    """
    pattern = long_form["properties"]["type"]["pattern"]
    short_form: Json = {
        "title": "expectation",
        "description": "A single-key mapping: the expectation's name, and its arguments as a mapping.",
        "type": "object",
        "minProperties": 1,
        "maxProperties": 1,
        "propertyNames": {"pattern": pattern},
        "additionalProperties": {"type": ["object", "null"]},
    }
    long_copy = {k: v for k, v in long_form.items() if k != "description"}
    long_copy["title"] = "long-form expectation"
    long_copy["description"] = "The same rule written out: `{type: expect_..., kwargs: {...}}`."
    return {
        "title": long_form.get("title", "Expectation"),
        "description": long_form.get("description", ""),
        "anyOf": [short_form, long_copy],
    }


def _describe_cron(schedule: Json) -> None:
    """Name the presets on the string branch of ``schedule``; editors offer the examples."""
    for branch in _walk_unions(schedule):
        if branch.get("type") == "string":
            branch["description"] = f"A cron expression or a preset: {', '.join(sorted(PRESETS))}."
            branch["examples"] = list(_CRON_EXAMPLES)


def _walk_unions(node: Json) -> Iterator[Json]:
    for key in ("anyOf", "oneOf"):
        for branch in node.get(key, []):
            yield branch
            yield from _walk_unions(branch)


def _restrict_metrics(defs: Json, template_def: Json) -> None:
    """Metric names as enums: every known metric, narrowed to the ``problem``'s own by if/then.

    The loader checks the names per problem after validation; the schema lets an editor
    complete them and flag a typo while typing.
    """
    every = sorted({m for metrics in METRICS_BY_PROBLEM.values() for m in metrics})
    template_def["properties"]["select_by"]["enum"] = every
    gate = defs[def_name(template_def["properties"]["gate"])]
    for rule in _walk_unions(gate["properties"]["metrics"]["items"]):
        if "$ref" in rule:
            defs[def_name(rule)]["properties"]["metric"]["enum"] = every
    default = template_def["properties"]["problem"].get("default")
    conditions: list[Json] = []
    for problem, metrics in METRICS_BY_PROBLEM.items():
        names = sorted(metrics)
        narrowed = {
            "properties": {
                "select_by": {"enum": names},
                "gate": {"properties": {"metrics": {"items": {"properties": {"metric": {"enum": names}}}}}},
            }
        }
        conditions.append(
            {"if": {"properties": {"problem": {"const": problem}}, "required": ["problem"]}, "then": narrowed}
        )
        if problem == default:
            conditions.append({"if": {"not": {"required": ["problem"]}}, "then": copy.deepcopy(narrowed)})
    template_def["allOf"] = conditions
