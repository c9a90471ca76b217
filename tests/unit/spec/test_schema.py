"""The pipeline JSON Schema (for editors) and the reference generated from it.

The schema must never flag a file the loader accepts (an editor full of false errors gets
switched off), must reject what is plainly wrong (unknown keys, wrong types, unknown
metrics), and docs/pipeline-reference.md must be exactly what the schema generates.

Files are read with the loader's own YAML 1.2 reader, as editors read them: under PyYAML's
YAML 1.1 rules ``{on: champion_changed}`` becomes ``{True: ...}``, which neither the loader
nor yaml-language-server ever sees.
"""

from __future__ import annotations

import difflib
import json
import shutil
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from jsonschema import Draft7Validator, Draft202012Validator
from pydantic import BaseModel

from airflow_mlops.assets import champion_asset, data_version_asset, drift_asset
from airflow_mlops.cli import main
from airflow_mlops.commands.reference import markdown_reference
from airflow_mlops.gates.metrics import METRICS_BY_PROBLEM
from airflow_mlops.spec.loader import load_pipeline_spec
from airflow_mlops.spec.reference_rows import field_rows
from airflow_mlops.spec.schema import REFERENCE_PATH, SCHEMA_DIALECT, json_schema, step_names
from airflow_mlops.spec.templates import TEMPLATES
from airflow_mlops.spec.yaml_source import PipelineYamlLoader

REPO = Path(__file__).resolve().parents[3]
PIPELINES = REPO / "dags" / "pipelines"
EXAMPLES = sorted(PIPELINES.glob("*.yaml"))
EXAMPLE = PIPELINES / "breast_cancer.yaml"
INVALID = REPO / "tests" / "fixtures" / "invalid"
REFERENCE = REPO / REFERENCE_PATH
VALIDATORS = (Draft202012Validator, Draft7Validator)

# Invalid fixtures whose defect is one of shape, type, range or name: an editor must flag them too.
SHAPE_ERRORS = [
    "unknown_top_level_key",
    "unknown_nested_key",
    "unknown_gate_rule_key",
    "unknown_gate_metric",
    "unknown_select_by_metric",
    "wrong_type_models_mapping",
    "wrong_type_test_size",
    "out_of_range_test_size",
    "out_of_range_retries",
    "invalid_on_failure",
    "missing_registry",
    "top_level_list",
]


def read(path: Path) -> Any:
    """A pipeline file as an editor sees it: YAML 1.2, and dates as the strings they were written as."""
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=PipelineYamlLoader)  # a SafeLoader subclass
    return json.loads(json.dumps(data, default=str))


def errors(document: Any, schema: dict[str, Any] | None = None) -> dict[str, list[str]]:
    """Error messages per validator class, so draft-07 (yaml-language-server) is held to the same bar."""
    schema = schema if schema is not None else json_schema()
    return {v.__name__: [e.message for e in v(schema).iter_errors(document)] for v in VALIDATORS}


def example() -> dict[str, Any]:
    data: dict[str, Any] = read(EXAMPLE)
    return data


@pytest.mark.parametrize("template", [None, *TEMPLATES])
def test_schema_is_valid_json_schema(template: str | None) -> None:
    schema = json_schema(template)

    for validator in VALIDATORS:
        validator.check_schema(schema)
    assert schema["$schema"] == SCHEMA_DIALECT
    assert schema["title"].startswith("airflow-mlops pipeline")
    json.dumps(schema)  # plain JSON, nothing pydantic-specific left in it


def test_full_schema_is_a_one_of_over_templates_keyed_by_template() -> None:
    schema = json_schema()

    assert schema["description"]
    branches = [schema["$defs"][ref["$ref"].rsplit("/", 1)[-1]] for ref in schema["oneOf"]]
    assert [b["properties"]["template"]["const"] for b in branches] == list(TEMPLATES)
    # Only the default template may leave `template` out; the others require it.
    assert [("template" in b.get("required", [])) for b in branches] == [False, True, True, True, True]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_pipelines_are_valid(path: Path) -> None:
    document = read(path)
    template = document.get("template", "retraining")

    assert errors(document) == {"Draft202012Validator": [], "Draft7Validator": []}
    assert errors(document, json_schema(template)) == {"Draft202012Validator": [], "Draft7Validator": []}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d.update(colour="blue"), "colour"),
        (lambda d: d["data"]["split"].update(test_sise=0.3), "test_sise"),
        (lambda d: d["gate"]["metrics"][0].update(minimum=0.9), "minimum"),
        (lambda d: d["registry"].update(aliases=["x"]), "aliases"),
    ],
    ids=["top-level", "nested", "in-a-rule", "registry"],
)
def test_unknown_key_is_rejected(change: Any, where: str) -> None:
    document = example()
    change(document)

    found = errors(document)
    for messages in found.values():
        assert messages, found
    # The template's own schema names the key (the oneOf only says no branch matched).
    own = errors(document, json_schema("retraining"))["Draft202012Validator"]
    assert any(where in message for message in own), own


@pytest.mark.parametrize("name", SHAPE_ERRORS)
def test_fixtures_with_shape_errors_are_rejected(name: str) -> None:
    found = errors(read(INVALID / f"{name}.yaml"))

    assert all(found.values()), found


def _copy_example(folder: Path, **changes: Any) -> Path:
    shutil.copytree(PIPELINES / "suites", folder / "suites")
    document = example()
    document.update(changes)
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


REGRESSION = {
    "problem": "regression",
    "select_by": "rmse",
    "gate": {"metrics": [{"metric": "r2", "min": 0.5}, {"metric": "rmse", "compare_to": "champion", "max_drop": 0.1}]},
    "data": {"path": "data/houses.parquet", "target": "price", "split": {"stratify": False}},
    "models": [{"name": "ridge", "estimator": "sklearn.linear_model.Ridge"}],
}


@pytest.mark.parametrize(
    "changes",
    [
        {"validation": {"expectations": [{"expect_column_values_to_not_be_null": {"column": "target"}}]}},
        {
            "validation": {
                "expectations": [{"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}]
            }
        },
        {"schedule": {"on": "drift_detected"}},
        {"schedule": [{"on": "new_data_version"}, {"on": "champion_changed", "model": "other"}]},
        {"schedule": "@weekly", "start_date": "2025-06-01"},
        {"timeouts": {"default": 60, "train": 240}},
        REGRESSION,
    ],
    ids=["short-expectation", "long-expectation", "trigger", "triggers", "preset-date", "timeouts", "regression"],
)
def test_what_the_loader_accepts_the_schema_accepts(tmp_path: Path, changes: dict[str, Any]) -> None:
    path = _copy_example(tmp_path, **changes)

    load_pipeline_spec(path)  # the loader's verdict first: these are valid pipelines
    assert errors(read(path)) == {"Draft202012Validator": [], "Draft7Validator": []}


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"problem": "regression"}, "f1 is not a regression metric"),
        ({**REGRESSION, "select_by": "f1"}, "select_by names a classification metric"),
        ({"timeouts": {"trian": 30}}, "no such step"),
        ({"timeouts": {"train": 0}}, "a timeout must be positive"),
        ({"validation": {"expectations": [{"expect_a": {}, "expect_b": {}}]}}, "one expectation per item"),
        ({"validation": {"expectations": [{"column_values_not_null": {"column": "x"}}]}}, "not an expect_ name"),
        ({"schedule": {"on": "nightly"}}, "unknown trigger"),
    ],
)
def test_what_the_loader_refuses_the_schema_refuses(changes: dict[str, Any], why: str) -> None:
    document = example()
    document.update(changes)

    found = errors(document)
    assert all(found.values()), why


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    """``root`` and every model reachable through its fields."""
    seen: list[type[BaseModel]] = []
    pending = [root]
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.append(model)
        for field in model.model_fields.values():
            pending.extend(_nested(field.annotation))
    return seen


def _nested(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _nested(arg)]


@pytest.mark.parametrize("template", list(TEMPLATES))
def test_every_field_description_reaches_the_schema(template: str) -> None:
    schema = json_schema(template)
    defs = schema.get("$defs", {})
    for model in _models(TEMPLATES[template].spec):
        node = schema if model is TEMPLATES[template].spec else defs[model.__name__]
        properties = node.get("properties") or node["anyOf"][1]["properties"]  # Expectation has two forms
        for name, field in model.model_fields.items():
            if field.description:
                assert properties[name].get("description") == field.description, (model.__name__, name)


def test_timeouts_accept_exactly_the_template_steps() -> None:
    for template in TEMPLATES:
        keys = json_schema(template)["properties"]["timeouts"]["propertyNames"]["enum"]
        assert keys == ["default", *step_names(template)]
        assert set(keys) - {"default"} == set(TEMPLATES[template].spec.model_construct(pipeline="x").step_names())


def test_reference_is_in_sync_with_the_schema() -> None:
    expected = markdown_reference()
    current = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
    if current != expected:
        diff = "".join(
            list(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    expected.splitlines(keepends=True),
                    fromfile=f"{REFERENCE_PATH} (committed)",
                    tofile="markdown_reference() (generated)",
                )
            )[:40]
        )
        pytest.fail(
            f"{REFERENCE_PATH} is out of date with the pipeline schema. Regenerate it with\n"
            f"    python scripts/generate_reference.py\nand commit the result.\n\n{diff}"
        )


def test_reference_is_deterministic() -> None:
    assert markdown_reference() == markdown_reference()


def test_reference_rows_say_type_default_constraints_and_allowed_values() -> None:
    rows = {row.path: row for row in field_rows("retraining")}

    assert rows["data.split.test_size"].default == "`0.2`"
    assert rows["data.split.test_size"].constraints == "> 0, < 1"
    assert rows["retries.retries"].constraints == ">= 0, <= 20"
    assert rows["models[].preprocessing.impute"].allowed == "`none`, `mean`, `median`, `most_frequent`"
    assert rows["models"].required and rows["models"].constraints == "min items 1"
    assert rows["pipeline"].description == "The DAG id."
    assert rows["timeouts"].allowed.startswith("keys: `default`, `resolve_data`")
    assert "schedule[].on" in rows and "schedule.on" in rows
    rules = [row for row in field_rows("retraining") if row.path.startswith("gate.metrics[].")]
    assert {row.description.split(":*")[0] for row in rules} == {"*champion rule", "*threshold rule", "*slice gap rule"}


def test_reference_names_metrics_and_trigger_assets_from_the_code() -> None:
    text = markdown_reference()

    for problem, metrics in METRICS_BY_PROBLEM.items():
        for metric, direction in metrics.items():
            assert f"| `{problem}` | `{metric}` | {direction} |" in text
    assert f"`{champion_asset('<model>').uri}`" in text
    assert f"`{drift_asset('<model>').uri}`" in text
    assert f"`{data_version_asset('<path>', '<dvc_conn_id>').uri}`" in text
    assert "# yaml-language-server: $schema=" in text


def test_schema_command_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json_schema()

    assert main(["schema", "--template", "drift_monitor"]) == 0
    assert json.loads(capsys.readouterr().out) == json_schema("drift_monitor")


def test_schema_command_unknown_template_exits_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "--template", "retrain"]) == 1

    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"unknown template 'retrain' (hint: templates: {', '.join(TEMPLATES)})\n"


def test_reference_explains_defaults_with_an_example_the_loader_agrees_with(tmp_path: Path) -> None:
    from airflow_mlops.commands.reference import _DEFAULTS_EXAMPLE

    text = markdown_reference()
    assert "## defaults.yaml" in text
    for path, content in _DEFAULTS_EXAMPLE.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(content, encoding="utf-8")
        assert f"# {path}\n{content}" in text
    pipeline = _copy_example(tmp_path / "dags" / "churn")
    document = yaml.safe_load(pipeline.read_text(encoding="utf-8"))
    for key in ("owner", "tags", "retries"):
        document.pop(key, None)
    pipeline.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")

    spec = load_pipeline_spec(pipeline, defaults_root=tmp_path / "dags")

    inherited = {
        "owner": spec.owner,
        "tags": spec.tags,
        "retries": spec.retries.model_dump(include={"retries", "delay_seconds"}),
    }
    assert inherited == {"owner": "churn-team", "tags": ["churn"], "retries": {"retries": 4, "delay_seconds": 5}}
    assert "inherits `{owner: churn-team, tags: [churn], retries: {retries: 4, delay_seconds: 5}}`" in text


def test_the_template_table_and_the_spec_union_agree() -> None:
    """PipelineSpec (for mypy) and TEMPLATES (at run time) must list the same spec classes."""
    from airflow_mlops.factory.templates import builder
    from airflow_mlops.spec.models import PipelineSpec

    assert set(get_args(PipelineSpec)) == {template.spec for template in TEMPLATES.values()}
    for name, template in TEMPLATES.items():
        assert get_args(template.spec.model_fields["template"].annotation) == (name,)
        assert callable(builder(name))
