"""Turn a folder of pipeline YAML files into DAGs in the caller's module namespace.

Airflow discovers DAGs as module-level globals of the file it parses, so the loader writes
each DAG into ``globals_dict`` under its dag_id.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from airflow_mlops.spec.errors import ConfigIssue, PipelineConfigError

PIPELINE_SUFFIXES = (".yaml", ".yml")


def pipeline_files(folder: Path) -> list[Path]:
    """Pipeline files below ``folder``, sorted for a stable DAG order.

    Suite files live in a ``suites`` folder and are read through the pipeline that names them.
    """
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix in PIPELINE_SUFFIXES and p.is_file() and "suites" not in p.relative_to(folder).parts
    )


def _wanted_dag_id() -> str | None:
    """When a worker parses the file to run one task, only that task's DAG is needed."""
    from airflow.sdk import get_parsing_context

    return get_parsing_context().dag_id


def load_pipelines(globals_dict: MutableMapping[str, Any], folder: str | Path) -> list[str]:
    """Build a DAG for every pipeline file in ``folder``; returns the dag_ids built.

    Every file is validated; if any is invalid, PipelineConfigError lists all problems
    with file and line, and Airflow shows it as the import error of the loader file.
    """
    from airflow_mlops import settings
    from airflow_mlops.factory.templates import build_dag
    from airflow_mlops.spec.loader import load_pipeline_spec

    root = Path(folder)
    if not root.is_dir():
        raise PipelineConfigError([ConfigIssue(str(root), None, None, "", "pipeline folder does not exist")])
    prefixes = settings.allowed_import_prefixes()
    wanted = _wanted_dag_id()
    issues: list[ConfigIssue] = []
    built: list[str] = []
    seen: dict[str, Path] = {}
    for path in pipeline_files(root):
        try:
            spec = load_pipeline_spec(path, allowed_import_prefixes=prefixes)
        except PipelineConfigError as err:
            issues.extend(err.issues)
            continue
        if spec.pipeline in seen:
            issues.append(
                ConfigIssue(
                    str(path),
                    None,
                    None,
                    "pipeline",
                    f"dag_id {spec.pipeline!r} is also defined in {seen[spec.pipeline]}",
                )
            )
            continue
        seen[spec.pipeline] = path
        if wanted is not None and spec.pipeline != wanted:
            continue
        globals_dict[spec.pipeline] = build_dag(spec, source=path.relative_to(root).as_posix())
        built.append(spec.pipeline)
    if issues:
        raise PipelineConfigError(issues)
    return built
