"""The import error as Airflow shows it by default, traceback included (issue #15).

With ``[core] dagbag_import_error_tracebacks`` on (Airflow's default) the DAG processor stores
the last frames of the traceback followed by the exception's text, and ``airflow dags
list-import-errors`` prints it in a rich table, which reads ``[word]`` as markup and drops it.
Every line of the loader's report must come through that table unchanged, and so must the
traceback's source lines. Parsed here by Airflow's own DagBag, in this process.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from airflow_mlops.factory.loader import sync_loaders
from tests.unit.factory.test_isolation import SUITE, _pipeline

INVALID = Path(__file__).resolve().parents[2] / "fixtures" / "invalid"


def _as_listed(error: str) -> str:
    """The text of the error as `airflow dags list-import-errors` renders it in its table (markup applied).

    A rich table turns each str cell into text with ``console.render_str``: markup and emoji codes
    are read there, and whatever they eat is gone from every line the CLI prints.
    """
    from airflow.cli.simple_table import AirflowConsole

    return AirflowConsole(file=io.StringIO()).render_str(error).plain


@pytest.fixture
def import_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    from airflow.dag_processing.dagbag import DagBag

    folder = tmp_path / "dags" / "pipelines"
    (folder / "suites").mkdir(parents=True)
    shutil.copy(SUITE, folder / "suites" / "breast_cancer.yaml")
    broken = _pipeline(folder, "broken")
    text = broken.read_text().replace("select_by: f1", "select_by: f2").replace("test_size", "test_sise")
    broken.write_text(text.replace("sklearn.linear_model.LogisticRegression", "os.system"))
    sync_loaders(folder)
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(tmp_path / "dags"))
    monkeypatch.setenv("AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACKS", "True")
    bag = DagBag(dag_folder=str(folder))
    [error] = bag.import_errors.values()
    return error, broken


def test_every_line_of_the_default_view_survives_the_cli_table(import_error: tuple[str, Path]) -> None:
    error, broken = import_error
    assert error.startswith("Traceback (most recent call last):")  # Airflow's default: the traceback first
    assert f"{broken}: pipeline 'broken' was not loaded, 3 problems:" in error

    assert _as_listed(error).splitlines() == error.splitlines()


@pytest.mark.parametrize("fixture", sorted(INVALID.glob("*.yaml")), ids=lambda p: p.stem)
def test_no_report_of_an_invalid_file_is_changed_by_the_cli_table(fixture: Path) -> None:
    from airflow_mlops.errors import PipelineConfigError
    from airflow_mlops.spec.loader import load_pipeline_spec

    with pytest.raises(PipelineConfigError) as caught:
        load_pipeline_spec(fixture)
    assert _as_listed(str(caught.value)).splitlines() == str(caught.value).splitlines()
