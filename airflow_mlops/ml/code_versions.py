"""The versions of the code that shapes a step's result, as a step cache key holds them.

A released library is named by its installed version. Code with no version of its own (a team's
trainer function or estimator class in their DAG repository) is named by the sha256 of its module
file, so editing it makes the next run train again.

Installed versions are read once per process: a running task keeps the library it imported, so
an upgrade reaches a key only in a new process, as it reaches the code. Reading the metadata
walks ``sys.path`` each time, and was a fifth of an unchanged re-run's time.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from importlib import metadata

#: What a candidate's result depends on, whatever its estimator: the package, the split and metric code,
#: the model's serialisation.
TRAINING_LIBRARIES = ("airflow-mlops", "scikit-learn", "numpy", "pandas", "scipy", "mlflow", "skops")
#: Distributions whose version stands for their import package, where the names differ.
_DISTRIBUTIONS = {"sklearn": "scikit-learn", "airflow_mlops": "airflow-mlops"}


def library_versions(names: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``{distribution: version}``; one that is not installed is ``"absent"`` (installing it changes the key)."""
    return {name: installed_version(name) for name in names}


@functools.cache
def installed_version(distribution: str) -> str:
    """The installed version of ``distribution``, or ``"absent"``; read once per process."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "absent"


def code_version(import_path: str) -> dict[str, str]:
    """What names the code behind ``import_path`` (``xgboost.XGBClassifier``, ``my_team.trainers.fit``).

    An installed distribution gives its version; otherwise the module's source file its sha256,
    found without importing the module itself (only its parent packages, as Python must).
    """
    top = import_path.split(".", 1)[0]
    distribution = _DISTRIBUTIONS.get(top, top)
    version = installed_version(distribution)
    if version != "absent":
        return {distribution: version}
    module = import_path.rsplit(".", 1)[0] if "." in import_path else import_path
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    origin = spec.origin if spec is not None else None
    if not origin or not origin.endswith(".py"):
        return {module: "unknown"}
    with open(origin, "rb") as source:
        return {module: "sha256:" + hashlib.sha256(source.read()).hexdigest()}
