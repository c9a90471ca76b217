"""YAML text to a node tree and its data, safely and fast; and the cache of files many pipelines share.

Values are constructed with the safe constructor only: no Python tags, no ``!!python/object``.
Airflow parses every pipeline on every DAG-processor loop, so the node tree is composed by
libyaml when PyYAML has it (several times faster than the pure-Python composer, with the same
resolvers, constructors and marks), and the files many pipelines share (suites, defaults.yaml)
are parsed once per process and reused while their text stays the same.
"""

from __future__ import annotations

import functools
import io
import re
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from airflow_mlops.errors import ConfigIssue, PipelineConfigError


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

_pyyaml_resolve: Callable[[Any, Any, Any, Any], str] = yaml.resolver.BaseResolver.resolve


@functools.lru_cache(maxsize=4096)
def _known_tag(kind: Any, value: Any, implicit: Any) -> str:
    """The tag both loaders resolve (kind, value, implicit) to; their resolvers are class attributes."""
    return _pyyaml_resolve(PipelineYamlLoader, kind, value, implicit)


def _resolve_known(loader: Any, kind: Any, value: Any, implicit: Any) -> str:
    """PyYAML's ``resolve``, remembered for short values.

    A pipeline file's keys and short values repeat across files, so most scalars skip the
    resolver's regular expressions. A long value, or a loader with path resolvers (none of ours),
    is resolved afresh.
    """
    if loader.yaml_path_resolvers or (value is not None and len(value) > 64):
        return _pyyaml_resolve(loader, kind, value, implicit)
    return _known_tag(kind, value, implicit)


PipelineYamlLoader.resolve = _resolve_known  # type: ignore[method-assign]

_FastLoader: type[yaml.CSafeLoader] | None = None
if yaml.__with_libyaml__:

    class _CPipelineYamlLoader(yaml.CSafeLoader):
        """The same loader with libyaml doing the scanning, parsing and composing.

        Resolving tags (the YAML 1.2 booleans above) and constructing values stay in Python,
        shared with PipelineYamlLoader, so both read every document the same way.
        """

    _CPipelineYamlLoader.yaml_implicit_resolvers = PipelineYamlLoader.yaml_implicit_resolvers
    _CPipelineYamlLoader.construct_object = _construct_with_position  # type: ignore[method-assign,assignment]
    _CPipelineYamlLoader.resolve = _resolve_known  # type: ignore[method-assign]
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


def parse_document(text: str, file: str) -> tuple[yaml.Node | None, Any]:
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


def read_text(path: Path) -> str:
    file = str(path)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise PipelineConfigError([ConfigIssue(file, None, None, "", f"cannot read file: {err.strerror}")]) from None
    except UnicodeDecodeError:
        raise PipelineConfigError([ConfigIssue(file, None, None, "", "file is not UTF-8 text")]) from None


_T = TypeVar("_T")
# (what, file) -> (the file's text, what was built from it). Keyed on the content itself, so
# an edit is seen at once, however quickly it follows the last read.
_SHARED: dict[tuple[str, str], tuple[str, Any]] = {}


def shared_build(what: str, path: Path, build: Callable[[Path, str], _T]) -> _T:
    """``build(path, text)`` for a file that many pipelines name, reused while its text is unchanged.

    Suites and defaults.yaml files are shared by whole folders of pipelines, and one DagBag
    (or a folder loader) reads them once per pipeline; only successes are kept, so a broken
    file is reported every time. ``build`` must return something callers never modify.
    """
    file = str(path)
    text = read_text(path)
    hit = _SHARED.get((what, file))
    if hit is not None and hit[0] == text:
        return typing.cast("_T", hit[1])
    value = build(path, text)
    _SHARED[(what, file)] = (text, value)
    return value
