"""Turn pipeline YAML files into DAGs in the caller's module namespace.

Airflow discovers DAGs as module-level globals of the Python file it parses, and when that
file raises, Airflow drops *every* DAG it defines and records one import error for it. So
isolation needs one Python file per pipeline: a tiny, identical loader stub beside each
YAML file (``churn.py`` next to ``churn.yaml``), written by ``airflow-mlops sync-loaders``.
A broken ``churn.yaml`` then fails only ``churn.py``, with an import error that names the
pipeline, then the YAML file, line and field of each problem, and every other pipeline keeps
loading.

``load_pipelines`` (one loader for a whole folder) stays for teams that prefer a single
file; it is all-or-nothing by nature and says so.
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any

from airflow_mlops.errors import ConfigIssue, PipelineConfigError, PipelineNotLoaded

PIPELINE_SUFFIXES = (".yaml", ".yml")
NOT_PIPELINES = {"defaults.yaml", "defaults.yml"}

LOADER_STUB = """\
# Airflow DAG loader written by `airflow-mlops sync-loaders`: builds the pipeline defined in
# the YAML file of the same name. One loader per pipeline, so a broken file fails only its DAG.
from airflow_mlops import load_pipeline

load_pipeline(globals(), __file__)
"""


def _pipeline_name(path: Path) -> str:
    """The dag id the file spells out, else its stem: what an Airflow user knows the pipeline by."""
    return _declared_dag_id(str(path)) or path.stem


def _problems(count: int) -> str:
    return f"{count} problem{'s' if count != 1 else ''}"


def pipeline_files(folder: Path) -> list[Path]:
    """Pipeline files below ``folder``, sorted for a stable DAG order.

    Suites (in a ``suites`` folder) are read through the pipeline that names them, and
    ``defaults.yaml`` files through the pipelines below them. Walked with ``os.scandir``,
    which knows each entry's type without a stat call, because a worker lists the whole
    folder at every task start. Like ``Path.rglob``, it does not enter symlinked folders and
    skips unreadable ones; the order is ``Path``'s (part by part).
    """
    return [Path(path) for path in _pipeline_paths(folder)]


def _pipeline_paths(folder: Path) -> list[str]:
    """``pipeline_files`` as strings: making 500 ``Path`` objects costs more than listing them."""
    found: list[str] = []
    pending = [os.fspath(folder)]
    while pending:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    if entry.is_dir():
                        if entry.name != "suites" and not entry.is_symlink():
                            pending.append(entry.path)
                    elif entry.name.endswith(PIPELINE_SUFFIXES) and entry.name not in NOT_PIPELINES and entry.is_file():
                        found.append(entry.path)
        except PermissionError:
            continue
    return sorted(found, key=lambda path: path.split(os.sep))


# ``pipeline:`` (maybe quoted) and the rest of its line. A pattern that starts with a plain word
# is searched for quickly; a multiline ``^`` pattern would be tried at every position.
# Whether the word starts a line is checked afterwards.
_PIPELINE_KEY = re.compile(rb"""pipeline(["']?)[ \t]*:([^\n]*)""")
# A value that can only be the string it spells: the dag id's own alphabet, maybe quoted, maybe a comment.
_PLAIN_DAG_ID = re.compile(
    rb"""[ \t]*(?:([A-Za-z0-9_.\-]+)|"([A-Za-z0-9_.\-]+)"|'([A-Za-z0-9_.\-]+)')(?:[ \t]+#.*)?[ \t]*\r?"""
)


def _declared_dag_id(path: str) -> str | None:
    """The dag id a pipeline file spells out on its one top-level ``pipeline:`` line, else None.

    A cheap look at the bytes, not a parse: None (unreadable, no such line, two of them, an
    anchor, a tag, a value on the next line...) means "could be anything, read the file". A
    dag id cannot come from a defaults.yaml, so a file that spells another id is not the one.
    """
    chunks = []
    try:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            while chunk := os.read(descriptor, 1 << 16):
                chunks.append(chunk)
        finally:
            os.close(descriptor)
    except OSError:
        return None
    text = b"".join(chunks)
    values = []
    for match in _PIPELINE_KEY.finditer(text):
        quote = match.group(1)
        start = match.start() - len(quote)  # an opening quote must match the closing one
        if text[start : match.start()] == quote and (start == 0 or text[start - 1] == ord("\n")):
            values.append(match.group(2))
    if len(values) != 1:
        return None
    value = _PLAIN_DAG_ID.fullmatch(values[0])
    if value is None:
        return None
    return next(group for group in value.groups() if group is not None).decode("ascii")


def _dags_folder() -> Path | None:
    """The outermost folder whose defaults.yaml files apply: Airflow's dags folder."""
    from airflow.sdk.configuration import conf

    value = conf.get("core", "dags_folder", fallback=None)
    return Path(value) if value else None


def _strict() -> bool:
    from airflow.sdk.configuration import conf

    return bool(conf.getboolean("mlops", "strict_loading", fallback=False))


def _wanted_dag_id() -> str | None:
    """When a worker parses the file to run one task, only that task's DAG is needed."""
    from airflow.sdk import get_parsing_context

    return get_parsing_context().dag_id


def source_label(path: Path, root: Path | None) -> str:
    """The pipeline file as lineage and the UI name it: its path inside the dags folder.

    Airflow hands the loader paths below the dags folder as configured, so comparing the paths
    as written usually answers; resolving symlinks (which reads every component from disk) is
    left for paths that are not written under it.
    """
    if root is None:
        return path.name
    try:
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(root)).as_posix()
    except ValueError:
        pass
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


def validate_tree(folder: Path, defaults_root: Path | None = None) -> list[ConfigIssue]:
    """Every problem in every pipeline file below ``folder`` (used by strict loading and CI)."""
    from airflow_mlops import settings
    from airflow_mlops.spec.loader import load_pipeline_spec

    prefixes = settings.allowed_import_prefixes()
    issues: list[ConfigIssue] = []
    for path in pipeline_files(folder):
        try:
            load_pipeline_spec(path, allowed_import_prefixes=prefixes, defaults_root=defaults_root or folder)
        except PipelineConfigError as err:
            issues.extend(err.issues)
    return issues


def load_pipeline(globals_dict: MutableMapping[str, Any], loader_file: str | Path) -> str:
    """Build the DAG of the pipeline file beside ``loader_file`` (same name, .yaml or .yml).

    With ``[mlops] strict_loading = True`` (meant for CI) every loader also validates all
    pipelines in the dags folder and fails if any is broken, so nothing loads until all do.
    """
    from airflow_mlops import settings
    from airflow_mlops.factory.templates import build_dag
    from airflow_mlops.spec.loader import load_pipeline_spec

    loader = Path(loader_file)
    matches = [loader.with_suffix(s) for s in PIPELINE_SUFFIXES if loader.with_suffix(s).is_file()]
    if not matches:
        raise PipelineConfigError(
            [
                ConfigIssue(
                    str(loader),
                    None,
                    None,
                    "",
                    f"no pipeline file {loader.stem}.yaml beside this loader",
                    "restore the YAML file, or delete this stub: airflow-mlops sync-loaders --prune <folder>",
                )
            ]
        )
    path = matches[0]
    root = _dags_folder()
    if _strict():
        issues = validate_tree(root or loader.parent, root)
        if issues:
            name = _pipeline_name(path)
            headline = (
                f"{path}: pipeline {name!r} was not loaded: strict loading (AIRFLOW__MLOPS__STRICT_LOADING) loads no "
                f"pipeline while the dags folder has {_problems(len(issues))}:"
            )
            raise PipelineNotLoaded(issues, (name,), headline=headline)
    try:
        spec = load_pipeline_spec(path, allowed_import_prefixes=settings.allowed_import_prefixes(), defaults_root=root)
    except PipelineConfigError as err:
        # Named only on failure: finding the name reads the file once more.
        name = _pipeline_name(path)
        headline = f"{path}: pipeline {name!r} was not loaded, {_problems(len(err.issues))}:"
        raise PipelineNotLoaded(err.issues, (name,), headline=headline) from None
    globals_dict[spec.pipeline] = build_dag(spec, source=source_label(path, root))
    return spec.pipeline


def load_pipelines(globals_dict: MutableMapping[str, Any], folder: str | Path) -> list[str]:
    """Build a DAG for every pipeline file in ``folder``; returns the dag_ids built.

    All or nothing: if any file is invalid, PipelineConfigError lists every problem with
    file and line, and Airflow shows it as the import error of this one loader file (and
    drops the others). Use per-pipeline loaders (``sync-loaders``) to isolate failures.

    A worker that parses this file to run one task (Airflow's parsing context names the DAG)
    reads only the files that may define that DAG, so task start does not grow with the
    folder; the DAG processor, which parses without a context, still checks every file.
    Only if none of those files defines the DAG is every file read.
    """
    root = Path(folder)
    if not root.is_dir():
        raise PipelineConfigError(
            [
                ConfigIssue(
                    str(root), None, None, "", "pipeline folder does not exist", "pass the folder of the pipeline files"
                )
            ]
        )
    defaults_root = _dags_folder()
    if defaults_root is not None and not root.resolve().is_relative_to(defaults_root.resolve()):
        defaults_root = root
    paths = _pipeline_paths(root)
    wanted = _wanted_dag_id()
    if wanted is not None:
        likely = [Path(path) for path in paths if _declared_dag_id(path) in (wanted, None)]
        built = _load_folder(globals_dict, root, likely, wanted, defaults_root or root)
        if built or len(likely) == len(paths):
            return built
    return _load_folder(globals_dict, root, [Path(path) for path in paths], wanted, defaults_root or root)


def _load_folder(
    globals_dict: MutableMapping[str, Any], root: Path, paths: Sequence[Path], wanted: str | None, defaults_root: Path
) -> list[str]:
    from airflow_mlops import settings
    from airflow_mlops.factory.templates import build_dag
    from airflow_mlops.spec.loader import load_pipeline_spec

    prefixes = settings.allowed_import_prefixes()
    issues: list[ConfigIssue] = []
    broken: list[str] = []
    built: list[str] = []
    seen: dict[str, Path] = {}
    for path in paths:
        try:
            spec = load_pipeline_spec(path, allowed_import_prefixes=prefixes, defaults_root=defaults_root)
        except PipelineConfigError as err:
            issues.extend(err.issues)
            broken.append(_pipeline_name(path))
            continue
        if spec.pipeline in seen:
            issues.append(
                ConfigIssue(
                    str(path),
                    None,
                    None,
                    "pipeline",
                    f"dag_id {spec.pipeline!r} is also defined in {seen[spec.pipeline]}",
                    "give each pipeline its own 'pipeline:' value; it is the DAG id",
                )
            )
            broken.append(spec.pipeline)
            continue
        seen[spec.pipeline] = path
        if wanted is not None and spec.pipeline != wanted:
            continue
        globals_dict[spec.pipeline] = build_dag(spec, source=path.relative_to(root).as_posix())
        built.append(spec.pipeline)
    if issues:
        # The issues lead, so the report starts with a broken file's line; the last line says what was lost.
        which = f"pipeline {broken[0]!r} is" if len(broken) == 1 else f"pipelines {', '.join(map(repr, broken))} are"
        footer = (
            f"{root}: {which} invalid, so this loader loads none of the folder's pipelines "
            "(all or nothing; per-pipeline loaders from `airflow-mlops sync-loaders` isolate them)"
        )
        raise PipelineNotLoaded(issues, broken, footer=footer)
    return built


def sync_loaders(folder: Path, *, write: bool = True, prune: bool = False) -> dict[str, list[Path]]:
    """Make sure every pipeline file has its loader stub, and report stubs that differ.

    Returns the stubs ``created``, ``outdated`` (rewritten when ``write``) and ``orphaned``
    (a stub whose YAML is gone; deleted when ``prune``). Only files that start with the
    stub's marker line count as stubs, so hand-written DAG files are never touched.
    """
    report: dict[str, list[Path]] = {"created": [], "outdated": [], "orphaned": []}
    pipelines = pipeline_files(folder)
    for path in pipelines:
        stub = path.with_suffix(".py")
        if not stub.exists():
            report["created"].append(stub)
        elif stub.read_text() != LOADER_STUB:
            if not stub.read_text().startswith(LOADER_STUB.splitlines()[0]):
                continue  # someone's own DAG file that happens to share the name
            report["outdated"].append(stub)
        else:
            continue
        if write:
            stub.write_text(LOADER_STUB)
    stems = {p.with_suffix("") for p in pipelines}
    marker = LOADER_STUB.splitlines()[0]
    for stub in sorted(folder.rglob("*.py")):
        if stub.with_suffix("") not in stems and stub.read_text().startswith(marker):
            report["orphaned"].append(stub)
            if prune:
                stub.unlink()
    return report
