"""The data contract recorded on a version is shown by ``airflow-mlops lineage`` and the UI's version page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_mlops.governance.lineage import lineage
from airflow_mlops.plugins import render, urls
from airflow_mlops.record.lineage import lineage_tags
from airflow_mlops.report.lineage_text import format_lineage

MODEL = "contract_gov"
CONTRACT = {
    "source": "frame",
    "target": "target",
    "target_type": "integer",
    "columns": [{"name": "mean_radius", "type": "float"}, {"name": "clinic", "type": "string"}],
    "closed": True,
}
CANDIDATE = {"candidate": "logreg", "estimator": "e", "mlflow_run_id": "r" * 32, "metrics": {"f1": 0.9}}
VERDICT = {"decision": "promote", "summary": "ok", "champion_version": None, "outcomes": []}


@pytest.fixture
def client(tmp_path: Path) -> Any:
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(MODEL)
    for document in (CONTRACT, None):
        tags = lineage_tags(
            dag_id="d",
            run_id="r",
            data={"repo": "/data", "path": "d.csv", "rev": "main", "commit": "c" * 40, "md5": "a" * 32},
            validation={"success": True, "statistics": {}},
            gate={"candidate": CANDIDATE, "verdict": VERDICT},
            lineage={},
            contract=json.dumps(document) if document else None,
            contract_uri="runs:/p/data/contract.json",
        )
        client.create_model_version(MODEL, f"file://{tmp_path}/model", tags=tags)
    return client


def _page(info: dict[str, Any]) -> str:
    return render.render(
        "version.html", root="/mlops", title="v", model_name=MODEL, dag_ids=[], info=info, mlflow_ui=None, urls=urls
    )


def test_lineage_lists_the_columns_and_types_the_version_was_trained_on(client: Any) -> None:
    info = lineage(client, MODEL, "1")
    assert info["contract"]["columns"] == [
        {"name": "mean_radius", "type": "float"},
        {"name": "clinic", "type": "string"},
        {"name": "target", "type": "integer, target"},
    ]
    text = format_lineage(info)
    assert "contract    3 column(s)" in text
    assert "mean_radius  float" in text and "target       integer, target" in text
    html = _page(info)
    assert "Data contract" in html and "mean_radius" in html and "integer, target" in html


def test_a_version_without_a_contract_says_so(client: Any) -> None:
    info = lineage(client, MODEL, "2")
    assert info["contract"]["recorded"] is False
    assert "contract    not recorded" in format_lineage(info)
    assert "No data contract recorded" in _page(info)
