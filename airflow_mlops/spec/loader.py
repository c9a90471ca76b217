"""Load pipeline YAML into typed specs, with errors that say file:line:column and field path.

The steps, each in its own module: the YAML is read once into a node tree that keeps line
numbers and checked before any value is used (document, yaml_source, tree_checks), the
defaults.yaml files above it are merged in node by node (defaults), pydantic checks types
and every error's ``loc`` is walked back to the line the user wrote (diagnostics). This
module puts them in order, for a pipeline file and for the suite file it names.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_mlops.errors import PipelineConfigError
from airflow_mlops.spec.defaults import defaults_between, pipeline_folders, read_with_defaults
from airflow_mlops.spec.diagnostics import check, validate
from airflow_mlops.spec.document import LoadedYaml, issue_at, node_at, parse_yaml
from airflow_mlops.spec.models import RetrainingPipelineSpec
from airflow_mlops.spec.models_base import DEFAULT_ALLOWED_IMPORT_PREFIXES
from airflow_mlops.spec.models_data import SuiteFileSpec, ValidationSpec
from airflow_mlops.spec.templates import DEFAULT_TEMPLATE, TEMPLATES
from airflow_mlops.spec.yaml_source import shared_build

if TYPE_CHECKING:
    from airflow_mlops.spec.models import PipelineSpec
    from airflow_mlops.spec.models_common import PipelineBase
    from airflow_mlops.spec.models_data import Expectation


# What a file that is not a mapping at its top level should have been.
_SUITE_HINT = "a suite file is a mapping with an 'expectations:' list"
_PIPELINE_HINT = "a pipeline file is 'key: value' lines starting at column 1, e.g. 'pipeline: churn_retrain'"


def load_suite(path: Path) -> list[Expectation]:
    """Read a suite file: a mapping with ``expectations:``, each one a single-key mapping."""
    return list(load_suite_file(path).expectations)


def load_suite_file(path: Path) -> SuiteFileSpec:
    """The suite file as written: its ``name:`` and expectations."""
    # Many pipelines name the same suite; the spec is a frozen model, so one validated copy serves them all.
    return shared_build("suite", path, _parse_suite)


def _parse_suite(path: Path, text: str) -> SuiteFileSpec:
    suite: SuiteFileSpec = validate(SuiteFileSpec, parse_yaml(path, text), {}, _SUITE_HINT)
    return suite


def _template_class(doc: LoadedYaml) -> type[PipelineBase]:
    name = doc.data.get("template", DEFAULT_TEMPLATE) if isinstance(doc.data, dict) else DEFAULT_TEMPLATE
    if not isinstance(name, str) or name not in TEMPLATES:
        raise PipelineConfigError(
            [issue_at(doc, ("template",), f"unknown template {name!r}", f"templates: {', '.join(TEMPLATES)}")]
        )
    return TEMPLATES[name].spec


def load_pipeline_spec(
    path: str | Path,
    *,
    allowed_import_prefixes: Sequence[str] | None = None,
    defaults_root: str | Path | None = None,
) -> PipelineSpec:
    """Load and fully validate one pipeline file, its defaults and the suite file it refers to.

    ``defaults_root`` is the outermost folder whose defaults.yaml may apply (normally the
    dags folder); without it only a defaults.yaml beside the pipeline applies.
    """
    path = Path(path)
    folder, root = pipeline_folders(path, Path(defaults_root) if defaults_root is not None else None)
    doc = read_with_defaults(path, defaults_between(folder, root))
    prefixes = tuple(allowed_import_prefixes or DEFAULT_ALLOWED_IMPORT_PREFIXES)
    # Every problem in one pass: the schema's, then the cross-field rules' on the sections that
    # passed it, then the suite file's when the validation section names one.
    checked = check(_template_class(doc), doc, {"allowed_import_prefixes": prefixes}, _PIPELINE_HINT)
    issues = list(checked.issues)
    spec: PipelineSpec | None = checked.spec
    if spec is None:
        raise PipelineConfigError(issues)
    issues += [issue_at(doc, loc, message, hint) for loc, message, hint in spec.semantic_issues(checked.failed)]
    suite: SuiteFileSpec | None = None
    if isinstance(spec, RetrainingPipelineSpec) and "validation" not in checked.failed:
        try:
            suite = _suite_file(spec.validation, doc, path, root)
        except PipelineConfigError as err:
            issues += err.issues
    if issues:
        raise PipelineConfigError(issues)
    if isinstance(spec, RetrainingPipelineSpec) and suite is not None:
        # The suite file's own name names the report, unless the pipeline gives one.
        named = {"expectations": list(suite.expectations), "name": spec.validation.name or suite.name}
        spec = spec.model_copy(update={"validation": spec.validation.model_copy(update=named)})
    return spec


def _suite_file(validation: ValidationSpec, doc: LoadedYaml, path: Path, root: Path) -> SuiteFileSpec | None:
    """The suite file ``validation`` names (None: it names none)."""
    if validation.suite is None:
        return None
    # Relative to the file that names the suite: the pipeline, or a defaults.yaml above it.
    node = node_at(doc.root, ("validation", "suite"))
    written_in = node.start_mark.name if node is not None and not node.start_mark.name.startswith("<") else ""
    base = Path(written_in).parent if written_in else path.parent
    suite_path = Path(os.path.realpath(base / validation.suite))  # is_file() below is the one stat needed
    if not suite_path.is_relative_to(root):
        # A pipeline file may read only what its own tree holds: a suite path is a way to make
        # the DAG processor open (and quote in its errors) any file on the host otherwise.
        raise PipelineConfigError(
            [
                issue_at(
                    doc,
                    ("validation", "suite"),
                    f"suite file {validation.suite!r} is outside the pipelines folder {root}",
                    "keep suite files inside the dags folder, e.g. suites/<name>.yaml beside the pipeline",
                )
            ]
        )
    if not suite_path.is_file():
        raise PipelineConfigError(
            [
                issue_at(
                    doc,
                    ("validation", "suite"),
                    f"suite file not found: {suite_path}",
                    "the path is relative to the pipeline file",
                )
            ]
        )
    try:
        return load_suite_file(suite_path)
    except PipelineConfigError as err:
        # Lead with the pipeline's own line, so the report names the file that was validated.
        head = issue_at(
            doc,
            ("validation", "suite"),
            f"suite file {suite_path} is invalid, see below",
            "fix the suite file at the lines below; every pipeline that names it is refused until then",
        )
        raise PipelineConfigError([head, *err.issues]) from None
