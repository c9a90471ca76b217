"""The folder loader at task start: only the files that can define the wanted DAG are read.

A worker parses the DAG file to run one task; Airflow's parsing context names the DAG. The
folder loader then reads only the pipeline files whose text spells that dag id (or does not
spell any plainly), so a task start costs the same with 10 pipelines as with 500. Without a
context (the DAG processor), every file is still read and one broken file fails them all.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_mlops.errors import PipelineConfigError
from airflow_mlops.factory import loader
from airflow_mlops.factory.loader import load_pipelines, pipeline_files

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "dags" / "pipelines" / "breast_cancer.yaml"
SUITE = REPO / "dags" / "pipelines" / "suites" / "breast_cancer.yaml"
EXAMPLE_TEXT = EXAMPLE.read_text()


def _write(folder: Path, name: str, dag_id: str, *, pipeline_line: str | None = None) -> Path:
    text = EXAMPLE_TEXT.replace("pipeline: breast_cancer_retrain", pipeline_line or f"pipeline: {dag_id}")
    path = folder / name
    path.write_text(text)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "suites").mkdir()
    shutil.copy(SUITE, tmp_path / "suites" / "breast_cancer.yaml")
    for index in range(5):
        _write(tmp_path, f"p{index}.yaml", f"dag_{index}")
    (tmp_path / "broken.yaml").write_text("pipeline: broken_one\nmodels: 3\n")
    return tmp_path


def _with_context(monkeypatch: pytest.MonkeyPatch, dag_id: str) -> None:
    # What airflow.sdk.get_parsing_context() reads when a worker parses to run one task.
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", dag_id)
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "train")


def _read_files(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the pipeline files load_pipelines reads fully (validates), in order."""
    from airflow_mlops.spec import loader as spec_loader

    seen: list[str] = []
    original = spec_loader.load_pipeline_spec

    def spy(path: Any, **kwargs: Any) -> Any:
        seen.append(Path(path).name)
        return original(path, **kwargs)

    monkeypatch.setattr(spec_loader, "load_pipeline_spec", spy)
    return seen


def test_without_a_context_every_file_is_read_and_one_broken_file_fails_all(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", raising=False)
    namespace: dict[str, Any] = {}
    with pytest.raises(PipelineConfigError) as caught:
        load_pipelines(namespace, folder)
    assert {issue.file for issue in caught.value.issues} == {str(folder / "broken.yaml")}
    assert sorted(namespace) == [f"dag_{i}" for i in range(5)]


def test_with_a_context_only_the_file_that_declares_the_dag_is_read(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_context(monkeypatch, "dag_3")
    read = _read_files(monkeypatch)
    namespace: dict[str, Any] = {}

    assert load_pipelines(namespace, folder) == ["dag_3"]

    assert read == ["p3.yaml"]
    assert list(namespace) == ["dag_3"]


def test_the_wanted_file_broken_is_still_an_error(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _with_context(monkeypatch, "broken_one")
    with pytest.raises(PipelineConfigError) as caught:
        load_pipelines({}, folder)
    assert {issue.file for issue in caught.value.issues} == {str(folder / "broken.yaml")}


def test_a_file_whose_dag_id_cannot_be_told_from_its_text_is_read(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(folder, "anchored.yaml", "", pipeline_line="pipeline: &id anchored_dag")
    _with_context(monkeypatch, "anchored_dag")
    read = _read_files(monkeypatch)

    assert load_pipelines({}, folder) == ["anchored_dag"]
    assert read == ["anchored.yaml"]


def test_a_misleading_line_falls_back_to_reading_every_file(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The only line that starts with `pipeline:` is inside a quoted string; the real key is
    # written `? pipeline`. The text spells "decoy", the document says "real_dag".
    decoy = 'description: "text\npipeline: decoy"\n? pipeline\n: real_dag\n'
    text = EXAMPLE_TEXT.replace("pipeline: breast_cancer_retrain\n", "").replace(
        "description: Retrain the breast cancer classifier when new labelled data lands.\n", decoy
    )
    (folder / "tricky.yaml").write_text(text)
    (folder / "broken.yaml").unlink()
    assert yaml.safe_load(text)["pipeline"] == "real_dag"
    _with_context(monkeypatch, "real_dag")

    assert load_pipelines({}, folder) == ["real_dag"]


def test_two_files_declaring_the_wanted_dag_are_still_a_duplicate(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(folder, "again.yaml", "dag_2")
    _with_context(monkeypatch, "dag_2")
    with pytest.raises(PipelineConfigError, match="dag_id 'dag_2' is also defined in"):
        load_pipelines({}, folder)


@pytest.mark.parametrize(
    ("text", "declared"),
    [
        ("pipeline: abc\n", "abc"),
        ('pipeline: "abc" # note\r\nx: 1\n', "abc"),
        ("'pipeline': 'a.b-c'\n", "a.b-c"),
        ('"pipeline": abc', "abc"),
        ("pipeline : abc   # comment\n", "abc"),
        ("x: 1\npipeline: abc\ndescription: my pipeline: yes\n", "abc"),
        ("nested:\n  pipeline: x\npipeline: y\n", "y"),
        ("# pipeline: x\npipeline: y\n", "y"),
        ("pipeline: abc#d\n", None),  # the value is 'abc#d'
        ("pipeline: &x abc\n", None),
        ("pipeline: !!str abc\n", None),
        ("pipeline:\n  abc\n", None),
        ("pipeline: abc\npipeline: abd\n", None),
        ("{pipeline: abc}\n", None),
        ("  pipeline: abc\n", None),
        ("'pipeline\": abc\n", None),
        ("pipelines: abc\n", None),
        ("description: x\n", None),
    ],
)
def test_declared_dag_id(tmp_path: Path, text: str, declared: str | None) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(text.encode())
    assert loader._declared_dag_id(str(path)) == declared


def test_declared_dag_id_of_a_missing_file_is_unknown(tmp_path: Path) -> None:
    assert loader._declared_dag_id(str(tmp_path / "nope.yaml")) is None


def test_pipeline_files_lists_what_rglob_would_in_the_same_order(tmp_path: Path) -> None:
    names = ["a/p.yaml", "a-b/p.yaml", "A/p.yml", "suites/s.yaml", "x/suites/s.yaml", "x/q.yaml", ".hidden/h.yaml",
             "a b.yaml", "a.yaml", "a-.yaml", "defaults.yaml", "x/defaults.yml", "z.txt"]  # fmt: skip
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("pipeline: x\n")
    os.symlink(tmp_path / "a", tmp_path / "linked_folder")
    os.symlink(tmp_path / "a" / "p.yaml", tmp_path / "linked_file.yaml")
    os.symlink(tmp_path / "nowhere.yaml", tmp_path / "dangling.yaml")

    rglob = sorted(
        p
        for p in tmp_path.rglob("*")
        if p.suffix in (".yaml", ".yml")
        and p.is_file()
        and p.name not in ("defaults.yaml", "defaults.yml")
        and "suites" not in p.relative_to(tmp_path).parts
    )

    assert pipeline_files(tmp_path) == rglob
    # Part by part, as Path sorts: "a/p.yaml" comes before "a b.yaml", unlike in a string sort.
    assert [p.relative_to(tmp_path).as_posix() for p in rglob] == [
        ".hidden/h.yaml", "A/p.yml", "a/p.yaml", "a b.yaml", "a-.yaml", "a-b/p.yaml", "a.yaml", "linked_file.yaml",
        "x/q.yaml",
    ]  # fmt: skip
