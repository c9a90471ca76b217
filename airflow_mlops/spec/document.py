"""A parsed YAML file that keeps its node tree, so any field path can be reported at file:line:column.

Reading a file here refuses, with positions, everything that is wrong before validation:
syntax, unreadable values, a document too deep or too large, duplicate keys and secrets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from airflow_mlops.errors import ConfigIssue, PipelineConfigError
from airflow_mlops.spec.tree_checks import (
    MAX_DEPTH,
    Loc,
    duplicate_keys,
    may_hold_secrets,
    secrets,
    shape_problem,
    tree_problem,
)
from airflow_mlops.spec.yaml_source import parse_document, read_text


@dataclass(frozen=True)
class LoadedYaml:
    data: Any
    root: yaml.Node | None
    file: str


def issue_at(doc: LoadedYaml, loc: Loc, message: str, hint: str = "") -> ConfigIssue:
    node = node_at(doc.root, loc)
    line = node.start_mark.line + 1 if node is not None else None
    column = node.start_mark.column + 1 if node is not None else None
    # After defaults are merged in, a node may come from a defaults.yaml: name that file.
    file = node.start_mark.name if node is not None and not node.start_mark.name.startswith("<") else doc.file
    return ConfigIssue(file, line, column, format_loc(loc), message, hint)


def format_loc(loc: Loc) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def node_at(root: yaml.Node | None, loc: Loc) -> yaml.Node | None:
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


def read_yaml(path: Path) -> LoadedYaml:
    """Parse one YAML file safely, raising PipelineConfigError for syntax, duplicates and secrets."""
    return parse_yaml(path, read_text(path))


def parse_yaml(path: Path, text: str) -> LoadedYaml:
    file = str(path)
    try:
        root, data = parse_document(text, file)
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
    shape = shape_problem(root) if "&" in text else tree_problem(root)
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
            format_loc(loc),
            "duplicate key",
            "each key may appear once per mapping; the earlier value would be silently dropped",
        )
        for loc, n in duplicate_keys(root)
    ]
    issues += [
        issue_at(
            doc,
            loc,
            message,
            "store credentials in an Airflow connection or secrets backend and reference its conn_id",
        )
        for loc, message in (secrets(data) if may_hold_secrets(text) else [])
    ]
    if issues:
        raise PipelineConfigError(issues)
    return doc
