"""``airflow-mlops render FILE``: the task graph a pipeline file becomes, without Airflow running.

Why: a reviewer should see what a YAML change does to the DAG (tasks, edges, mapped
candidates, schedule, assets) before it reaches a scheduler. The command builds the DAG
in-process with the same factory the dags-folder loader uses, so what it prints is what
Airflow parses. Building a DAG object needs no metadata database and no scheduler, and it
imports no ML library (the factory only creates thin operators).

Nothing here may end in a traceback: a config error prints exactly what ``validate``
prints, anything else one line naming the file; both exit 1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import DAG
    from airflow.sdk.definitions._internal.abstractoperator import AbstractOperator

FORMATS = ("text", "json", "mermaid")
# Labels of mapped instances that only exist once the run has the upstream's output.
RUN_TIME = "<"


def _run(args: argparse.Namespace) -> int:
    try:
        return _render(args)
    except BrokenPipeError:  # `render ... | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as err:  # the promise is no traceback, whatever breaks below
        print(f"{args.file}: cannot render the DAG: {type(err).__name__}: {err}", file=sys.stderr)
        return 1


def _render(args: argparse.Namespace) -> int:
    from airflow_mlops import settings
    from airflow_mlops.commands.validate import _default_root
    from airflow_mlops.errors import PipelineConfigError
    from airflow_mlops.factory.loader import source_label
    from airflow_mlops.factory.templates import build_dag
    from airflow_mlops.spec.loader import load_pipeline_spec

    path = Path(args.file)
    if path.is_dir():
        print(f"{path}: is a folder; render takes one pipeline file", file=sys.stderr)
        return 1
    root = Path(args.defaults_root) if args.defaults_root else _default_root(path)
    try:
        # The prefixes Airflow's loader uses, so a pipeline that loads in Airflow renders too.
        spec = load_pipeline_spec(path, allowed_import_prefixes=settings.allowed_import_prefixes(), defaults_root=root)
    except PipelineConfigError as err:
        print(err, file=sys.stderr)
        return 1
    dag = build_dag(spec, source=source_label(path, root))
    graph = describe_dag(dag, template=spec.template, source=str(path))
    formatters = {"text": format_text, "json": format_json, "mermaid": format_mermaid}
    print(formatters[args.format](graph))
    return 0


def describe_dag(dag: DAG, **about: str) -> dict[str, Any]:
    """The graph of a built DAG as plain JSON data (the ``--format json`` document).

    ``about`` (template, source file) is placed right after the dag_id.
    """
    order = topological_order(dag)
    position = {task_id: index for index, task_id in enumerate(order)}
    tasks = []
    edges: list[list[str]] = []
    for task_id in order:
        task = dag.task_dict[task_id]
        upstream = sorted(task.upstream_task_ids, key=position.__getitem__)
        edges.extend([up, task_id] for up in upstream)
        timeout = task.execution_timeout
        tasks.append(
            {
                "task_id": task_id,
                "upstream": upstream,
                "downstream": sorted(task.downstream_task_ids, key=position.__getitem__),
                "mapped_over": mapped_over(task),
                "outlets": [_asset_name(outlet) for outlet in task.outlets],
                "retries": task.retries,
                "execution_timeout": timeout.total_seconds() if isinstance(timeout, timedelta) else None,
            }
        )
    return {
        "dag_id": dag.dag_id,
        **about,
        "schedule": describe_schedule(dag),
        "tags": sorted(dag.tags),
        "tasks": tasks,
        "edges": edges,
    }


def topological_order(dag: DAG) -> list[str]:
    """Task ids so that every task follows its upstreams; ties keep the order tasks were defined.

    Definition order makes the output stable and reads like the factory's source.
    """
    remaining = list(dag.task_dict)
    placed: set[str] = set()
    order: list[str] = []
    while remaining:
        ready = next(t for t in remaining if dag.task_dict[t].upstream_task_ids <= placed)
        order.append(ready)
        placed.add(ready)
        remaining.remove(ready)
    return order


def describe_schedule(dag: DAG) -> Any:
    """Cron or preset as a string (also a cron timetable's), None for manual runs, a mapping for assets.

    Assets: ``{"asset": URI}`` for one, ``{"any"|"all": [URI or mapping, ...]}`` for a
    condition. Read from the timetable, where Airflow has already decided what the factory's
    schedule means (a plain list of assets would mean all of them), not from the YAML.
    """
    if dag.schedule is None or isinstance(dag.schedule, str):
        return dag.schedule
    condition = getattr(dag.timetable, "asset_condition", None)
    if condition is not None:
        described = _asset_condition(condition)
        return {"asset": described} if isinstance(described, str) else described
    # A timetable object (an incremental ingestion's data intervals): its cron, as a cron string would show.
    expression = getattr(dag.timetable, "expression", None)
    return str(expression) if expression else str(getattr(dag.timetable, "summary", dag.timetable))


def _asset_condition(condition: Any) -> Any:
    from airflow.sdk.definitions.asset import AssetAll, AssetAny

    if isinstance(condition, AssetAll | AssetAny):
        key = "all" if isinstance(condition, AssetAll) else "any"
        return {key: [_asset_condition(c) for c in condition.objects]}
    return _asset_name(condition)


def _asset_name(asset: Any) -> str:
    """An asset by URI (what users see in the YAML comments and the UI); an alias by name."""
    uri = getattr(asset, "uri", None)
    if uri:
        return str(uri)
    return f"alias:{asset.name}" if hasattr(asset, "name") else str(asset)


def mapped_over(task: AbstractOperator) -> list[str] | None:
    """The labels of a mapped task's instances (``logreg``, ``forest``), None if not mapped.

    Labels are what the Airflow UI shows: the task's ``map_index_template`` rendered for
    each expanded value. Values only known at run time (mapped over another task's output)
    are shown as ``<output of TASK>``.
    """
    from airflow.sdk.definitions.mappedoperator import MappedOperator
    from airflow.sdk.definitions.xcom_arg import XComArg

    if not isinstance(task, MappedOperator):
        return None
    value = task.expand_input.value
    if isinstance(value, XComArg):  # expand_kwargs over another task's output
        return [_dynamic(value)]
    if isinstance(value, list):  # expand_kwargs: one dict of arguments per instance
        return [_label(task, kwargs) for kwargs in value]
    if not isinstance(value, dict):  # pragma: no cover - Airflow has no other expand input
        return [str(value)]
    combos: list[dict[str, Any]] = [{}]
    dynamic: list[str] = []
    for key, values in value.items():  # several keys map over their cross product
        items: list[Any]
        if isinstance(values, dict):
            items = list(values.items())
        elif isinstance(values, list | tuple):
            items = list(values)
        else:  # another task's output: the instances are only known at run time
            dynamic.append(_dynamic(values))
            continue
        combos = [{**combo, key: item} for combo in combos for item in items]
    return dynamic or [_label(task, combo) for combo in combos]


def _dynamic(arg: Any) -> str:
    operator = getattr(arg, "operator", None)
    return f"{RUN_TIME}output of {operator.task_id}>" if operator is not None else f"{RUN_TIME}known at run time>"


def _label(task: Any, kwargs: Any) -> str:
    from types import SimpleNamespace

    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    template = getattr(task, "map_index_template", None)
    if template and isinstance(kwargs, dict):
        try:
            env = SandboxedEnvironment(undefined=StrictUndefined)
            rendered = env.from_string(template).render(task=SimpleNamespace(**kwargs))
        except Exception:  # a template that needs the run's context: fall back below
            rendered = ""
        if rendered.strip():
            return rendered.strip()
    if isinstance(kwargs, dict) and len(kwargs) == 1:
        (only,) = kwargs.values()
        if isinstance(only, dict) and "name" in only:
            return str(only["name"])
        kwargs = only
    return kwargs if isinstance(kwargs, str) else json.dumps(kwargs, sort_keys=True, default=str)


def _task_label(task: dict[str, Any]) -> str:
    mapped = task["mapped_over"]
    return f"{task['task_id']}[{', '.join(mapped)}]" if mapped is not None else str(task["task_id"])


def _duration(seconds: float) -> str:
    """``14400`` -> ``4h``, ``5400`` -> ``1h30m``: the way timeouts are talked about."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{value:g}{unit}" for value, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if value]
    return "".join(parts) or "0s"


def _schedule_text(schedule: Any) -> str:
    if schedule is None:
        return "none (manual runs only)"
    if isinstance(schedule, str):
        return f"{schedule} ({'preset' if schedule.startswith('@') else 'cron'})"
    return "when " + _condition_text(schedule) + " updated"


def _condition_text(condition: Any) -> str:
    if isinstance(condition, str):
        return f"{condition} is"
    if "asset" in condition:
        return f"{condition['asset']} is"
    ((kind, items),) = condition.items()
    if len(items) == 1:
        return _condition_text(items[0])
    parts = [_condition_text(item).removesuffix(" is") for item in items]
    return f"{kind} of [{', '.join(parts)}] are"


def format_text(graph: dict[str, Any]) -> str:
    """Header lines, then one line per task in run order: ``task  <- upstreams  notes``."""
    tasks = graph["tasks"]
    retries = sorted({t["retries"] for t in tasks})
    lines = [
        f"dag_id    {graph['dag_id']}",
        *([f"template  {graph['template']}"] if "template" in graph else []),
        f"schedule  {_schedule_text(graph['schedule'])}",
        f"tags      {', '.join(graph['tags']) or 'none'}",
        f"retries   {f'{retries[0]} per task' if len(retries) == 1 else 'per task, see below'}",
        f"tasks     {len(tasks)}, in run order (<- upstream tasks)",
    ]
    labels = [_task_label(t) for t in tasks]
    upstreams = [("<- " + ", ".join(t["upstream"])) if t["upstream"] else "" for t in tasks]
    label_width = max(map(len, labels), default=0)
    upstream_width = max(map(len, upstreams), default=0)
    for task, label, upstream in zip(tasks, labels, upstreams, strict=True):
        notes = []
        mapped = task["mapped_over"]
        if mapped is not None and any(label.startswith(RUN_TIME) for label in mapped):
            notes.append("mapped: instances known at run time")
        elif mapped is not None:
            notes.append(f"mapped: {len(mapped)} instance{'s' if len(mapped) != 1 else ''}")
        if task["execution_timeout"] is not None:
            notes.append(f"timeout {_duration(task['execution_timeout'])}")
        if len(retries) > 1:
            notes.append(f"retries {task['retries']}")
        if task["outlets"]:
            notes.append("outlets " + ", ".join(task["outlets"]))
        line = f"  {label:<{label_width}}  {upstream:<{upstream_width}}  {'; '.join(notes)}"
        lines.append(line.rstrip())
    return "\n".join(lines)


def format_json(graph: dict[str, Any]) -> str:
    return json.dumps(graph, indent=2)


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def format_mermaid(graph: dict[str, Any]) -> str:
    """A ``flowchart LR``; outlets are asset nodes on dotted arrows, as in Airflow's graph view."""
    ids: dict[str, str] = {}
    for task in graph["tasks"]:
        base = "t_" + re.sub(r"\W", "_", task["task_id"])
        node = base
        suffix = 2
        while node in ids.values():  # two ids that differ only in '.' or '-'
            node, suffix = f"{base}_{suffix}", suffix + 1
        ids[task["task_id"]] = node
    lines = ["flowchart LR", f"    %% {graph['dag_id']}: schedule {_schedule_text(graph['schedule'])}"]
    for task in graph["tasks"]:
        lines.append(f'    {ids[task["task_id"]]}["{_mermaid_text(_task_label(task))}"]')
    for up, down in graph["edges"]:
        lines.append(f"    {ids[up]} --> {ids[down]}")
    assets: dict[str, str] = {}
    for task in graph["tasks"]:
        for uri in task["outlets"]:
            if uri not in assets:
                assets[uri] = f"asset_{len(assets)}"
                lines.append(f'    {assets[uri]}[("{_mermaid_text(uri)}")]')
            lines.append(f"    {ids[task['task_id']]} -.-> {assets[uri]}")
    return "\n".join(lines)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "render",
        help="print the task graph a pipeline file generates (no scheduler, no database)",
        description="Build the DAG of one pipeline file in-process and print its tasks in run order, "
        "their upstreams, mapped candidates, outlets and schedule.",
    )
    parser.add_argument("file", help="pipeline YAML file")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format (default: %(default)s)")
    parser.add_argument(
        "--defaults-root",
        help="outermost folder whose defaults.yaml applies (default: the current folder for files below it); "
        "use your dags folder to match Airflow",
    )
    parser.set_defaults(func=_run)
