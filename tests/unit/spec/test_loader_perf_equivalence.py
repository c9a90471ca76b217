"""The fast paths of the spec loader read every file exactly as the plain paths do.

Three things make loading fast: libyaml composes the node tree (``_FastLoader``, a
``yaml.CSafeLoader`` with the loader's own resolvers), files many pipelines share
(suites, defaults.yaml) are parsed once per process while their text stays the same, and a
file without anchors has its shape checked by a plain tree walk (``_tree_problem``). All
must be invisible: the same data, the same line and column for every node and every error,
and an edited shared file seen on the very next load.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_mlops.errors import PipelineConfigError
from airflow_mlops.spec import document, tree_checks, yaml_source
from airflow_mlops.spec.loader import load_pipeline_spec

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "dags" / "pipelines" / "breast_cancer.yaml"
SUITE = REPO / "dags" / "pipelines" / "suites" / "breast_cancer.yaml"
YAML_FILES = sorted({*REPO.glob("dags/**/*.yaml"), *REPO.glob("tests/fixtures/**/*.yaml")})
INVALID = sorted((REPO / "tests" / "fixtures" / "invalid").glob("*.yaml"))
# Broken YAML on purpose (their errors are checked in test_loader.py); every other file must read, so a
# file that stops reading fails below instead of dropping out. Anchored files have only the graph walk.
UNREADABLE = sorted((REPO / "tests" / "fixtures" / "invalid").glob("yaml_*.yaml"))
PLAIN_FILES = [p for p in YAML_FILES if p not in UNREADABLE and "&" not in p.read_text(encoding="utf-8")]

needs_libyaml = pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML was built without libyaml")

# Documents PyYAML refuses, each for a different reason; errors must read the same either way.
BROKEN_TEXTS = {
    "tab_indentation": "pipeline: a\nmodels:\n\t- name: x\n",
    "unclosed_flow_mapping": "pipeline: a\nsplit: {test_size: 0.2\nseed: 1\n",
    "unclosed_quote": 'pipeline: "a\n',
    "bad_indentation": "pipeline: a\n  data: x\n y: 2\n",
    "undefined_alias": "pipeline: *nowhere\n",
    "duplicate_anchor": "a: &x 1\nb: &x 2\n",
    "two_documents": "pipeline: a\n---\npipeline: b\n",
    "control_character": "pipeline: a\x07b\n",
    "nul_character": "pipeline: a\x00b\n",
}


def _python_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pure-Python loader, with nothing remembered from earlier loads."""
    monkeypatch.setattr(yaml_source, "_FastLoader", None)
    monkeypatch.setattr(yaml_source, "_SHARED", {})


def _tree(node: yaml.Node | None) -> Any:
    """A node tree as plain data: kind, tag, value and both marks (file, line, column) of every node."""
    if node is None:
        return None
    marks = tuple((m.name, m.line, m.column) for m in (node.start_mark, node.end_mark))
    if isinstance(node, yaml.MappingNode):
        return ("map", node.tag, marks, node.flow_style, [(_tree(k), _tree(v)) for k, v in node.value])
    if isinstance(node, yaml.SequenceNode):
        return ("seq", node.tag, marks, node.flow_style, [_tree(item) for item in node.value])
    # libyaml reports a plain scalar's style as '' where PyYAML says None; nothing reads it.
    return ("scalar", node.tag, marks, node.style or None, node.value)


def _outcome(path: Path) -> Any:
    try:
        return load_pipeline_spec(path).model_dump()
    except PipelineConfigError as err:
        return err.issues


@needs_libyaml
def test_the_fast_loader_is_libyaml() -> None:
    assert yaml_source._FastLoader is not None
    assert issubclass(yaml_source._FastLoader, yaml.CSafeLoader)
    assert yaml_source._FastLoader.yaml_implicit_resolvers is yaml_source.PipelineYamlLoader.yaml_implicit_resolvers


@needs_libyaml
@pytest.mark.parametrize("path", YAML_FILES, ids=[str(p.relative_to(REPO)) for p in YAML_FILES])
def test_both_loaders_build_the_same_tree_and_data(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = path.read_text(encoding="utf-8")
    try:
        fast: Any = yaml_source.parse_document(text, str(path))
    except yaml.YAMLError as err:
        fast = str(err)
    _python_only(monkeypatch)
    try:
        plain: Any = yaml_source.parse_document(text, str(path))
    except yaml.YAMLError as err:
        plain = str(err)
    if isinstance(plain, str):
        assert fast == plain
    else:
        assert (_tree(fast[0]), fast[1]) == (_tree(plain[0]), plain[1])


@needs_libyaml
@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_both_loaders_report_the_same_issues(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yaml_source, "_SHARED", {})
    fast = _outcome(path)
    _python_only(monkeypatch)
    assert fast == _outcome(path)


@needs_libyaml
@pytest.mark.parametrize("text", list(BROKEN_TEXTS.values()), ids=list(BROKEN_TEXTS))
def test_yaml_errors_read_the_same_from_both_loaders(
    text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    fast = _outcome(path)
    assert isinstance(fast, list) and fast[0].line is not None, fast
    _python_only(monkeypatch)
    assert fast == _outcome(path)


def test_yaml_1_2_booleans_on_both_loaders(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "on: drift_detected\ncountry: NO\nyes_no: [yes, no, y, n, off]\nflags: [true, False, TRUE]\n"
    expected = {
        "on": "drift_detected",
        "country": "NO",
        "yes_no": ["yes", "no", "y", "n", "off"],
        "flags": [True, False, True],
    }
    assert yaml_source.parse_document(text, "x.yaml")[1] == expected
    _python_only(monkeypatch)
    assert yaml_source.parse_document(text, "x.yaml")[1] == expected


def test_without_libyaml_the_pure_python_loader_reads_the_example(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = load_pipeline_spec(EXAMPLE)
    _python_only(monkeypatch)
    assert load_pipeline_spec(EXAMPLE) == expected


# ---------------------------------------------------------------- files shared by many pipelines


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    """The example pipeline and its suite, in a folder of their own."""
    (tmp_path / "suites").mkdir()
    shutil.copy(SUITE, tmp_path / "suites" / "breast_cancer.yaml")
    shutil.copy(EXAMPLE, tmp_path / "breast_cancer.yaml")
    return tmp_path / "breast_cancer.yaml"


def _columns(path: Path, **kwargs: Any) -> list[Any]:
    spec = load_pipeline_spec(path, **kwargs)
    return [e.kwargs.get("column") for e in spec.validation.expectations or []]


def test_an_edited_suite_is_read_again_even_with_the_same_size_and_time(pipeline: Path) -> None:
    suite = pipeline.parent / "suites" / "breast_cancer.yaml"
    before = _columns(pipeline)
    assert "target" in before
    stat = suite.stat()
    suite.write_text(suite.read_text().replace("column: target", "column: tarxet"))  # same length
    os.utime(suite, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert suite.stat().st_size == stat.st_size

    after = _columns(pipeline)

    assert "tarxet" in after and "target" not in after


def test_a_suite_broken_after_a_good_load_is_reported_every_time(pipeline: Path) -> None:
    suite = pipeline.parent / "suites" / "breast_cancer.yaml"
    good = suite.read_text()
    _columns(pipeline)
    suite.write_text("expectations:\n  - {one: 1, two: 2}\n")
    for _ in range(2):
        with pytest.raises(PipelineConfigError, match="exactly one key"):
            load_pipeline_spec(pipeline)
    suite.write_text(good)
    assert "target" in _columns(pipeline)


def test_every_spec_gets_its_own_list_of_expectations(pipeline: Path) -> None:
    first = load_pipeline_spec(pipeline)
    second = load_pipeline_spec(pipeline)
    assert first.validation.expectations == second.validation.expectations
    assert first.validation.expectations is not second.validation.expectations


def test_an_edited_defaults_file_is_read_again(pipeline: Path) -> None:
    defaults = pipeline.parent / "defaults.yaml"
    defaults.write_text("owner: team-a\n")
    assert load_pipeline_spec(pipeline, defaults_root=pipeline.parent).owner == "team-a"
    defaults.write_text("owner: team-b\n")
    assert load_pipeline_spec(pipeline, defaults_root=pipeline.parent).owner == "team-b"
    defaults.write_text("owner: [\n")
    with pytest.raises(PipelineConfigError) as caught:
        load_pipeline_spec(pipeline, defaults_root=pipeline.parent)
    assert caught.value.issues[0].file == str(defaults)


def test_an_error_inherited_from_a_shared_defaults_file_names_that_file(pipeline: Path) -> None:
    defaults = pipeline.parent / "defaults.yaml"
    defaults.write_text("# shared\nretries: {retries: 99}\n")
    text = pipeline.read_text()
    second = pipeline.with_name("second.yaml")
    second.write_text(text.replace("pipeline: breast_cancer_retrain", "pipeline: second"))
    for path in (pipeline, second):  # the second load reuses the parsed defaults
        with pytest.raises(PipelineConfigError) as caught:
            load_pipeline_spec(path, defaults_root=pipeline.parent)
        [issue] = [i for i in caught.value.issues if i.field == "retries.retries"]
        assert (issue.file, issue.line) == (str(defaults), 2)


def _nested(depth: int, flow: bool) -> str:
    """A document ``depth`` nodes deep: the top mapping, depth - 2 nested lists, and a scalar."""
    if flow:
        return "pipeline: " + "[" * (depth - 2) + "x" + "]" * (depth - 2) + "\n"
    return "pipeline:\n" + "".join("  " * level + "- \n" for level in range(depth - 3)) + "  " * (depth - 3) + "- x\n"


@pytest.mark.parametrize("flow", [True, False], ids=["flow", "block"])
@pytest.mark.parametrize(
    "depth", [tree_checks.MAX_DEPTH - 1, tree_checks.MAX_DEPTH, tree_checks.MAX_DEPTH + 1, tree_checks.MAX_DEPTH + 2]
)
def test_the_tree_walk_draws_the_depth_line_where_the_graph_walk_does(depth: int, flow: bool) -> None:
    root, _ = yaml_source.parse_document(_nested(depth, flow), "<test>")

    tree, graph = tree_checks.tree_problem(root), tree_checks.shape_problem(root)

    assert (tree is None) == (graph is None) == (depth <= tree_checks.MAX_DEPTH)
    if tree is not None and graph is not None:
        assert tree[1] == graph[1] == f"the document is nested more than {tree_checks.MAX_DEPTH} levels deep"
        assert tree[0].start_mark.line == graph[0].start_mark.line


@pytest.mark.parametrize("values", [tree_checks.MAX_VALUES - 1, tree_checks.MAX_VALUES + 1])
def test_the_tree_walk_counts_values_as_the_graph_walk_does(values: int) -> None:
    # One mapping holding (values - 1) / 2 pairs: the mapping, its keys and its values.
    pairs = (values - 1) // 2
    root, _ = yaml_source.parse_document("{" + ", ".join(f"k{i}: {i}" for i in range(pairs)) + "}", "<test>")

    tree, graph = tree_checks.tree_problem(root), tree_checks.shape_problem(root)

    assert (tree is None) == (graph is None) == (2 * pairs + 1 <= tree_checks.MAX_VALUES)


@pytest.mark.parametrize("path", PLAIN_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_file_without_anchors_is_checked_the_same_by_both_walks(path: Path) -> None:
    text = path.read_text(encoding="utf-8", errors="replace")
    root, _ = yaml_source.parse_document(text, str(path))
    assert tree_checks.tree_problem(root) == tree_checks.shape_problem(root)


# Documents that leave the direct path for the loader's own constructor, node by node.
CONSTRUCT_TEXTS = {
    "numbers_null_and_booleans": "a: 1\nb: 1.5\nc: null\nd: true\ne: ~\nf: 0x1f\ng: 1_000\nh: .inf\n",
    "yaml_1_1_words_stay_strings": "a: yes\nb: on\nc: off\n",
    "dates": "a: 2024-01-01\nb: 2024-01-01T03:00:00Z\n",
    "non_string_keys": "1: a\ntrue: b\nnull: c\n1.5: d\n",
    "merge_key_without_anchor": "a:\n  <<: {x: 1, y: 2}\n  y: 3\n",
    "explicit_tags": "a: !!str 1\nb: !!int '2'\nc: !!float '3'\nd: !!seq [1]\ne: !!map {k: v}\nf: !!binary aGk=\n",
    "duplicate_keys_keep_the_last": "a: 1\na: 2\nb: {c: 1, c: 2}\n",
    "quoted_and_block_strings": "a: '1'\nb: \"x\\ty\"\nc: |\n  line\nd: >\n  folded\n",
    "empty_values": "a:\nb: []\nc: {}\nd: ''\n",
    "set_and_omap": "a: !!set {x, y}\nb: !!omap [{k: 1}, {j: 2}]\n",
}


def _construct_both(text: str) -> tuple[Any, Any]:
    loader_cls = yaml_source._FastLoader or yaml_source.PipelineYamlLoader
    tree_loader, plain_loader = loader_cls(text), loader_cls(text)
    try:
        tree_root, plain_root = tree_loader.get_single_node(), plain_loader.get_single_node()
        if tree_root is None or plain_root is None:
            return None, None if plain_root is None else plain_loader.construct_document(plain_root)
        direct = yaml_source._construct_tree(tree_loader, tree_root)
        plain = plain_loader.construct_document(plain_root)
    finally:
        tree_loader.dispose()
        plain_loader.dispose()
    return direct, plain


@pytest.mark.parametrize("text", CONSTRUCT_TEXTS.values(), ids=CONSTRUCT_TEXTS.keys())
def test_the_direct_construction_builds_what_pyyaml_builds(text: str) -> None:
    direct, plain = _construct_both(text)

    assert direct == plain
    assert repr(direct) == repr(plain)  # same types too: 1 stays int, '1' stays str, dates stay dates


@pytest.mark.parametrize("path", PLAIN_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_file_without_anchors_is_built_the_same_both_ways(path: Path) -> None:
    text = path.read_text(encoding="utf-8", errors="replace")
    direct, plain = _construct_both(text)
    assert repr(direct) == repr(plain)


@pytest.mark.parametrize("text", ["[1, 2]: a\n", "a: {[1]: b}\n", "a: !!int abc\n", "a: [!!float x]\n"])
def test_a_value_pyyaml_cannot_build_fails_the_same_both_ways(text: str) -> None:
    with pytest.raises(yaml.YAMLError) as direct:
        _construct_both(text)
    loader_cls = yaml_source._FastLoader or yaml_source.PipelineYamlLoader
    plain_loader = loader_cls(text)
    try:
        with pytest.raises(yaml.YAMLError) as plain:
            plain_loader.construct_document(plain_loader.get_single_node())
    finally:
        plain_loader.dispose()
    assert str(direct.value) == str(plain.value)


def test_a_value_pyyaml_cannot_build_is_still_reported_at_its_line() -> None:
    with pytest.raises(PipelineConfigError) as err:
        document.parse_yaml(Path("p.yaml"), "pipeline: x\nretries:\n  count: !!int abc\n")

    [issue] = err.value.issues
    assert (issue.line, issue.column) == (3, 10) and "cannot read this value as int" in issue.message


# -- the resolver's memory and the one-pass secrets check --------------------------------------


def _tree_with_pyyamls_resolver(text: str) -> Any:
    class Plain(yaml_source.PipelineYamlLoader):
        resolve = yaml.resolver.BaseResolver.resolve

    return _tree(yaml.compose(text, Loader=Plain))


RESOLVE_TEXTS = {**CONSTRUCT_TEXTS, "same_value_plain_and_quoted": "a: 1\nb: '1'\nc: \"true\"\nd: true\ne: [1, '1']\n"}


@pytest.mark.parametrize("text", [*RESOLVE_TEXTS.values(), EXAMPLE.read_text()], ids=[*RESOLVE_TEXTS, "example"])
def test_a_remembered_tag_is_the_one_pyyaml_resolves(text: str) -> None:
    yaml_source._known_tag.cache_clear()
    loader = yaml_source._FastLoader or yaml_source.PipelineYamlLoader

    first = _tree(yaml.compose(text, Loader=loader))  # fills the memory
    again = _tree(yaml.compose(text, Loader=loader))  # answered from it

    assert yaml_source._known_tag.cache_info().hits, "the memory was not used"
    assert first == again == _tree_with_pyyamls_resolver(text)


# Secrets the one-pass text check must still let through to the walk: spelled with an escape, with
# letters only case-folding makes ASCII (U+017F long s, U+212A Kelvin sign), or folded over two lines.
HIDDEN_SECRETS = {
    "escaped_key": '"pass\\x77ord": hunter2-hunter2\n',
    "long_s_key": "pa\u017f\u017fword: hunter2-hunter2\n",
    "kelvin_sign_key": "api_to\u212aen: hunter2-hunter2\n",
    "upper_case_key": "DB_PASSWORD: hunter2-hunter2\n",
    "escaped_url": 'uri: "https\\x3a//bob:hunter2@git.example.com/x"\n',
    "folded_private_key": 'k: "-----BEGIN RSA\n  PRIVATE KEY-----abc"\n',
}


@pytest.mark.parametrize("text", HIDDEN_SECRETS.values(), ids=HIDDEN_SECRETS.keys())
def test_the_one_pass_check_never_waves_a_secret_through(text: str) -> None:
    _, data = yaml_source.parse_document(text, "p.yaml")
    assert tree_checks.secrets(data), "the walk must find it, or this case proves nothing"

    assert tree_checks.may_hold_secrets(text)
    with pytest.raises(PipelineConfigError, match=r"looks like|must not be written in YAML"):
        document.parse_yaml(Path("p.yaml"), text)


@pytest.mark.parametrize("path", [p for p in YAML_FILES if p not in UNREADABLE], ids=lambda p: str(p.relative_to(REPO)))
def test_every_file_the_one_pass_check_lets_by_has_no_secret(path: Path) -> None:
    text = path.read_text(encoding="utf-8", errors="replace")
    _, data = yaml_source.parse_document(text, str(path))

    assert tree_checks.may_hold_secrets(text) or not tree_checks.secrets(data)


def test_the_example_pipeline_takes_the_one_pass_check() -> None:
    assert not tree_checks.may_hold_secrets(EXAMPLE.read_text(encoding="utf-8"))
