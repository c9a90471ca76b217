"""``airflow-mlops render``: prints the graph the DAG really has, needs no scheduler or database.

"The same graph" is checked two ways: here against the DAG built in this process by the factory,
and in tests/integration/test_cli_render.py against what Airflow's own DagBag parses from the
dags folder (through the loader stub beside each YAML file) in a fresh interpreter.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow.sdk import DAG
from airflow.sdk.definitions.asset import AssetAll, AssetAny
from airflow.sdk.definitions.mappedoperator import MappedOperator

from airflow_mlops.cli import main
from airflow_mlops.commands.render import describe_dag, describe_schedule, mapped_over
from airflow_mlops.factory.templates import build_dag
from airflow_mlops.spec.loader import load_pipeline_spec
from airflow_mlops.spec.models import RetrainingPipelineSpec
from tests.pipeline_steps import retraining_steps

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
PIPELINES = DAGS / "pipelines"
EXAMPLE = PIPELINES / "breast_cancer.yaml"
EXAMPLES = sorted(PIPELINES.glob("*.yaml"))
INVALID = REPO / "tests" / "fixtures" / "invalid"
FIXTURES = sorted(INVALID.glob("*.yaml"))
HEAVY = ("mlflow", "great_expectations", "dvc", "sklearn", "pandas", "scipy", "numpy", "skops")
_LINE = re.compile(r"^# line: (\d+)$", re.M)


def built(path: Path) -> tuple[Any, DAG]:
    """Spec and DAG of an example: every example in dags/pipelines must load and build, so neither is skipped."""
    spec = load_pipeline_spec(path, defaults_root=DAGS)
    return spec, build_dag(spec, source=path.name)


def render(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["render", *args])
    out, err = capsys.readouterr()
    return code, out, err


def render_json(capsys: pytest.CaptureFixture[str], path: Path) -> dict[str, Any]:
    code, out, err = render(capsys, str(path), "--format", "json", "--defaults-root", str(DAGS))
    assert code == 0, err
    graph: dict[str, Any] = json.loads(out)
    return graph


def edges_of(dag: DAG) -> set[tuple[str, str]]:
    return {(up, task.task_id) for task in dag.tasks for up in task.upstream_task_ids}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_json_matches_the_dag_the_factory_builds(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    spec, dag = built(path)

    graph = render_json(capsys, path)

    assert graph["dag_id"] == dag.dag_id == spec.pipeline
    assert graph["template"] == spec.template
    assert [t["task_id"] for t in graph["tasks"]] and {t["task_id"] for t in graph["tasks"]} == set(dag.task_ids)
    assert {tuple(edge) for edge in graph["edges"]} == edges_of(dag)
    assert len(graph["edges"]) == len(edges_of(dag))
    assert graph["tags"] == sorted(dag.tags)
    for task in graph["tasks"]:
        real = dag.get_task(task["task_id"])
        assert set(task["upstream"]) == real.upstream_task_ids
        assert set(task["downstream"]) == real.downstream_task_ids
        assert (task["mapped_over"] is not None) == isinstance(real, MappedOperator)
        assert task["outlets"] == [outlet.uri for outlet in real.outlets]
        assert task["retries"] == real.retries == spec.retries.retries
        timeout = real.execution_timeout
        assert task["execution_timeout"] == (timeout.total_seconds() if timeout else None)
    if isinstance(spec, RetrainingPipelineSpec):
        train = next(t for t in graph["tasks"] if t["task_id"] == "train")
        assert train["mapped_over"] == [m.name for m in spec.models]


def test_tasks_come_in_run_order(capsys: pytest.CaptureFixture[str]) -> None:
    graph = render_json(capsys, EXAMPLE)

    seen: set[str] = set()
    for task in graph["tasks"]:
        assert set(task["upstream"]) <= seen, task
        seen.add(task["task_id"])
    assert [t["task_id"] for t in graph["tasks"]] == retraining_steps()
    assert graph["schedule"] == "0 3 * * *"


def test_text_shows_graph_mapped_candidates_and_outlets(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = render(capsys, str(EXAMPLE))

    assert code == 0, err
    assert err == ""
    lines = out.splitlines()
    assert lines[:5] == [
        "dag_id    breast_cancer_retrain",
        "template  retraining",
        "schedule  0 3 * * * (cron)",
        "tags      demo, mlops, mlops:retraining",
        "retries   2 per task",
    ]
    tasks = {line.split()[0]: line for line in lines if line.startswith("  ")}
    assert list(tasks) == [step if step != "train" else "train[logreg," for step in retraining_steps()]
    assert re.search(r"^  train\[logreg, forest\]\s+<- prepare_data\s+mapped: 2 instances$", out, re.M)
    assert re.search(r"^  register\s+<- resolve_data, validate_data, prepare_data, gate, serving_check$", out, re.M)
    assert re.search(r"^  promote\s+<- gate, register\s+outlets mlflow://models/breast_cancer_classifier$", out, re.M)
    assert re.search(r"^  resolve_data$", out, re.M)


def test_text_shows_timeouts_and_asset_schedules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = yaml.safe_load(EXAMPLE.read_text())
    document.update(schedule={"on": "drift_detected"}, timeouts={"default": 60, "train": 240})
    shutil.copytree(PIPELINES / "suites", tmp_path / "suites")
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))

    code, out, err = render(capsys, str(path))

    assert code == 0, err
    assert "schedule  when mlops://drift/breast_cancer_classifier is updated" in out
    assert re.search(r"^  train\[logreg, forest\] .*mapped: 2 instances; timeout 4h$", out, re.M)
    assert re.search(r"^  gate .*timeout 1h$", out, re.M)


def test_several_triggers_render_as_airflow_reads_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = yaml.safe_load(EXAMPLE.read_text())
    document["schedule"] = [{"on": "drift_detected"}, {"on": "new_data_version"}]
    shutil.copytree(PIPELINES / "suites", tmp_path / "suites")
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    _, dag = built(path)
    condition = dag.timetable.asset_condition  # type: ignore[attr-defined]
    kind = "all" if isinstance(condition, AssetAll) else "any" if isinstance(condition, AssetAny) else None

    graph = render_json(capsys, path)

    assert graph["schedule"] == describe_schedule(dag)
    assert graph["schedule"] == {
        kind: ["mlops://drift/breast_cancer_classifier", "mlops://data/dvc_default/data/breast_cancer.csv"]
    }
    _, out, _ = render(capsys, str(path))
    assert (
        f"schedule  when {kind} of [mlops://drift/breast_cancer_classifier, "
        "mlops://data/dvc_default/data/breast_cancer.csv] are updated\n"
    ) in out


def test_one_trigger_is_an_asset_mapping_not_a_string(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = yaml.safe_load(EXAMPLE.read_text())
    document["schedule"] = {"on": "drift_detected"}
    shutil.copytree(PIPELINES / "suites", tmp_path / "suites")
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))

    graph = render_json(capsys, path)

    # A bare string is a cron expression; an asset must never be mistaken for one.
    assert graph["schedule"] in (
        {"asset": "mlops://drift/breast_cancer_classifier"},
        {"all": ["mlops://drift/breast_cancer_classifier"]},
        {"any": ["mlops://drift/breast_cancer_classifier"]},
    )


def test_mermaid_is_a_flowchart_of_the_same_edges(capsys: pytest.CaptureFixture[str]) -> None:
    _, dag = built(EXAMPLE)

    code, out, err = render(capsys, str(EXAMPLE), "--format", "mermaid")

    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "flowchart LR"
    arrows = {tuple(re.findall(r"t_(\w+)", line)) for line in lines if " --> " in line}
    assert arrows == edges_of(dag)
    assert '    t_train["train[logreg, forest]"]' in lines
    assert any(line.strip().startswith("t_promote -.-> asset_") for line in lines)
    assert '("mlflow://models/breast_cancer_classifier")' in out


def expected_location(fixture: Path) -> str:
    match = _LINE.search(fixture.read_text(encoding="utf-8"))
    assert match is not None, fixture
    return rf"^{re.escape(str(fixture))}:\d+(:\d+)?: "


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.name)
def test_broken_file_reports_like_validate_and_exits_one(capsys: pytest.CaptureFixture[str], fixture: Path) -> None:
    code, out, err = render(capsys, str(fixture))
    assert main(["validate", str(fixture)]) == 1
    _, validate_err = capsys.readouterr()

    assert code == 1
    assert out == ""
    assert err == validate_err
    assert re.search(expected_location(fixture), err, re.M), err
    assert "Traceback" not in err


def test_missing_file_and_folder_exit_one(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = render(capsys, str(tmp_path / "nope.yaml"))
    assert (code, out) == (1, "")
    assert err == f"{tmp_path / 'nope.yaml'}: cannot read file: No such file or directory\n"

    code, out, err = render(capsys, str(tmp_path))
    assert (code, out) == (1, "")
    assert err == f"{tmp_path}: is a folder; render takes one pipeline file\n"


def test_a_failing_build_is_one_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise ImportError("No module named 'airflow_mlops.factory.batch_scoring'")

    monkeypatch.setattr("airflow_mlops.factory.templates.build_dag", broken)

    code, out, err = render(capsys, str(EXAMPLE))

    assert (code, out) == (1, "")
    assert err == (
        f"{EXAMPLE}: cannot render the DAG: ImportError: No module named 'airflow_mlops.factory.batch_scoring'\n"
    )


def test_mapped_over_labels_expand_kwargs_and_run_time_values() -> None:
    from airflow.providers.standard.operators.python import PythonOperator

    with DAG("mapped", schedule=None) as dag:
        source = PythonOperator(task_id="source", python_callable=list)
        later = PythonOperator.partial(task_id="later", python_callable=print).expand(op_args=source.output)
        cross = PythonOperator.partial(task_id="cross", python_callable=print).expand(
            op_args=[[1], [2]], op_kwargs=[{"x": 1}]
        )
        kwargs = PythonOperator.partial(
            task_id="kwargs", python_callable=print, map_index_template="{{ task.op_kwargs['name'] }}"
        ).expand_kwargs([{"op_kwargs": {"name": "a"}}, {"op_kwargs": {"name": "b"}}])
        plain = PythonOperator(task_id="plain", python_callable=print)

    assert mapped_over(later) == ["<output of source>"]
    assert mapped_over(cross) == ['{"op_args": [1], "op_kwargs": {"x": 1}}', '{"op_args": [2], "op_kwargs": {"x": 1}}']
    assert mapped_over(kwargs) == ["a", "b"]
    assert mapped_over(plain) is None
    graph = describe_dag(dag)
    assert graph["schedule"] is None
    assert graph["tasks"][0]["task_id"] == "source"


def test_render_and_schema_are_registered() -> None:
    from airflow_mlops.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["render", "x.yaml", "--format", "mermaid", "--defaults-root", "dags"])
    assert (args.command, args.format, args.defaults_root) == ("render", "mermaid", "dags")
    assert parser.parse_args(["schema", "--template", "retraining"]).template == "retraining"
