"""The markdown reference of pipeline files, as committed in docs/pipeline-reference.md.

Rendered from the JSON Schema (spec/schema.py) and from the code itself (the loader merges the
defaults example, the factory names the trigger assets), so the page cannot drift from what
the loader accepts: a test fails when the committed file differs from :func:`markdown_reference`
(regenerate with ``scripts/generate_reference.py``). :func:`markdown_reference` imports
``airflow.sdk`` (for the asset URIs of schedule triggers) when it runs.
"""

from __future__ import annotations

from typing import get_args

from airflow_mlops.gates.metrics import METRICS_BY_PROBLEM
from airflow_mlops.spec.cron import PRESETS
from airflow_mlops.spec.models_common import TriggerEvent
from airflow_mlops.spec.reference_rows import cell, field_rows, one_line, resolve, table
from airflow_mlops.spec.schema import default_template, json_schema, step_names, template_names

REGENERATE = "python scripts/generate_reference.py"


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
    lines += _suite_section()
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
        doc = one_line(json_schema(template).get("description", ""))
        tasks = ", ".join(f"`{s}`" for s in step_names(template))
        lines.append(f"| [`{template}`](#template-{template}) | {cell(doc)} | {tasks} |")
    return [*lines, "", f"Without a `template` key a file is a `{default_template()}` pipeline.", ""]


def _template_section(template: str) -> list[str]:
    doc = json_schema(template)
    return [
        f'<a id="template-{template}"></a>',
        "",
        f"## Template `{template}`",
        "",
        one_line(doc.get("description", "")),
        "",
        "Tasks: " + " ".join(f"`{s}`" for s in step_names(template)) + ".",
        "",
        *table(field_rows(template)),
        "",
    ]


_DEFAULTS_EXAMPLE = {
    "dags/defaults.yaml": "owner: ml-platform\ntags: [ml]\nretries: {retries: 4, delay_seconds: 60}\n",
    "dags/churn/defaults.yaml": "owner: churn-team\ntags: [churn]\nretries: {delay_seconds: 5}\n",
}


def _defaults_example() -> str:
    """What a pipeline in dags/churn/ inherits from ``_DEFAULTS_EXAMPLE``, merged by the loader itself."""
    import yaml

    from airflow_mlops.spec.defaults import merge_nodes
    from airflow_mlops.spec.yaml_source import PipelineYamlLoader

    merged: yaml.Node | None = None
    for text in _DEFAULTS_EXAMPLE.values():
        node = yaml.compose(text, Loader=PipelineYamlLoader)
        assert node is not None
        merged = node if merged is None else merge_nodes(merged, node)
    loader = PipelineYamlLoader("")
    try:
        data = loader.construct_document(merged)
    finally:
        loader.dispose()
    return str(yaml.safe_dump(data, default_flow_style=True, sort_keys=False, width=1000)).strip()


_SUITE_EXAMPLE = """\
# dags/pipelines/suites/churn.yaml
name: churn_data
expectations:
  - expect_table_row_count_to_be_between: {min_value: 1000}
  - expect_column_to_exist: {column: churned}
  - expect_column_values_to_be_in_set: {column: churned, value_set: [0, 1]}
  - expect_column_values_to_not_be_null: {column: tenure_months, mostly: 0.99}
"""


def _suite_section() -> list[str]:
    from airflow_mlops.spec.models_data import SuiteFileSpec

    rows = [
        f"| `{name}` | {'yes' if field.is_required() else ''} | {field.description} |"
        for name, field in SuiteFileSpec.model_fields.items()
    ]
    return [
        '<a id="suite-files"></a>',
        "",
        "## Suite files",
        "",
        "`validation.suite` names a YAML file of Great Expectations rules, relative to the file that "
        "names it and inside the dags folder, so that pipelines can share it. `airflow-mlops validate` "
        "checks it with the pipeline, and reports its errors at its own lines. Unknown keys are errors.",
        "",
        "| key | required | meaning |",
        "|---|---|---|",
        *rows,
        "",
        "```yaml",
        *_SUITE_EXAMPLE.splitlines(),
        "```",
        "",
        "`validation.expectations` takes the same list inline, instead of a file.",
        "",
    ]


def _defaults_section() -> list[str]:
    from airflow_mlops.spec.defaults import DEFAULTS_FILE

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
    retries = resolve(doc["properties"]["retries"], doc.get("$defs", {}))
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
        *table([r for r in field_rows(template_names()[0]) if r.path.startswith("retries.")]),
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
    from airflow_mlops.spec.models import BatchScoringPipelineSpec
    from airflow_mlops.spec.models_common import AssetTriggerSpec, ModelRefSpec
    from airflow_mlops.spec.models_data import DatasetRefSpec

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
        f'- a cron expression (`"0 3 * * *"`) or a preset: {", ".join(f"`{p}`" for p in sorted(PRESETS))};',
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
