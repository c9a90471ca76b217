"""Hypothesis strategies for hostile pipeline YAML, shared by the fuzz and security tests.

The loader's promise is that *any* file yields either a spec or a PipelineConfigError that
names the file (and, where it can, line, column and field). These strategies produce the inputs
that break such promises in practice: structures of the wrong shape, keys one typo away from
the real schema, valid pipelines with one field made wrong, raw token soup, undecodable
bytes, and the pathological cases (deep nesting, huge numbers, anchors and aliases, Python tags).
"""

from __future__ import annotations

import copy
import math
import os
import typing
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from airflow_mlops.errors import PipelineConfigError
from airflow_mlops.spec.templates import TEMPLATES
from airflow_mlops.spec.yaml_source import PipelineYamlLoader

REPO = Path(__file__).resolve().parents[1]
PIPELINES = REPO / "dags" / "pipelines"
EXAMPLE = PIPELINES / "breast_cancer.yaml"
EXAMPLE_SUITE = PIPELINES / "suites" / "breast_cancer.yaml"

# Reproducible in CI (same examples on every run), exploring locally. No example database:
# it would write .hypothesis/ into the repository, and CI must not depend on earlier runs.
#
# No shrinking: shrinking deep or huge documents can take minutes, and the fuzz tests report
# a crash as exception + product file:line + the start of the input instead; minimised
# reproducers are kept as explicit test cases (tests/unit/spec/test_fuzz.py KNOWN_CRASHERS).
FUZZ_PROFILE = settings(
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],
    derandomize=bool(os.environ.get("CI")),
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ---------------------------------------------------------------- the real schema's keys


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]


def _field_names(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[str]:
    if model in seen:
        return set()
    seen.add(model)
    names = set(model.model_fields)
    for field in model.model_fields.values():
        for inner in _models_in(field.annotation):
            names |= _field_names(inner, seen)
    return names


def schema_keys() -> list[str]:
    """Every key the pipeline schema knows, across all templates and nested models."""
    seen: set[type[BaseModel]] = set()
    names: set[str] = set()
    for model in (template.spec for template in TEMPLATES.values()):
        names |= _field_names(model, seen)
    return sorted(names | {"expect_column_to_exist", "expect_table_row_count_to_be_between"})


SCHEMA_KEYS = schema_keys()


@st.composite
def near_keys(draw: st.DrawFn) -> str:
    """A real key with one typo: a dropped, doubled or swapped character, other case, '-' for '_'."""
    key = draw(st.sampled_from(SCHEMA_KEYS))
    edit = draw(st.sampled_from(["drop", "double", "swap", "upper", "dash", "space", "suffix"]))
    i = draw(st.integers(min_value=0, max_value=max(len(key) - 2, 0)))
    if edit == "drop":
        return key[:i] + key[i + 1 :]
    if edit == "double":
        return key[: i + 1] + key[i:]
    if edit == "swap":
        return key[:i] + key[i + 1 : i + 2] + key[i : i + 1] + key[i + 2 :]
    if edit == "upper":
        return key.upper()
    if edit == "dash":
        return key.replace("_", "-")
    if edit == "space":
        return key + " "
    return key + draw(st.sampled_from(["s", "_", "2", "\u00e9"]))


KEYS = st.one_of(
    st.sampled_from(SCHEMA_KEYS),
    near_keys(),
    st.text(max_size=12),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
)

# ---------------------------------------------------------------- values

INTERESTING_STRINGS = [
    "",
    " ",
    "~",
    "null",
    "yes",
    "on",
    "NO",
    "0x1F",
    "1:30",
    ".inf",
    "-.nan",
    "2024-01-01",
    "2024-02-30",
    "0 3 * * *",
    "@daily",
    "every day",
    "sklearn.svm.SVC",
    "sklearn.linear_model.LogisticRegression",
    "os.system",
    "builtins.eval",
    "acme_ml.training:train_model",
    "airflow.providers.smtp.notifications.smtp.SmtpNotifier",
    "models:/breast_cancer_classifier@champion",
    "runs:/0123456789abcdef/model",
    "file:///etc/passwd",
    "../../../etc/passwd",
    "suites/breast_cancer.yaml",
    "data/breast_cancer.csv",
    "data.parquet",
    "http://user:hunter2@example.com/repo.git",
    "AKIAABCDEFGHIJKLMNOP",
    "ghp_" + "a" * 36,
    "-----BEGIN RSA PRIVATE KEY-----",
    "f1",
    "roc_auc",
    "champion",
    "retraining",
    "batch_scoring",
    "drift_monitor",
    "expect_column_to_exist",
    "{{ dag_run.conf }}",
    "x" * 300,
    "\u202e\u0000\ufeff",
]

EXTREME_NUMBERS: list[Any] = [
    0,
    -1,
    1,
    2,
    21,
    2**31,
    2**63,
    -(2**63),
    10**40,
    0.0,
    -0.0,
    1e-320,
    0.999999999,
    1.0000001,
    1e20,
    1e308,
    -1e308,
    math.inf,
    -math.inf,
    math.nan,
    True,
    False,
]

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(EXTREME_NUMBERS),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(INTERESTING_STRINGS),
)

VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(KEYS, children, max_size=4),
    ),
    max_leaves=12,
)


# ---------------------------------------------------------------- valid pipelines


def _load(path: Path) -> dict[str, Any]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=PipelineYamlLoader)  # YAML 1.2 booleans, as the loader
    assert isinstance(data, dict)
    return data


def _rich_retraining() -> dict[str, Any]:
    """The example plus every optional section, so mutations reach every model of the schema."""
    doc = _load(EXAMPLE)
    doc["validation"] = {"expectations": _load(EXAMPLE_SUITE)["expectations"][:3], "on_failure": "warn"}
    doc.update(
        {
            "owner": "ml-team",
            "start_date": "2024-01-01",
            "experiment": "breast_cancer",
            "mlflow_conn_id": "mlflow_default",
            "schedule": [{"on": "drift_detected"}, {"on": "new_data_version", "path": "data/other.csv"}],
            "retries": {"retries": 3, "delay_seconds": 10, "backoff_multiplier": 2, "max_delay_seconds": 300},
            "timeouts": {"default": 60, "train": 240},
            "notifications": {
                "on_failure": [
                    {"notifier": "airflow.providers.smtp.notifications.smtp.SmtpNotifier", "params": {"to": "a@b.c"}}
                ]
            },
            "approval": {"mode": "manual", "approvers": ["alice"], "timeout_hours": 24},
        }
    )
    doc["models"][0]["resources"] = {"queue": "cpu", "pool": "ml", "pool_slots": 2, "cpu": "2", "memory": "4Gi"}
    doc["models"][1]["preprocessing"] = {
        "impute": "mean",
        "scale": "minmax",
        "one_hot": True,
        "steps": [{"transformer": "sklearn.preprocessing.FunctionTransformer", "params": {"validate": False}}],
    }
    doc["gate"].update({"on_reject": "fail", "min_test_rows": 10})
    doc["gate"]["metrics"].append({"metric": "f1", "min": 0.5, "slice_by": "region", "min_slice_rows": 5})
    doc["registry"].update({"previous_alias": "previous", "on_conflict": "reevaluate"})
    return doc


VALID_DOCUMENTS: dict[str, dict[str, Any]] = {
    "retraining_with_suite": _load(EXAMPLE),
    "retraining_rich": _rich_retraining(),
    "batch_scoring": {**_load(PIPELINES / "breast_cancer_scoring.yaml"), "passthrough": ["id"]},
    "drift_monitor": {**_load(PIPELINES / "breast_cancer_drift.yaml"), "features": ["mean_radius"]},
}


def dump(doc: Any, flow: bool | None = None) -> str:
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=flow, allow_unicode=True, width=200)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*prefix, index)))
    return found


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    node = doc
    for part in path[:-1]:
        node = node[part]
    return node


@st.composite
def mutated_pipelines(draw: st.DrawFn) -> tuple[str, str]:
    """(YAML text, what was changed): a valid pipeline with exactly one field made wrong."""
    name = draw(st.sampled_from(sorted(VALID_DOCUMENTS)))
    doc = copy.deepcopy(VALID_DOCUMENTS[name])
    path = draw(st.sampled_from(_paths(doc)[1:]))
    parent = _parent(doc, path)
    last = path[-1]
    kind = draw(st.sampled_from(["replace", "number", "string", "unknown_key", "delete", "rename", "wrap"]))
    if kind == "replace":
        parent[last] = draw(VALUES)
    elif kind == "number":
        parent[last] = draw(st.sampled_from(EXTREME_NUMBERS))
    elif kind == "string":
        parent[last] = draw(st.sampled_from(INTERESTING_STRINGS))
    elif kind == "wrap":
        parent[last] = draw(st.sampled_from([[parent[last]], {"value": parent[last]}, [[parent[last]]]]))
    elif kind == "unknown_key":
        target = parent[last] if isinstance(parent[last], dict) else parent if isinstance(parent, dict) else doc
        target[draw(st.one_of(near_keys(), st.text(min_size=1, max_size=10)))] = draw(VALUES)
    elif kind == "delete":
        del parent[last]
    elif isinstance(parent, dict):  # rename
        parent[draw(near_keys())] = parent.pop(last)
    else:
        parent[last] = draw(VALUES)
    return dump(doc, flow=draw(st.sampled_from([None, False, True]))), f"{name}: {kind} at {list(path)}"


# ---------------------------------------------------------------- raw text and bytes

YAML_TOKENS = [
    "pipeline: ",
    "template: ",
    "models:",
    "data:",
    "gate:",
    "- ",
    "  ",
    "\t",
    "\n",
    ": ",
    "? ",
    "{",
    "}",
    "[",
    "]",
    ",",
    "'",
    '"',
    "#",
    "|",
    ">",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "<<: ",
    "!!str ",
    "!!int ",
    "!!binary ",
    "!!set ",
    "!!omap ",
    "!!timestamp ",
    "!!python/object/apply:os.system ['true']",
    "!!python/name:os.system",
    "!custom ",
    "%YAML 1.1\n",
    "%TAG ! tag:x,2000:\n",
    "---\n",
    "...\n",
    "~",
    "0x",
    "1e999",
    "\\",
    "\ufeff",
    "\x00",
    "\x85",
    "\u2028",
    "é",
    "x",
    "1",
]

RAW_TEXT = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(YAML_TOKENS), max_size=40).map("".join),
)


@st.composite
def text_mutations(draw: st.DrawFn) -> str:
    """A valid pipeline's text with a few edits: tokens inserted, lines duplicated, tabs, cuts."""
    text = dump(VALID_DOCUMENTS[draw(st.sampled_from(sorted(VALID_DOCUMENTS)))])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        lines = text.splitlines(keepends=True) or [""]
        at = draw(st.integers(min_value=0, max_value=len(text)))
        line = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        edit = draw(st.sampled_from(["insert", "cut", "duplicate_line", "tab_indent", "truncate"]))
        if edit == "insert":
            text = text[:at] + draw(st.sampled_from(YAML_TOKENS) | st.text(max_size=3)) + text[at:]
        elif edit == "cut":
            text = text[:at] + text[at + draw(st.integers(min_value=1, max_value=20)) :]
        elif edit == "duplicate_line":
            text = "".join(lines[: line + 1] + lines[line:])
        elif edit == "tab_indent":
            lines[line] = lines[line].replace("  ", "\t", 1)
            text = "".join(lines)
        else:
            text = text[:at]
    return text


@st.composite
def hostile_bytes(draw: st.DrawFn) -> bytes:
    """Bytes that are not (only) UTF-8 text: random, a valid file with bad bytes inside, UTF-16."""
    kind = draw(st.sampled_from(["random", "spliced", "utf16", "latin1"]))
    if kind == "random":
        return draw(st.binary(max_size=200))
    text = dump(VALID_DOCUMENTS[draw(st.sampled_from(sorted(VALID_DOCUMENTS)))])
    if kind == "utf16":
        return text.encode(draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32"])))
    if kind == "latin1":
        return text.replace("Retrain", "Retr\u00e4in").encode("latin-1", errors="replace")
    raw = text.encode()
    at = draw(st.integers(min_value=0, max_value=len(raw)))
    junk = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\x00", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\x80\x81"]))
    return raw[:at] + junk + raw[at:]


# ---------------------------------------------------------------- pathological documents


@st.composite
def pathological(draw: st.DrawFn) -> str:
    """Deep nesting, huge numbers, anchors and aliases, Python tags, duplicate keys."""
    kind = draw(
        st.sampled_from(
            ["flow_nesting", "block_nesting", "map_nesting", "huge_number", "alias", "python_tag", "duplicates"]
        )
    )
    depth = draw(st.integers(min_value=1, max_value=700))
    where = draw(st.sampled_from(["pipeline", "description", "tags", "retries", "timeouts", "params"]))
    if kind == "flow_nesting":
        value = "[" * depth + "]" * depth
    elif kind == "block_nesting":
        return f"{where}:\n" + "".join("  " * (i + 1) + "-\n" for i in range(depth))
    elif kind == "map_nesting":
        return f"{where}:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(depth))
    elif kind == "huge_number":
        digits = draw(st.integers(min_value=1, max_value=6000))
        forms = [
            "9" * digits,
            "-" + "9" * digits,
            "0x" + "f" * digits,
            "0o" + "7" * digits,
            "0b" + "1" * digits,
            "1" + ":59" * max(digits // 2, 1),
            "." + "9" * digits,
            "1e" + "9" * min(digits, 30),
        ]
        value = draw(st.sampled_from(forms))
    elif kind == "alias":
        value = draw(
            st.sampled_from(
                [
                    "&a [*a]",
                    "&a {k: *a}",
                    "&a [1, [2, *a]]",
                    "*undefined",
                    "&a [x, x, x]\nretries: {retries: *a}",
                    "&a {retries: 1}\nretries: {<<: *a, delay_seconds: 1}",
                    "&a [&b [x, x, x, x], *b, *b, *b]\ntags: [*a, *a, *a, *a]",
                ]
            )
        )
    elif kind == "python_tag":
        value = draw(
            st.sampled_from(
                [
                    "!!python/object/apply:os.system ['true']",
                    "!!python/object/new:os.system ['true']",
                    "!!python/name:os.system",
                    "!!python/module:os",
                    "!!python/tuple [1, 2]",
                    "!!python/object:argparse.Namespace {a: 1}",
                ]
            )
        )
    else:
        return f"{where}: 1\n{where}: 2\n" * draw(st.integers(min_value=1, max_value=3))
    return f"{where}: {value}\n"


# ---------------------------------------------------------------- the outcome every input must have


def assert_structured(err: PipelineConfigError, path: Path, text: str | None = None) -> None:
    """A report a person can act on: leads with the loaded file, every issue has a place and a message."""
    assert err.issues, "a PipelineConfigError without issues"
    assert err.issues[0].file == str(path), f"the report does not lead with {path}: {err}"
    # YAML also breaks lines at \r, \x85, \u2028 and \u2029; splitlines counts at least those.
    lines = len(text.splitlines()) + 2 if text is not None else None
    for issue in err.issues:
        assert isinstance(issue.file, str) and issue.file, issue
        assert issue.message.strip(), issue
        assert isinstance(issue.field, str), issue
        if issue.line is not None:
            assert issue.line >= 1, issue
            assert issue.column is None or issue.column >= 1, issue
            if lines is not None and issue.file == str(path):
                assert issue.line <= lines, f"line {issue.line} is past the end of the file: {issue}"
        assert str(issue).startswith(issue.file), issue
    report = str(err)
    assert report.startswith(str(path)), report
    assert "Traceback" not in report
