"""Read the ``environments:`` section of a defaults.yaml (or a pipeline file) outside the DAG loader.

``airflow-mlops promote --from dev --to prod`` needs the environments but no pipeline: it reads
them from the file they are declared in, with the same line-numbered errors ``validate`` gives.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from airflow_mlops.errors import PipelineConfigError
from airflow_mlops.spec.diagnostics import validate
from airflow_mlops.spec.document import issue_at, read_yaml
from airflow_mlops.spec.models_environments import EnvironmentName, EnvironmentSpec, environment_issues

_HINT = "declare them under 'environments:' in your dags folder's defaults.yaml; see docs/environments.md"


class EnvironmentsDocument(BaseModel):
    """The part of a defaults or pipeline file that declares environments; its other keys are not read here."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    environments: dict[EnvironmentName, EnvironmentSpec] = Field(..., min_length=1)


def load_environments(path: str | Path) -> dict[str, EnvironmentSpec]:
    """Every environment declared in ``path``, or every problem in it at its line."""
    doc = read_yaml(Path(path))
    declared: EnvironmentsDocument = validate(EnvironmentsDocument, doc, {}, _HINT)
    issues = [issue_at(doc, loc, message, hint) for loc, message, hint in environment_issues(declared.environments)]
    if issues:
        raise PipelineConfigError(issues)
    return dict(declared.environments)
