"""Load pipeline YAML into typed specs, with errors that say file:line:column and field path.

YAML is read once into a node tree (which keeps line numbers) and constructed from that tree
with the safe constructor only: no Python tags, no ``!!python/object``. Pydantic then checks
types; every error's ``loc`` is walked back through the node tree to the line the user wrote.

Airflow parses every pipeline on every DAG-processor loop, so the node tree is composed by
libyaml when PyYAML has it (several times faster than the pure-Python composer, with the same
resolvers, constructors and marks), and the files many pipelines share (suites, defaults.yaml)
are parsed once per process and reused while their text stays the same.
"""

from __future__ import annotations

import io
import re
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, Tag, ValidationError
from pydantic.fields import FieldInfo

from airflow_mlops.spec.errors import ConfigIssue, PipelineConfigError
from airflow_mlops.spec.models import (
    DEFAULT_ALLOWED_IMPORT_PREFIXES,
    IDENTIFIER,
    TEMPLATES,
    Expectation,
    PipelineBase,
    PipelineSpec,
    RetrainingPipelineSpec,
    _Strict,
)

Loc = tuple[str | int, ...]

# Keys whose values are credentials. They belong in Airflow connections or a secrets
# backend, never in a YAML file that lands in git.
_SECRET_KEY = re.compile(r"(^|[_-])(password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)$", re.I)


class PipelineYamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans: only true/false.

    YAML 1.1 also reads on/off/yes/no/y/n as booleans, so ``{on: drift_detected}`` would
    become ``{True: 'drift_detected'}`` and a country code ``NO`` would become False.
    """


def _construct_with_position(loader: Any, node: yaml.Node, deep: bool = False) -> Any:
    """PyYAML's construct_object, with a value it cannot build reported at its node.

    An explicit tag on the wrong scalar (``!!int abc``, ``!!timestamp x``) or an integer beyond
    Python's digit limit makes PyYAML's constructors raise ValueError, KeyError and the like,
    with no position. Turned into a ConstructorError, it becomes a file:line:column error.
    """
    try:
        return yaml.constructor.SafeConstructor.construct_object(loader, node, deep)
    except yaml.YAMLError:
        raise
    except (ValueError, KeyError, AttributeError, IndexError, TypeError, OverflowError) as err:
        detail = " ".join(str(err).split())[:120]
        raise yaml.constructor.ConstructorError(
            None, None, f"cannot read this value as {node.tag.rsplit(':', 1)[-1]}: {detail}", node.start_mark
        ) from None


PipelineYamlLoader.construct_object = _construct_with_position  # type: ignore[method-assign,assignment]
PipelineYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
PipelineYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)

_FastLoader: type[yaml.CSafeLoader] | None = None
if yaml.__with_libyaml__:

    class _CPipelineYamlLoader(yaml.CSafeLoader):
        """The same loader with libyaml doing the scanning, parsing and composing.

        Resolving tags (the YAML 1.2 booleans above) and constructing values stay in Python,
        shared with PipelineYamlLoader, so both read every document the same way.
        """

    _CPipelineYamlLoader.yaml_implicit_resolvers = PipelineYamlLoader.yaml_implicit_resolvers
    _CPipelineYamlLoader.construct_object = _construct_with_position  # type: ignore[method-assign,assignment]
    _FastLoader = _CPipelineYamlLoader


def _compose_and_construct(loader: Any, tree: bool) -> tuple[yaml.Node | None, Any]:
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        return root, _construct_tree(loader, root) if tree else loader.construct_document(root)
    finally:
        loader.dispose()


_STR, _SEQ, _MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"


def _construct_tree(loader: Any, node: yaml.Node) -> Any:
    """``construct_document`` for a document without aliases, building strings, lists and dicts directly.

    They are nearly every node of a pipeline file, and PyYAML builds each through a generic
    dispatch that costs more than composing the document did. Anything else (numbers, null,
    booleans, dates, non-string keys, merge keys, explicit tags) goes to the loader's own
    constructor, so values and errors are those of ``construct_document``.
    """
    if isinstance(node, yaml.ScalarNode):
        return node.value if node.tag == _STR else loader.construct_object(node, deep=True)
    if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
        return [_construct_tree(loader, item) for item in node.value]
    if (
        isinstance(node, yaml.MappingNode)
        and node.tag == _MAP
        and all(isinstance(key, yaml.ScalarNode) and key.tag == _STR for key, _ in node.value)
    ):
        return {key.value: _construct_tree(loader, value) for key, value in node.value}
    return loader.construct_object(node, deep=True)


def _parse(text: str, file: str) -> tuple[yaml.Node | None, Any]:
    """The node tree and the data of one document; raises yaml.YAMLError for invalid YAML.

    An error from libyaml is reported by re-reading the text with the pure-Python loader, so
    messages and positions are PyYAML's whichever composer found the problem first.
    """
    # No '&' means no anchor, hence no alias: the nodes form a plain tree (most pipeline files).
    tree = "&" not in text
    if _FastLoader is not None:
        stream = io.StringIO(text)
        stream.name = file  # libyaml names every mark after its stream; defaults merging needs the file
        try:
            return _compose_and_construct(_FastLoader(stream), tree)
        except yaml.YAMLError:
            pass
    loader = PipelineYamlLoader(text)
    loader.name = file  # every mark (line/column) then knows its file, which defaults merging needs
    return _compose_and_construct(loader, tree)


_T = TypeVar("_T")
# (what, file) -> (the file's text, what was built from it). Keyed on the content itself, so
# an edit is seen at once, however quickly it follows the last read.
_SHARED: dict[tuple[str, str], tuple[str, Any]] = {}


def _shared(what: str, path: Path, build: Callable[[Path, str], _T]) -> _T:
    """``build(path, text)`` for a file that many pipelines name, reused while its text is unchanged.

    Suites and defaults.yaml files are shared by whole folders of pipelines, and one DagBag
    (or a folder loader) reads them once per pipeline; only successes are kept, so a broken
    file is reported every time. ``build`` must return something callers never modify.
    """
    file = str(path)
    text = _read_text(path)
    hit = _SHARED.get((what, file))
    if hit is not None and hit[0] == text:
        return typing.cast("_T", hit[1])
    value = build(path, text)
    _SHARED[(what, file)] = (text, value)
    return value


class SuiteFileSpec(_Strict):
    """A Great Expectations suite written in YAML."""

    name: str | None = None
    expectations: list[Expectation]


@dataclass(frozen=True)
class LoadedYaml:
    data: Any
    root: yaml.Node | None
    file: str


def _issue_at(doc: LoadedYaml, loc: Loc, message: str, hint: str = "") -> ConfigIssue:
    node = _node_at(doc.root, loc)
    line = node.start_mark.line + 1 if node is not None else None
    column = node.start_mark.column + 1 if node is not None else None
    # After defaults are merged in, a node may come from a defaults.yaml: name that file.
    file = node.start_mark.name if node is not None and not node.start_mark.name.startswith("<") else doc.file
    return ConfigIssue(file, line, column, _format_loc(loc), message, hint)


def _format_loc(loc: Loc) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def _node_at(root: yaml.Node | None, loc: Loc) -> yaml.Node | None:
    """The deepest YAML node along ``loc``; loc parts that are not keys (union tags) are skipped."""
    node = root
    for position, part in enumerate(loc):
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key_node, value_node in node.value:
                if key_node.value == part:
                    is_last = position == len(loc) - 1
                    node = key_node if is_last else value_node
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
    return node


#: No pipeline file needs more: deeper documents are refused before anything walks them.
MAX_DEPTH = 64
#: Values a document may expand to through aliases (the "billion laughs" defence).
MAX_VALUES = 100_000


def _shape_problem(root: yaml.Node | None) -> tuple[yaml.Node, str] | None:
    """A node where the document is too deep, refers to itself, or expands too far through aliases.

    Aliases make the node tree a graph: nodes are shared (an anchor used many times) and may
    form a cycle (``a: &a [*a]``). Everything that walks the tree later (duplicate keys,
    secrets, pydantic) would then recurse forever or take exponential time, so the graph is
    checked first, without recursion, visiting each distinct node once.
    """
    if root is None:
        return None
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            on_path.discard(key)
            sizes[key] = min(MAX_VALUES + 1, 1 + sum(sizes[id(c)] for c in children))
            if sizes[key] > MAX_VALUES:
                return node, f"the document expands to more than {MAX_VALUES:,} values through aliases"
            continue
        if key in sizes:
            continue
        if key in on_path:
            return node, "this value refers to itself through an alias"
        if depth > MAX_DEPTH:
            return node, f"the document is nested more than {MAX_DEPTH} levels deep"
        on_path.add(key)
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in children if id(child) not in sizes)
    return None


def _tree_problem(root: yaml.Node | None) -> tuple[yaml.Node, str] | None:
    """``_shape_problem`` for a document without aliases: no node is shared, none is its own ancestor."""
    if root is None:
        return None
    count = 1
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        children = _children(node)
        if not children:
            continue
        if depth >= MAX_DEPTH:
            return children[0], f"the document is nested more than {MAX_DEPTH} levels deep"
        count += len(children)
        if count > MAX_VALUES:
            return node, f"the document has more than {MAX_VALUES:,} values"
        # Only collections go on the stack: scalars, most of the nodes, have nothing under them.
        stack.extend((child, depth + 1) for child in children if isinstance(child, yaml.CollectionNode))
    return None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _duplicate_keys(node: yaml.Node | None, loc: Loc = ()) -> list[tuple[Loc, yaml.Node]]:
    """PyYAML keeps the last of two equal keys silently; a silent override is a bug in waiting."""
    found: list[tuple[Loc, yaml.Node]] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                found.append(((*loc, key), key_node))
            seen.add(key)
            if isinstance(value_node, yaml.CollectionNode):  # a scalar has no keys of its own
                found.extend(_duplicate_keys(value_node, (*loc, key)))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            if isinstance(item, yaml.CollectionNode):
                found.extend(_duplicate_keys(item, (*loc, index)))
    return found


# Values that are credentials whatever key they sit under. Patterns are the well-known,
# unambiguous shapes; a generic "long random string" rule would flag hashes and commit ids.
_SECRET_VALUES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.I), "a URL with a password in it"),
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), "an AWS access key id"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"), "a GitHub token"),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), "a Slack token"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
)


# All of the above in one pattern: one search per string value instead of five, since almost
# every value of a pipeline file matches none of them.
_ANY_SECRET_VALUE = re.compile(
    "|".join(f"(?{'i' if pattern.flags & re.IGNORECASE else ''}:{pattern.pattern})" for pattern, _ in _SECRET_VALUES)
)


def _may_hold_secret(value: Any) -> bool:
    if isinstance(value, str):
        return _ANY_SECRET_VALUE.search(value) is not None
    return isinstance(value, (dict, list))


def _secrets(data: Any, loc: Loc = ()) -> list[tuple[Loc, str]]:
    """Keys named like credentials, and values shaped like them, anywhere in the document."""
    found: list[tuple[Loc, str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str) and _SECRET_KEY.search(key) and value not in (None, ""):
                found.append(((*loc, key), "looks like a secret and must not be written in YAML"))
            elif _may_hold_secret(value):
                found.extend(_secrets(value, (*loc, key)))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            if _may_hold_secret(item):
                found.extend(_secrets(item, (*loc, index)))
    elif isinstance(data, str) and _ANY_SECRET_VALUE.search(data):
        what = next(what for pattern, what in _SECRET_VALUES if pattern.search(data))
        found.append((loc, f"value looks like {what} and must not be written in YAML"))
    return found


def _read_text(path: Path) -> str:
    file = str(path)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise PipelineConfigError([ConfigIssue(file, None, None, "", f"cannot read file: {err.strerror}")]) from None
    except UnicodeDecodeError:
        raise PipelineConfigError([ConfigIssue(file, None, None, "", "file is not UTF-8 text")]) from None


def read_yaml(path: Path) -> LoadedYaml:
    """Parse one YAML file safely, raising PipelineConfigError for syntax, duplicates and secrets."""
    return _parse_yaml(path, _read_text(path))


def _parse_yaml(path: Path, text: str) -> LoadedYaml:
    file = str(path)
    try:
        root, data = _parse(text, file)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        problem = err.problem or err.context or "invalid YAML"
        context = err.context_mark
        if err.problem and err.context and context and err.problem_mark and context.line != err.problem_mark.line:
            # e.g. an unclosed '{' is only noticed lines later; say where it was opened.
            problem += f" ({err.context} that starts at line {context.line + 1})"
        raise PipelineConfigError(
            [ConfigIssue(file, line, column, "", f"YAML syntax error: {problem}", "check indentation and quoting")]
        ) from None
    except yaml.reader.ReaderError as err:
        # Control characters are refused before any token is read; say where, on one line.
        line = text.count("\n", 0, err.position) + 1
        column = err.position - text.rfind("\n", 0, err.position)
        character = f" #x{err.character:04x}" if isinstance(err.character, int) else ""
        raise PipelineConfigError(
            [ConfigIssue(file, line, column, "", f"YAML error: unacceptable character{character}: {err.reason}",
                         "delete the control character; an editor that shows invisible characters helps")]
        ) from None  # fmt: skip
    except yaml.YAMLError as err:
        raise PipelineConfigError(
            [ConfigIssue(file, None, None, "", f"YAML error: {err}", "check indentation and quoting")]
        ) from None
    except RecursionError:
        too_deep = f"the document is nested too deeply (more than {MAX_DEPTH} levels are refused)"
        raise PipelineConfigError(
            [ConfigIssue(file, None, None, "", too_deep, "a pipeline needs only a few levels of nesting")]
        ) from None
    # No '&' means no anchor, hence no alias: the nodes form a plain tree and one cheap walk
    # checks it. Most pipeline files are like that.
    shape = _shape_problem(root) if "&" in text else _tree_problem(root)
    if shape is not None:
        where, why = shape
        raise PipelineConfigError(
            [ConfigIssue(file, where.start_mark.line + 1, where.start_mark.column + 1, "", why,
                         "write the values out, or use fewer anchors and aliases")]
        )  # fmt: skip
    doc = LoadedYaml(data=data, root=root, file=file)
    issues = [
        ConfigIssue(
            file,
            n.start_mark.line + 1,
            n.start_mark.column + 1,
            _format_loc(loc),
            "duplicate key",
            "each key may appear once per mapping; the earlier value would be silently dropped",
        )
        for loc, n in _duplicate_keys(root)
    ]
    issues += [
        _issue_at(
            doc,
            loc,
            message,
            "store credentials in an Airflow connection or secrets backend and reference its conn_id",
        )
        for loc, message in _secrets(data)
    ]
    if issues:
        raise PipelineConfigError(issues)
    return doc


DEFAULTS_FILE = "defaults.yaml"


def defaults_chain(path: Path, root: Path | None) -> list[Path]:
    """The defaults.yaml files that apply to ``path``, outermost first (the nearest wins).

    They are looked up in every folder from ``root`` down to the pipeline's own folder; with
    no root, or a pipeline outside it, only the pipeline's own folder counts.
    """
    return _defaults_between(*pipeline_folders(path, root))


def _defaults_between(folder: Path, top: Path) -> list[Path]:
    folders = [folder, *folder.parents[: len(folder.parts) - len(top.parts)]]
    return [f / DEFAULTS_FILE for f in reversed(folders) if (f / DEFAULTS_FILE).is_file()]


def pipeline_folders(path: Path, root: Path | None) -> tuple[Path, Path]:
    """The pipeline file's own folder, and the folder its defaults and suites may come from; both resolved.

    The second is ``root`` (the dags folder) when the pipeline lies inside it, else the
    pipeline's own folder. Resolving walks every component of a path on disk, so a load does
    it once here rather than wherever a folder is needed.
    """
    folder = path.resolve().parent
    if root is not None:
        top = root.resolve()
        if folder.is_relative_to(top):
            return folder, top
    return folder, folder


def _merge_nodes(base: yaml.Node, override: yaml.Node) -> yaml.Node:
    """Deep-merge mappings node by node; anything else is replaced by the override.

    Merging nodes rather than plain dicts keeps each value's file and line, so an error in a
    value inherited from a defaults.yaml points at that file.
    """
    if not (isinstance(base, yaml.MappingNode) and isinstance(override, yaml.MappingNode)):
        return override
    merged = list(base.value)
    position = {key.value: i for i, (key, _) in enumerate(merged)}
    for key, value in override.value:
        if key.value in position:
            index = position[key.value]
            merged[index] = (key, _merge_nodes(merged[index][1], value))
        else:
            position[key.value] = len(merged)
            merged.append((key, value))
    return yaml.MappingNode(override.tag, merged, override.start_mark, override.end_mark, override.flow_style)


def read_with_defaults(path: Path, chain: Sequence[Path]) -> LoadedYaml:
    """The pipeline file with the defaults.yaml files of ``chain`` (outermost first) merged underneath it."""
    doc = read_yaml(path)
    if not chain or not isinstance(doc.root, yaml.MappingNode):
        return doc
    merged: yaml.Node | None = None
    issues: list[ConfigIssue] = []
    for defaults_path in chain:
        # Shared by every pipeline below it. Its nodes are merged, never modified, and a node's
        # value is only ever rebuilt from the nodes, so one parse can serve them all.
        defaults = _shared("defaults", defaults_path, _parse_yaml)
        if defaults.root is None:
            continue
        if not isinstance(defaults.root, yaml.MappingNode):
            issues.append(
                ConfigIssue(
                    str(defaults_path),
                    1,
                    1,
                    "",
                    "a defaults file must be a mapping of settings",
                    "write 'key: value' lines, as in a pipeline file, e.g. 'owner: ml-team'",
                )
            )
            continue
        if isinstance(defaults.data, dict) and "pipeline" in defaults.data:
            issues.append(
                _issue_at(defaults, ("pipeline",), "a defaults file cannot set the dag id", "set it in each pipeline")
            )
        merged = defaults.root if merged is None else _merge_nodes(merged, defaults.root)
    if issues:
        raise PipelineConfigError(issues)
    if merged is None:
        return doc
    root = _merge_nodes(merged, doc.root)
    constructor = PipelineYamlLoader("")
    try:
        data = constructor.construct_document(root)
    finally:
        constructor.dispose()
    return LoadedYaml(data=data, root=root, file=doc.file)


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
    list: "a list: one '- item' per line below the key, or [a, b] on one line",
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
    if kind not in ("value_error", "assertion_error") and "input" in error:
        shown = _short_repr(error["input"])
        message += f" (got {shown[:60]}{'...' if len(shown) > 60 else ''})"
    return message, _hint_for(error, model, loc)


def _short_repr(value: Any) -> str:
    try:
        return repr(value)
    except ValueError:  # an int beyond Python's digit limit cannot even be printed
        return f"a {type(value).__name__} too large to print"


def _validate(model: type[BaseModel], doc: LoadedYaml, context: dict[str, Any]) -> Any:
    if not isinstance(doc.data, dict):
        found = "an empty file" if doc.data is None else type(doc.data).__name__
        line, column = (doc.root.start_mark.line + 1, doc.root.start_mark.column + 1) if doc.root else (1, 1)
        hint = (
            "a suite file is a mapping with an 'expectations:' list"
            if model is SuiteFileSpec
            else "a pipeline file is 'key: value' lines starting at column 1, e.g. 'pipeline: churn_retrain'"
        )
        message = f"expected a mapping of settings at the top level, found {found}"
        raise PipelineConfigError([ConfigIssue(doc.file, line, column, "", message, hint)])
    try:
        return model.model_validate(doc.data, context=context)
    except ValidationError as err:
        issues = []
        for error in err.errors():
            message, hint = _describe_error(error, model)
            loc, _ = _walk(model, tuple(error["loc"]))
            issues.append(_issue_at(doc, loc, message, hint))
        raise PipelineConfigError(issues) from None


def load_suite(path: Path) -> list[Expectation]:
    """Read a suite file: a mapping with ``expectations:``, each one a single-key mapping."""
    # Many pipelines name the same suite; its expectations are frozen models, so one validated
    # tuple serves them all and each caller gets its own list.
    return list(_shared("suite", path, _parse_suite))


def _parse_suite(path: Path, text: str) -> tuple[Expectation, ...]:
    suite: SuiteFileSpec = _validate(SuiteFileSpec, _parse_yaml(path, text), {})
    return tuple(suite.expectations)


def _template_class(doc: LoadedYaml) -> type[PipelineBase]:
    name = doc.data.get("template", "retraining") if isinstance(doc.data, dict) else "retraining"
    if not isinstance(name, str) or name not in TEMPLATES:
        raise PipelineConfigError(
            [_issue_at(doc, ("template",), f"unknown template {name!r}", f"templates: {', '.join(TEMPLATES)}")]
        )
    return TEMPLATES[name]


def load_pipeline_spec(
    path: str | Path,
    *,
    allowed_import_prefixes: Sequence[str] | None = None,
    defaults_root: str | Path | None = None,
) -> PipelineSpec:
    """Load and fully validate one pipeline file, its defaults and the suite file it refers to.

    ``defaults_root`` is the outermost folder whose defaults.yaml may apply (normally the
    dags folder); without it only a defaults.yaml beside the pipeline applies.
    """
    path = Path(path)
    folder, root = pipeline_folders(path, Path(defaults_root) if defaults_root is not None else None)
    doc = read_with_defaults(path, _defaults_between(folder, root))
    prefixes = tuple(allowed_import_prefixes or DEFAULT_ALLOWED_IMPORT_PREFIXES)
    spec: PipelineSpec = _validate(_template_class(doc), doc, {"allowed_import_prefixes": prefixes})
    issues = [_issue_at(doc, loc, message, hint) for loc, message, hint in spec.semantic_issues()]
    if issues:
        raise PipelineConfigError(issues)
    if isinstance(spec, RetrainingPipelineSpec):
        spec = _inline_suite(spec, doc, path, root)
    return spec


def _inline_suite(spec: RetrainingPipelineSpec, doc: LoadedYaml, path: Path, root: Path) -> RetrainingPipelineSpec:
    if spec.validation.suite is not None:
        # Relative to the file that names the suite: the pipeline, or a defaults.yaml above it.
        node = _node_at(doc.root, ("validation", "suite"))
        written_in = node.start_mark.name if node is not None and not node.start_mark.name.startswith("<") else ""
        base = Path(written_in).parent if written_in else path.parent
        suite_path = (base / spec.validation.suite).resolve()
        if suite_path != root and root not in suite_path.parents:
            # A pipeline file may read only what its own tree holds: a suite path is a way to make
            # the DAG processor open (and quote in its errors) any file on the host otherwise.
            raise PipelineConfigError(
                [
                    _issue_at(
                        doc,
                        ("validation", "suite"),
                        f"suite file {spec.validation.suite!r} is outside the pipelines folder {root}",
                        "keep suite files inside the dags folder, e.g. suites/<name>.yaml beside the pipeline",
                    )
                ]
            )
        if not suite_path.is_file():
            raise PipelineConfigError(
                [
                    _issue_at(
                        doc,
                        ("validation", "suite"),
                        f"suite file not found: {suite_path}",
                        "the path is relative to the pipeline file",
                    )
                ]
            )
        try:
            expectations = load_suite(suite_path)
        except PipelineConfigError as err:
            # Lead with the pipeline's own line, so the report names the file that was validated.
            head = _issue_at(
                doc,
                ("validation", "suite"),
                f"suite file {suite_path} is invalid, see below",
                "fix the suite file at the lines below; every pipeline that names it is refused until then",
            )
            raise PipelineConfigError([head, *err.issues]) from None
        spec = spec.model_copy(update={"validation": spec.validation.model_copy(update={"expectations": expectations})})
    return spec
