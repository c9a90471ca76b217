"""Read the ``environments:`` section of a defaults.yaml (or a pipeline file) outside the DAG loader.

``airflow-mlops promote --from dev --to prod`` needs the environments but no pipeline: it reads
them from the file they are declared in, with the same line-numbered errors ``validate`` gives.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

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


def environments_from(declared: str | Path | Mapping[str, Any]) -> dict[str, EnvironmentSpec]:
    """What an operator is given: the file that declares the environments, or the declarations themselves.

    A DAG built from YAML passes the ``environments:`` section it inherited, already checked at its
    file and line; a Python DAG may pass its defaults.yaml instead.
    """
    if isinstance(declared, str | Path):
        return load_environments(declared)
    from pydantic import ValidationError

    from airflow_mlops.errors import ConfigIssue
    from airflow_mlops.spec.document import format_loc

    where = "environments= (given to the operator)"
    try:
        checked = EnvironmentsDocument.model_validate({"environments": dict(declared)})
    except ValidationError as err:
        raise PipelineConfigError(
            [ConfigIssue(where, None, None, format_loc(e["loc"]), e["msg"], _HINT) for e in err.errors()]
        ) from err
    issues = environment_issues(checked.environments)
    if issues:
        raise PipelineConfigError([ConfigIssue(where, None, None, format_loc(loc), m, h) for loc, m, h in issues])
    return dict(checked.environments)
