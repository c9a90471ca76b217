"""The JSON Schema of pipeline files, and the markdown reference generated from it.

Why one module for both: the pydantic models are the single source of truth. Editors
(yaml-language-server, JetBrains) complete and check pipeline YAML from the JSON Schema, and
``docs/pipeline-reference.md`` is rendered from that same schema, so the reference cannot
describe a field the loader does not accept, and a test fails when the committed file
differs from :func:`markdown_reference` (regenerate with ``scripts/generate_reference.py``).

The schema is pydantic's, refined where pydantic cannot see what the loader does: the
short ``- expect_x: {...}`` form of an expectation, the step names ``timeouts`` accepts and
the metric names each ``problem`` knows. It uses only keywords that draft-07 and 2020-12
share, because yaml-language-server validates with draft-07.

Only pydantic and the spec models are imported at module level: ``airflow-mlops schema``
must stay instant. :func:`markdown_reference` imports ``airflow.sdk`` (for the asset URIs
of schedule triggers) when it runs.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, get_args

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema

from airflow_mlops.gates.metrics import METRICS_BY_PROBLEM
from airflow_mlops.spec.models import _PRESETS, TEMPLATES, PipelineBase, TriggerEvent

if TYPE_CHECKING:
    from pydantic_core import core_schema

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_TITLE = "airflow-mlops pipeline"
REFERENCE_PATH = "docs/pipeline-reference.md"
REGENERATE = "python scripts/generate_reference.py"
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
    return next(
        str(cls.model_fields["template"].default)
        for cls in TEMPLATES.values()
        if not cls.model_fields["template"].is_required()
    )


def step_names(template: str) -> tuple[str, ...]:
    """The task ids a template builds; ``timeouts`` accepts these keys (and ``default``)."""
    # step_names() reads no field, so an unvalidated instance is enough to ask it.
    return TEMPLATES[template].model_construct(pipeline="<pipeline>").step_names()


def json_schema(template: str | None = None) -> Json:
    """The JSON Schema of one template's pipeline file, or of any pipeline file.

    Without ``template`` the document is a ``oneOf`` over the templates; the ``template``
    key picks the branch (each branch fixes it with ``const``, and only ``retraining``, the
    default, may leave it out).
    """
    if template is not None and template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}; templates: {', '.join(TEMPLATES)}")
    names = [template] if template is not None else template_names()
    classes: list[type[PipelineBase]] = [TEMPLATES[n] for n in names]
    refs, top = models_json_schema(
        [(cls, "validation") for cls in classes],
        union_format="primitive_type_array",
        schema_generator=_Generator,
    )
    defs: Json = top.get("$defs", {})
    def_names = {name: _def_name(refs[(cls, "validation")]) for name, cls in zip(names, classes, strict=True)}
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


def _def_name(ref: JsonSchemaValue) -> str:
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
            branch["description"] = f"A cron expression or a preset: {', '.join(sorted(_PRESETS))}."
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
    gate = defs[_def_name(template_def["properties"]["gate"])]
    for rule in _walk_unions(gate["properties"]["metrics"]["items"]):
        if "$ref" in rule:
            defs[_def_name(rule)]["properties"]["metric"]["enum"] = every
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


# --------------------------------------------------------------------------------------
# The markdown reference
# --------------------------------------------------------------------------------------


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


def _resolve(node: Json, defs: Json) -> Json:
    """Follow a ``$ref``; the referring node's own keys (default, description) win."""
    if "$ref" not in node:
        return node
    target = _resolve(defs[_def_name(node)], defs)
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


def _variants(node: Json, defs: Json) -> list[Json]:
    """The alternatives of a value, unions flattened and refs resolved; a plain node is its own."""
    node = _resolve(node, defs)
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
    resolved = _resolve(node, defs)
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
    text = _resolve(node, defs).get("description", "")
    if not text:
        items = [i for v in variants if v.get("type") == "array" for i in _variants(v.get("items", {}), defs)]
        if len(items) == 1 and items[0].get("description"):
            text = f"Each item: {items[0]['description']}"
    return _one_line(text)


def _one_line(text: str) -> str:
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


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _table(rows: list[FieldRow]) -> list[str]:
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
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def markdown_reference() -> str:
    """The pipeline YAML reference, as committed in docs/pipeline-reference.md.

    Deterministic: the same models give byte-identical text, so a test can compare.
    """
    lines = [
        f"<!-- GENERATED from the JSON Schema by `{REGENERATE}`. Do not edit by hand. -->",
        "",
        "# Pipeline YAML reference",
        "",
        "A pipeline file is one YAML mapping. `template` picks what the file builds; every other key "
        "belongs to that template. Unknown keys are errors, and every error names the file, line, "
        "column and field path, with a hint.",
        "",
        "```bash",
        "airflow-mlops validate dags/pipelines/          # check files the way Airflow will load them",
        "airflow-mlops render dags/pipelines/churn.yaml  # print the tasks and edges the DAG will have",
        "```",
        "",
        *_editor_section(),
        *_templates_overview(),
    ]
    for template in template_names():
        lines += _template_section(template)
    lines += _defaults_section()
    lines += _retries_section()
    lines += _timeouts_section()
    lines += _schedule_section()
    lines += _metrics_section()
    return "\n".join(lines).rstrip("\n") + "\n"


def _editor_section() -> list[str]:
    return [
        "## Editor support",
        "",
        "`airflow-mlops schema` prints the JSON Schema this page is generated from (`--template NAME` "
        "for one template). Editors that use yaml-language-server (VS Code's YAML extension, Neovim, "
        "Helix, Zed) then complete keys, show these descriptions on hover and flag mistakes while you type:",
        "",
        "```bash",
        "airflow-mlops schema > dags/pipelines/pipeline.schema.json",
        "```",
        "",
        "and, as the first line of each pipeline file (the path is relative to the YAML file):",
        "",
        "```yaml",
        "# yaml-language-server: $schema=./pipeline.schema.json",
        "```",
        "",
        "or once for a folder in VS Code's `settings.json`: "
        '`"yaml.schemas": {"./dags/pipelines/pipeline.schema.json": "dags/pipelines/*.yaml"}`. '
        "The schema checks shapes, types, allowed values and metric names. What needs more than the "
        "one file (the suite file exists, the estimator's import prefix is allowed on this deployment, "
        "values inherited from a `defaults.yaml`) is checked by `airflow-mlops validate`; an editor "
        "reports a required field that a `defaults.yaml` supplies as missing.",
        "",
    ]


def _templates_overview() -> list[str]:
    lines = ["## Templates", "", "| template | what it builds | tasks |", "|---|---|---|"]
    for template in template_names():
        doc = _one_line(json_schema(template).get("description", ""))
        tasks = ", ".join(f"`{s}`" for s in step_names(template))
        lines.append(f"| [`{template}`](#template-{template}) | {_cell(doc)} | {tasks} |")
    return [*lines, "", f"Without a `template` key a file is a `{default_template()}` pipeline.", ""]


def _template_section(template: str) -> list[str]:
    doc = json_schema(template)
    return [
        f'<a id="template-{template}"></a>',
        "",
        f"## Template `{template}`",
        "",
        _one_line(doc.get("description", "")),
        "",
        "Tasks: " + " ".join(f"`{s}`" for s in step_names(template)) + ".",
        "",
        *_table(field_rows(template)),
        "",
    ]


_DEFAULTS_EXAMPLE = {
    "dags/defaults.yaml": "owner: ml-platform\ntags: [ml]\nretries: {retries: 4, delay_seconds: 60}\n",
    "dags/churn/defaults.yaml": "owner: churn-team\ntags: [churn]\nretries: {delay_seconds: 5}\n",
}


def _defaults_example() -> str:
    """What a pipeline in dags/churn/ inherits from ``_DEFAULTS_EXAMPLE``, merged by the loader itself."""
    import yaml

    from airflow_mlops.spec.loader import PipelineYamlLoader, _merge_nodes

    merged: yaml.Node | None = None
    for text in _DEFAULTS_EXAMPLE.values():
        node = yaml.compose(text, Loader=PipelineYamlLoader)
        assert node is not None
        merged = node if merged is None else _merge_nodes(merged, node)
    loader = PipelineYamlLoader("")
    try:
        data = loader.construct_document(merged)
    finally:
        loader.dispose()
    return str(yaml.safe_dump(data, default_flow_style=True, sort_keys=False, width=1000)).strip()


def _defaults_section() -> list[str]:
    from airflow_mlops.spec.loader import DEFAULTS_FILE

    return [
        f"## {DEFAULTS_FILE}",
        "",
        f"A `{DEFAULTS_FILE}` holds settings that the pipelines in its folder and every folder below it "
        "share. It is written like a pipeline file, with any key of the tables above but `pipeline`, "
        "and is never loaded as a pipeline itself.",
        "",
        f"- Every `{DEFAULTS_FILE}` from the dags folder (`[core] dags_folder`) down to the pipeline's own "
        "folder applies, the outermost first.",
        "- Mappings are merged key by key: the nearer file wins, and the pipeline file wins over all of them.",
        "- Any other value, a list included, is replaced whole, never concatenated.",
        "- `pipeline`, the DAG id, cannot be set in a defaults file.",
        "- A path written in a defaults file, such as `validation.suite`, is relative to that file.",
        "- An error in an inherited value is reported at the defaults file's line.",
        f"- `airflow-mlops validate FOLDER` applies the `{DEFAULTS_FILE}` files from `FOLDER` down; "
        "pass `--defaults-root` with your dags folder to check files the way Airflow loads them.",
        "",
        "```yaml",
        *[line for path, text in _DEFAULTS_EXAMPLE.items() for line in (f"# {path}", *text.splitlines())],
        "```",
        "",
        f"A pipeline in `dags/churn/` inherits `{_defaults_example()}`.",
        "",
    ]


def _retries_section() -> list[str]:
    doc = json_schema(template_names()[0])
    retries = _resolve(doc["properties"]["retries"], doc.get("$defs", {}))
    default = {name: prop.get("default") for name, prop in retries["properties"].items()}
    waits = [
        min(default["delay_seconds"] * default["backoff_multiplier"] ** n, default["max_delay_seconds"])
        for n in range(default["retries"])
    ]
    return [
        "## Retries",
        "",
        "Every task of every template retries with exponential backoff, set once per pipeline under "
        "`retries`. Retry *n* waits at least `delay_seconds * backoff_multiplier^(n-1)` and less than "
        "twice that (Airflow spreads retries with a deterministic jitter), never longer than "
        "`max_delay_seconds`; a multiplier of 0 or 1 keeps the delay fixed. With the defaults: "
        f"{default['retries']} retries, after at least {', '.join(f'{w:g} s' for w in waits)}. "
        "Failures a retry cannot fix (bad data, a rejected gate, a champion that moved) fail at once.",
        "",
        *_table([r for r in field_rows(template_names()[0]) if r.path.startswith("retries.")]),
        "",
    ]


def _timeouts_section() -> list[str]:
    lines = [
        "## Timeouts",
        "",
        "`timeouts` maps a step to the minutes it may run before Airflow fails it (then retries it). "
        "`default` applies to every step without its own entry; no entry means no limit. "
        "Example: `timeouts: {default: 60, train: 240}`.",
        "",
        "| template | keys |",
        "|---|---|",
    ]
    for template in template_names():
        keys = ", ".join(f"`{k}`" for k in ("default", *step_names(template)))
        lines.append(f"| `{template}` | {keys} |")
    return [*lines, ""]


def _trigger_assets() -> tuple[dict[str, str], str]:
    """Each trigger's asset URI and what a list of triggers means, read from the factory itself.

    Asking the code (rather than writing the URIs down) keeps this page true when they change.
    """
    from airflow.sdk.definitions.asset import AssetAny

    from airflow_mlops.factory.common import resolve_schedule, trigger_asset
    from airflow_mlops.spec.models import AssetTriggerSpec, BatchScoringPipelineSpec, DatasetRefSpec, ModelRefSpec

    spec = BatchScoringPipelineSpec.model_construct(
        pipeline="<pipeline>",
        template="batch_scoring",
        model=ModelRefSpec.model_construct(name="<model>"),
        data=DatasetRefSpec.model_construct(path="<path>", dvc_conn_id="<dvc_conn_id>"),
    )
    events: tuple[str, ...] = get_args(TriggerEvent)
    uris = {event: str(trigger_asset(spec, AssetTriggerSpec(on=event)).uri) for event in events}  # type: ignore[arg-type]
    several = spec.model_copy(update={"schedule": [AssetTriggerSpec(on=e) for e in events[:2]]})  # type: ignore[arg-type]
    meaning = "any" if isinstance(resolve_schedule(several), AssetAny) else "all"
    return uris, meaning


_LIST_MEANING = {
    "any": "run as soon as **any one** of the assets is updated",
    "all": "run once **all** of the assets have been updated since the last run",
}

_TRIGGER_SOURCES = {
    "new_data_version": "whatever commits new data: your ingestion DAG lists the asset as an outlet",
    "drift_detected": "a `drift_monitor` pipeline's `publish_drift` task, when the data drifted",
    "champion_changed": "a `retraining` pipeline's `promote` task, when a new version becomes the champion",
}


def _schedule_section() -> list[str]:
    uris, meaning = _trigger_assets()
    lines = [
        "## Schedule triggers",
        "",
        "`schedule` is one of:",
        "",
        "- absent or `null`: manual runs only;",
        f'- a cron expression (`"0 3 * * *"`) or a preset: {", ".join(f"`{p}`" for p in sorted(_PRESETS))};',
        "- a trigger, `{on: EVENT}`: run when an Airflow asset is updated instead of on a clock;",
        "- a list of triggers: " + _LIST_MEANING[meaning] + ".",
        "",
        "`model` (for the model events) and `path` (for `new_data_version`) default to the "
        "pipeline's own registered model and data file.",
        "",
        "| `on` | asset URI | updated by |",
        "|---|---|---|",
    ]
    for event, uri in uris.items():
        lines.append(f"| `{event}` | `{uri}` | {_TRIGGER_SOURCES.get(event, '')} |")
    return [*lines, ""]


def _metrics_section() -> list[str]:
    lines = [
        "## Metrics",
        "",
        "`select_by` and every `gate.metrics[].metric` must be a metric of the pipeline's `problem`. "
        "The direction is known per metric, so `max_drop` on a lower-is-better metric means "
        '"may grow by at most".',
        "",
        "| problem | metric | better when |",
        "|---|---|---|",
    ]
    for problem, metrics in METRICS_BY_PROBLEM.items():
        lines += [f"| `{problem}` | `{metric}` | {direction} |" for metric, direction in metrics.items()]
    return [*lines, ""]
