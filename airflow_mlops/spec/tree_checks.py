"""Checks on a composed YAML document before anything reads its values: shape, duplicate keys, secrets.

The node tree is what the user wrote, before PyYAML drops the earlier of two equal keys, and
with aliases it is a graph that may be cyclic or expand exponentially; so its shape is checked
before the document is walked any further.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

Loc = tuple[str | int, ...]

#: No pipeline file needs more: deeper documents are refused before anything walks them.
MAX_DEPTH = 64
#: Values a document may expand to through aliases (the "billion laughs" defence).
MAX_VALUES = 100_000


def shape_problem(root: yaml.Node | None) -> tuple[yaml.Node, str] | None:
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


def tree_problem(root: yaml.Node | None) -> tuple[yaml.Node, str] | None:
    """``shape_problem`` for a document without aliases: no node is shared, none is its own ancestor."""
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


def duplicate_keys(node: yaml.Node | None, loc: Loc = ()) -> list[tuple[Loc, yaml.Node]]:
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
                found.extend(duplicate_keys(value_node, (*loc, key)))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            if isinstance(item, yaml.CollectionNode):
                found.extend(duplicate_keys(item, (*loc, index)))
    return found


# Keys whose values are credentials. They belong in Airflow connections or a secrets
# backend, never in a YAML file that lands in git.
_SECRET_KEY = re.compile(r"(^|[_-])(password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)$", re.I)

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


# Every secret the two checks above find spells one of these in the file's text, case-folded (the
# key check ignores case, and case-folding also turns the letters it matches, such as U+017F long s
# and U+212A Kelvin sign, into ASCII). YAML decodes a value's characters as written, except for a
# backslash escape in double quotes and line folding, which only turns a line break into a space
# or a newline; none of these contains either.
_SECRET_HINTS = ("passw", "secret", "token", "key", "://", "akia", "asia", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
                 "xox", "-----begin")  # fmt: skip


def may_hold_secrets(text: str) -> bool:
    """False when no value or key of the document ``text`` can be a secret: then ``secrets`` would find none.

    One pass over the text instead of a regex search per key and value. Most pipeline files
    spell none of these words.
    """
    if "\\" in text:
        return True
    folded = text.casefold()
    return any(hint in folded for hint in _SECRET_HINTS)


def _may_hold_secret(value: Any) -> bool:
    if isinstance(value, str):
        return _ANY_SECRET_VALUE.search(value) is not None
    return isinstance(value, (dict, list))


def secrets(data: Any, loc: Loc = ()) -> list[tuple[Loc, str]]:
    """Keys named like credentials, and values shaped like them, anywhere in the document."""
    found: list[tuple[Loc, str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str) and _SECRET_KEY.search(key) and value not in (None, ""):
                found.append(((*loc, key), "looks like a secret and must not be written in YAML"))
            elif _may_hold_secret(value):
                found.extend(secrets(value, (*loc, key)))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            if _may_hold_secret(item):
                found.extend(secrets(item, (*loc, index)))
    elif isinstance(data, str) and _ANY_SECRET_VALUE.search(data):
        what = next(what for pattern, what in _SECRET_VALUES if pattern.search(data))
        found.append((loc, f"value looks like {what} and must not be written in YAML"))
    return found
