"""defaults.yaml: which files apply to a pipeline, and how they are merged under it, node by node."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import yaml

from airflow_mlops.errors import ConfigIssue, PipelineConfigError
from airflow_mlops.spec.document import LoadedYaml, issue_at, parse_yaml, read_yaml
from airflow_mlops.spec.yaml_source import PipelineYamlLoader, shared_build

DEFAULTS_FILE = "defaults.yaml"


def defaults_chain(path: Path, root: Path | None) -> list[Path]:
    """The defaults.yaml files that apply to ``path``, outermost first (the nearest wins).

    They are looked up in every folder from ``root`` down to the pipeline's own folder; with
    no root, or a pipeline outside it, only the pipeline's own folder counts.
    """
    return defaults_between(*pipeline_folders(path, root))


def defaults_between(folder: Path, top: Path) -> list[Path]:
    folders = [folder, *folder.parents[: len(folder.parts) - len(top.parts)]]
    return [f / DEFAULTS_FILE for f in reversed(folders) if (f / DEFAULTS_FILE).is_file()]


def pipeline_folders(path: Path, root: Path | None) -> tuple[Path, Path]:
    """The pipeline file's own folder, and the folder its defaults and suites may come from; both resolved.

    The second is ``root`` (the dags folder) when the pipeline lies inside it, else the
    pipeline's own folder. Resolving walks every component of a path on disk, so a load does
    it once here rather than wherever a folder is needed.
    """
    # os.path.realpath, not Path.resolve: the same path without resolve's extra stat() of the result.
    folder = Path(os.path.realpath(path)).parent
    if root is not None:
        top = Path(os.path.realpath(root))
        if folder.is_relative_to(top):
            return folder, top
    return folder, folder


def merge_nodes(base: yaml.Node, override: yaml.Node) -> yaml.Node:
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
            merged[index] = (key, merge_nodes(merged[index][1], value))
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
        defaults = shared_build("defaults", defaults_path, parse_yaml)
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
                issue_at(defaults, ("pipeline",), "a defaults file cannot set the dag id", "set it in each pipeline")
            )
        merged = defaults.root if merged is None else merge_nodes(merged, defaults.root)
    if issues:
        raise PipelineConfigError(issues)
    if merged is None:
        return doc
    root = merge_nodes(merged, doc.root)
    constructor = PipelineYamlLoader("")
    try:
        data = constructor.construct_document(root)
    finally:
        constructor.dispose()
    return LoadedYaml(data=data, root=root, file=doc.file)
