"""The README shows real files, not copies that drift from them."""

from __future__ import annotations

import re
from pathlib import Path

from airflow_mlops.spec.loader import load_pipeline_spec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "dags" / "pipelines" / "breast_cancer.yaml"


def _yaml_blocks(text: str) -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```$", text, flags=re.S | re.M)


def test_the_example_pipeline_in_the_readme_is_the_file_the_demo_runs() -> None:
    blocks = _yaml_blocks((ROOT / "README.md").read_text())
    example = EXAMPLE.read_text()

    assert example in blocks, "README's example YAML differs from dags/pipelines/breast_cancer.yaml; paste it again"


def test_the_example_pipeline_is_valid() -> None:
    spec = load_pipeline_spec(EXAMPLE, defaults_root=EXAMPLE.parent)

    assert spec.pipeline == "breast_cancer_retrain"


def test_the_demo_deployment_defaults_in_the_readme_are_the_file_the_demo_installs() -> None:
    shown = (ROOT / "airflow_mlops" / "demo" / "defaults.yaml").read_text()

    assert shown in _yaml_blocks((ROOT / "README.md").read_text()), (
        "README's copy of the demo's defaults.yaml differs from airflow_mlops/demo/defaults.yaml; paste it again"
    )
