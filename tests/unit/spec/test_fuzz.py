"""Fuzzing: no pipeline file, however broken, may crash the loader, the DAG factory or ``validate``.

Why this exists (issue #8): pipeline YAML is written by many people and parsed by Airflow on
every DAG-processor loop and by ``airflow-mlops validate`` in CI. An input that raises anything
but PipelineConfigError shows up as a Python traceback instead of ``file:line:col: field:
message``, and in the folder loader it also stops every pipeline after it from loading. So
the property is: any input gives a spec that builds a DAG, or a structured error.

The generated inputs come from tests/fuzz_strategies.py. ``KNOWN_CRASHERS`` and
``BUILD_CRASHERS`` are the minimised inputs the fuzzers found; each is its own test case so a
fix can be checked one by one. Runtime is bounded by max_examples (about 30 s in all on two
cores, without shrinking); with ``CI`` set, the examples are derandomized, the same on every run.
"""

from __future__ import annotations

import itertools
import shutil
import traceback
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from airflow_mlops.errors import PipelineConfigError
from airflow_mlops.factory.loader import load_pipeline, load_pipelines
from airflow_mlops.factory.templates import build_dag
from airflow_mlops.spec.loader import load_pipeline_spec
from airflow_mlops.spec.models import PipelineSpec
from tests.fuzz_strategies import (
    EXAMPLE,
    EXAMPLE_SUITE,
    FUZZ_PROFILE,
    KEYS,
    RAW_TEXT,
    REPO,
    SCHEMA_KEYS,
    VALUES,
    assert_structured,
    dump,
    hostile_bytes,
    mutated_pipelines,
    near_keys,
    pathological,
    text_mutations,
)

_counter = itertools.count()

# Minimised inputs that crashed the loader with something other than PipelineConfigError
# (the product function that raised is named above each group).
KNOWN_CRASHERS: dict[str, str | bytes] = {
    # Deep nesting -> RecursionError: PyYAML's pure-Python composer recurses per level (about
    # 490 levels), and loader.py _duplicate_keys / _secrets walk the tree recursively (about 950).
    "deep_flow_nesting": "pipeline: " + "[" * 5000 + "]" * 5000 + "\n",
    "deep_flow_mapping_nesting": "pipeline: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n",
    "deep_block_nesting": "pipeline:\n" + "- " * 5000 + "x\n",
    # loader.py _duplicate_keys: a self-referencing alias is walked forever -> RecursionError.
    "recursive_alias_list": "a: &a [*a]\n",
    "recursive_alias_mapping": "a: &a {b: *a}\n",
    # PyYAML's int constructor (decimal) or loader.py _describe_error repr() (hex, base 60):
    # Python refuses int<->str conversions over 4300 digits -> ValueError.
    "huge_decimal_int": "pipeline: " + "9" * 4301 + "\n",
    "huge_hex_int": "pipeline: 0x" + "f" * 3600 + "\n",
    "huge_sexagesimal_int": "pipeline: 1" + ":59" * 2500 + "\n",
    # PyYAML's SafeConstructor on an explicitly tagged scalar it cannot convert: ValueError,
    # KeyError, AttributeError escape loader.py read_yaml, which only catches yaml.YAMLError.
    "int_tag_on_text": "pipeline: !!int abc\n",
    "float_tag_on_text": "pipeline: !!float abc\n",
    "bool_tag_on_text": "pipeline: !!bool maybe\n",
    "timestamp_tag_on_text": "pipeline: !!timestamp abc\n",
    # Characters YAML forbids (PyYAML's Reader raised ReaderError outside read_yaml's try).
    "nul_character": "pipeline: a\x00b\n",
    "nul_byte": b"pipeline: x\x00\n",
    "c1_control_character": "description: \x91\n",
    "utf16le_without_bom": "pipeline: x\n".encode("utf-16-le"),  # valid UTF-8 full of NULs
    # loader.py _template_class: `name not in TEMPLATES` with an unhashable name -> TypeError.
    "template_is_a_list": "template: [retraining]\n",
    "template_is_a_mapping": "template: {a: 1}\n",
}

_EXAMPLE_TEXT = EXAMPLE.read_text(encoding="utf-8")

# Minimised files that validate but make the DAG factory crash (Airflow shows a traceback).
BUILD_CRASHERS: dict[str, str] = {
    # factory/common.py default_args: timedelta(seconds=inf) -> OverflowError.
    "infinite_retry_delay": _EXAMPLE_TEXT + "retries: {delay_seconds: .inf}\n",
    "huge_retry_delay": _EXAMPLE_TEXT + "retries: {max_delay_seconds: 1.0e+20}\n",
    "infinite_timeout": _EXAMPLE_TEXT + "timeouts: {default: .inf}\n",
    # operators/approval.py: timedelta(hours=1e15) -> OverflowError.
    "huge_approval_timeout": _EXAMPLE_TEXT + "approval: {mode: manual, timeout_hours: 1.0e+15}\n",
    # factory/common.py spec_lineage: model_dump_json() -> "Maximum serialization depth exceeded".
    "deep_executor_config": _EXAMPLE_TEXT.replace(
        "    params: {C: 1.0, max_iter: 5000}",
        "    params: {C: 1.0, max_iter: 5000}\n    resources: {executor_config: "
        + "{a: " * 300
        + "1"
        + "}" * 300
        + "}",
    ),
}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder with the example's suite, so generated retraining pipelines can name it."""
    (tmp_path / "suites").mkdir()
    shutil.copy(EXAMPLE_SUITE, tmp_path / "suites" / "breast_cancer.yaml")
    return tmp_path


def _write(folder: Path, content: str | bytes, name: str | None = None) -> Path:
    path = folder / (name or f"p{next(_counter)}.yaml")
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _crash(err: Exception, content: str | bytes) -> AssertionError:
    """A short report of an unexpected exception: where in the product, and the start of the input."""
    frames = traceback.extract_tb(err.__traceback__)
    ours = [f for f in frames if "/airflow_mlops/" in f.filename]
    at = ours[-1] if ours else frames[-1]
    where = f"{at.filename.split('/site-packages/')[-1].replace(str(REPO) + '/', '')}:{at.lineno} in {at.name}"
    deepest = f"{frames[-1].filename.split('/site-packages/')[-1]}:{frames[-1].lineno}"
    return AssertionError(
        f"{type(err).__name__}: {str(err)[:200]}\n  raised at {where} (deepest frame {deepest}),"
        f" not a PipelineConfigError\n  input ({len(content)} chars/bytes): {content[:300]!r}"
    )


def _outcome(path: Path) -> PipelineSpec | None:
    """The spec, or None after checking the error is structured; anything else fails the test."""
    raw = path.read_bytes()
    try:
        text: str | None = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    try:
        return load_pipeline_spec(path)
    except PipelineConfigError as err:
        assert_structured(err, path, text)
        return None
    except Exception as err:
        raise _crash(err, text if text is not None else raw) from None


def _outcome_with_dag(path: Path) -> PipelineSpec | None:
    """Like _outcome, and a spec must also build its DAG, as Airflow's parse of the file would."""
    spec = _outcome(path)
    if spec is not None:
        try:
            dag = build_dag(spec, source=path.name)
        except Exception as err:
            raise _crash(err, path.read_text(encoding="utf-8")) from None
        assert dag.dag_id == spec.pipeline
        assert dag.tasks
    return spec


# ---------------------------------------------------------------- minimised crashers


@pytest.mark.parametrize("content", list(KNOWN_CRASHERS.values()), ids=list(KNOWN_CRASHERS))
def test_known_hostile_input_gives_a_structured_error(workdir: Path, content: str | bytes) -> None:
    path = _write(workdir, content)
    assert _outcome(path) is None


@pytest.mark.parametrize("content", list(BUILD_CRASHERS.values()), ids=list(BUILD_CRASHERS))
def test_a_file_that_validates_builds_its_dag(workdir: Path, content: str) -> None:
    """Validation is the contract: what it accepts, the factory must build (else: reject it, with a line)."""
    _outcome_with_dag(_write(workdir, content))


# ---------------------------------------------------------------- the pure API, many examples

TOP_LEVEL = st.one_of(
    VALUES,
    st.dictionaries(st.one_of(st.sampled_from(SCHEMA_KEYS), near_keys(), KEYS), VALUES, min_size=1, max_size=10),
)


@given(doc=TOP_LEVEL, flow=st.sampled_from([None, False, True]))
@settings(FUZZ_PROFILE, max_examples=300)
def test_random_structures_give_a_spec_or_a_structured_error(workdir: Path, doc: Any, flow: bool | None) -> None:
    _outcome(_write(workdir, dump(doc, flow=flow)))


@given(mutated=mutated_pipelines())
@settings(FUZZ_PROFILE, max_examples=200)
def test_a_valid_pipeline_with_one_bad_field_gives_a_dag_or_a_structured_error(
    workdir: Path, mutated: tuple[str, str]
) -> None:
    text, change = mutated
    note(change)
    _outcome_with_dag(_write(workdir, text))


@given(text=st.one_of(RAW_TEXT, text_mutations()))
@settings(FUZZ_PROFILE, max_examples=400)
def test_raw_text_gives_a_spec_or_a_structured_error(workdir: Path, text: str) -> None:
    _outcome(_write(workdir, text))


@given(raw=hostile_bytes())
@settings(FUZZ_PROFILE, max_examples=200)
def test_raw_bytes_give_a_spec_or_a_structured_error(workdir: Path, raw: bytes) -> None:
    _outcome(_write(workdir, raw))


@given(text=pathological())
@settings(FUZZ_PROFILE, max_examples=120)
def test_pathological_documents_give_a_structured_error(workdir: Path, text: str) -> None:
    _outcome(_write(workdir, text))


# ---------------------------------------------------------------- the DAG loaders

BROKEN_FILES = st.one_of(
    mutated_pipelines().map(lambda pair: pair[0]),
    RAW_TEXT,
    text_mutations(),
    hostile_bytes(),
    pathological(),
)


VALID_ID = "fuzz_isolation_valid_pipeline"


def _isolated(folder: Path, broken: str | bytes) -> None:
    """``broken`` beside the valid example: the valid DAG loads, the broken file is a structured error.

    ``load_pipelines`` (one loader for the folder) raises after its loop, which Airflow shows as
    that loader's import error, but it must have built every valid pipeline first, so the file
    is named ``a_`` to be read before the valid one. Per-file loaders (non-strict, the default)
    build the valid pipeline whatever its neighbour contains.
    """
    folder.mkdir()
    # Its own dag id: a mutated copy of the example may be valid, and a second file with the
    # same id is rightly refused.
    text = EXAMPLE.read_text(encoding="utf-8").replace("pipeline: breast_cancer_retrain", f"pipeline: {VALID_ID}")
    (folder / "b_valid.yaml").write_text(text, encoding="utf-8")
    (folder / "suites").mkdir()
    shutil.copy(EXAMPLE_SUITE, folder / "suites" / "breast_cancer.yaml")
    broken_path = _write(folder, broken, "a_broken.yaml")

    built: dict[str, Any] = {}
    try:
        load_pipelines(built, folder)
    except PipelineConfigError as err:
        assert all(issue.file != str(folder / "b_valid.yaml") for issue in err.issues), str(err)
        assert_structured(err, broken_path)
    except Exception as err:
        raise _crash(err, broken) from None
    assert VALID_ID in built

    alone: dict[str, Any] = {}
    assert load_pipeline(alone, folder / "b_valid.py") == VALID_ID
    assert VALID_ID in alone
    try:
        load_pipeline({}, folder / "a_broken.py")
    except PipelineConfigError as err:
        assert_structured(err, broken_path)
    except Exception as err:
        raise _crash(err, broken) from None


ISOLATION_CASES = ["deep_flow_nesting", "recursive_alias_list", "int_tag_on_text", "template_is_a_list"]


@pytest.mark.parametrize("case", ISOLATION_CASES)
def test_a_known_crasher_does_not_stop_the_valid_pipeline_from_loading(tmp_path: Path, case: str) -> None:
    _isolated(tmp_path / "dags", KNOWN_CRASHERS[case])


@given(broken=BROKEN_FILES)
@settings(FUZZ_PROFILE, max_examples=15)
def test_a_broken_file_never_stops_the_valid_one_from_loading(workdir: Path, broken: str | bytes) -> None:
    _isolated(workdir / f"dags{next(_counter)}", broken)
