"""The YAML fields of the contract reach the data_contract types unchanged, and stratify resolves by problem."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
import yaml

from airflow_mlops.data_contract.model import ContractPolicies, DataContract
from airflow_mlops.data_contract.settings import CheckSettings
from airflow_mlops.data_contract.vocabulary import Problem
from airflow_mlops.gates.metrics import Problem as GateProblem
from airflow_mlops.spec.loader import load_pipeline_spec
from airflow_mlops.spec.models import RetrainingPipelineSpec
from airflow_mlops.spec.models_data import DataChecksSpec

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "dags" / "pipelines" / "breast_cancer.yaml"


def _spec(tmp_path: Path, **changes: object) -> RetrainingPipelineSpec:
    document = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        node = document
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    (tmp_path / "suites").mkdir(exist_ok=True)
    suite = EXAMPLE.parent / "suites" / "breast_cancer.yaml"
    (tmp_path / "suites" / "breast_cancer.yaml").write_text(suite.read_text(encoding="utf-8"))
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    spec = load_pipeline_spec(path)
    assert isinstance(spec, RetrainingPipelineSpec)
    return spec


REGRESSION = {
    "problem": "regression",
    "select_by": "r2",
    "gate": {"metrics": [{"metric": "r2", "min": 0.5}]},
    "models": [{"name": "ridge", "estimator": "sklearn.linear_model.Ridge"}],
}


@pytest.mark.parametrize(
    ("changes", "stratify"),
    [
        ({}, True),  # the example writes stratify: true
        ({"data__split__stratify": None}, True),
        ({"data__split__stratify": False}, False),
        ({**REGRESSION, "data__split__stratify": None}, False),
        ({**REGRESSION, "data__split__stratify": False}, False),
    ],
)
def test_stratify_resolves_by_problem(tmp_path: Path, changes: dict[str, object], stratify: bool) -> None:
    assert _spec(tmp_path, **changes).stratify_split is stratify


def test_the_factory_passes_the_resolved_stratify(tmp_path: Path) -> None:
    from airflow_mlops.factory.retraining import build_retraining_dag

    for changes, expected in (({"data__split__stratify": None}, True), ({**REGRESSION}, False)):
        changes = {"data__split__stratify": None, **changes}
        dag = build_retraining_dag(_spec(tmp_path, **changes))
        assert dag.get_task("prepare_data").stratify is expected  # type: ignore[attr-defined]


def test_contract_fields_from_the_yaml_build_the_runtime_contract(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path,
        data__columns={"mean_radius": "float", "region": "category"},
        data__on_new_columns="ignore",
        data__id_columns=["customer_id"],
        data__categorical=["city"],
        data__checks={"leakage_accuracy": 0.995, "min_rows_per_class": 8},
        candidates={"on_failure": "fail"},
    )
    data = spec.data

    policies = ContractPolicies(
        on_new_columns=data.on_new_columns,
        on_missing_columns=data.on_missing_columns,
        on_type_change=data.on_type_change,
        categorical=tuple(data.categorical),
        id_columns=tuple(data.id_columns),
    )
    contract = DataContract.from_spec(data.target, data.features, data.columns, policies)
    settings = CheckSettings(**data.checks.model_dump())

    assert contract.column("region") is not None and contract.declared_categorical("region")
    assert contract.declared_categorical("customer_id") and not contract.closed
    assert (settings.leakage_accuracy, settings.min_rows_per_class) == (0.995, 8)
    assert spec.candidates.on_failure == "fail"


def test_the_yaml_checks_and_the_runtime_settings_agree_field_for_field() -> None:
    assert DataChecksSpec.model_fields.keys() == CheckSettings.model_fields.keys()
    assert DataChecksSpec().model_dump() == CheckSettings().model_dump()
    assert get_args(Problem) == get_args(GateProblem)


def test_defaults_keep_the_example_pipeline_as_it_was(tmp_path: Path) -> None:
    spec = _spec(tmp_path)

    assert spec.candidates.on_failure == "drop"
    assert (spec.data.on_new_columns, spec.data.on_missing_columns, spec.data.on_type_change) == ("fail",) * 3
    assert spec.data.columns is None and spec.data.id_columns == [] and spec.data.categorical == []
