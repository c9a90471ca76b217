"""One broken pipeline file fails only its own DAG, in process: the loader's error names the pipeline,
and sync-loaders keeps a stub beside every YAML file. Airflow's own DagBag, strict loading and
`airflow dags list-import-errors` are checked in fresh processes in tests/integration/factory/test_isolation.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from airflow_mlops.errors import PipelineNotLoaded
from airflow_mlops.factory.loader import LOADER_STUB, sync_loaders

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "dags" / "pipelines" / "breast_cancer.yaml"
SUITE = REPO / "dags" / "pipelines" / "suites" / "breast_cancer.yaml"


def _pipeline(folder: Path, dag_id: str, **changes: object) -> Path:
    spec = yaml.safe_load(EXAMPLE.read_text())
    spec["pipeline"] = dag_id
    spec.update(changes)
    path = folder / f"{dag_id}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_the_import_error_names_the_dag_id_or_else_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In process: the error of a loader names its pipeline by dag id, which need not be the file's name."""
    from airflow_mlops.factory.loader import load_pipeline

    folder = tmp_path / "pipelines"
    (folder / "suites").mkdir(parents=True)
    shutil.copy(SUITE, folder / "suites" / "breast_cancer.yaml")
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(tmp_path))
    churn = folder / "churn.yaml"
    churn.write_text(EXAMPLE.read_text().replace("select_by: f1", "select_by: f2"))
    with pytest.raises(PipelineNotLoaded) as caught:
        load_pipeline({}, folder / "churn.py")
    assert caught.value.pipelines == ["breast_cancer_retrain"]
    assert str(caught.value).startswith(f"{churn}: pipeline 'breast_cancer_retrain' was not loaded, 1 problem:\n")
    assert str(caught.value).splitlines()[1] == str(caught.value.issues[0])

    # A dag id that cannot be read off the file (here it is missing) names the file instead.
    churn.write_text(EXAMPLE.read_text().replace("pipeline: breast_cancer_retrain\n", ""))
    with pytest.raises(PipelineNotLoaded) as caught:
        load_pipeline({}, folder / "churn.py")
    assert str(caught.value).startswith(f"{churn}: pipeline 'churn' was not loaded, 1 problem:\n")
    assert caught.value.issues[0].field == "pipeline"


def test_sync_loaders_reports_and_repairs(tmp_path: Path) -> None:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    _pipeline(folder, "a")
    (folder / "defaults.yaml").write_text("owner: team\n")
    mine = folder / "handwritten.py"
    mine.write_text("# my own DAG file\n")
    report = sync_loaders(folder, write=False)
    assert report["created"] == [folder / "a.py"] and not (folder / "a.py").exists()
    sync_loaders(folder)
    assert (folder / "a.py").read_text() == LOADER_STUB
    assert not (folder / "defaults.py").exists()
    (folder / "a.py").write_text(LOADER_STUB + "# edited\n")
    assert sync_loaders(folder, write=False)["outdated"] == [folder / "a.py"]
    (folder / "a.yaml").unlink()
    report = sync_loaders(folder, prune=True)
    assert report["orphaned"] == [folder / "a.py"] and not (folder / "a.py").exists()
    assert mine.read_text() == "# my own DAG file\n"
