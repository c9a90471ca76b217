"""Checks on the label: enough classes with enough rows for the split, finite numbers, a valid split.

Each failure here used to surface later as a raw scikit-learn error in training ("needs
samples of at least 2 classes") or as NaN metrics at the gate; here it names the rule.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from airflow_mlops.data_contract.issues import ContractIssue
from airflow_mlops.data_contract.types import is_text, logical_type_of

if TYPE_CHECKING:
    import pandas as pd

    from airflow_mlops.data_contract.settings import CheckSettings, SplitSettings
    from airflow_mlops.data_contract.vocabulary import Problem

_SHOWN = 5


def target_issues(
    labels: pd.Series, problem: Problem, split: SplitSettings, settings: CheckSettings
) -> list[ContractIssue]:
    """Every problem with the target column ``labels`` for this problem and split."""
    name = str(labels.name)
    if problem == "regression":
        return _regression(labels, name, split)
    return _classification(labels, name, split, settings)


def _classification(labels: pd.Series, name: str, split: SplitSettings, settings: CheckSettings) -> list[ContractIssue]:
    import numpy as np

    issues = []
    missing = int(labels.isna().sum())
    if missing:
        message = f"{missing} row(s) have no label; drop or label them before training"
        issues.append(ContractIssue("target_null", name, message))
    known = labels.dropna()
    if logical_type_of(labels) == "float" and len(known) and not bool(np.all(np.mod(known, 1) == 0)):
        example = next(v for v in known if v % 1 != 0)
        message = f"holds continuous values such as {_shown(example)}; set problem: regression, or bin it into classes"
        issues.append(ContractIssue("target_continuous", name, message))
        return issues
    counts = known.value_counts()
    if len(counts) < 2:
        only = f"only {_shown(counts.index[0])}" if len(counts) else "no labels at all"
        message = f"has {only}; a classifier needs at least two classes in the data"
        issues.append(ContractIssue("single_class", name, message))
        return issues
    needed = split.rows_per_class(settings.min_rows_per_class)
    small = counts[counts < needed]
    if len(small):
        listed = ", ".join(f"{_shown(label)}: {count}" for label, count in small.head(_SHOWN).items())
        more = f" and {len(small) - _SHOWN} more" if len(small) > _SHOWN else ""
        message = f"class(es) with fewer than {needed} rows ({listed}{more}); the split (test_size "
        message += f"{split.test_size}{_folds(split)}) needs {needed} per class: add rows, or merge or drop the class"
        issues.append(ContractIssue("class_too_small", name, message))
    issues += _too_few_rows(name, len(known), split, classes=len(counts))
    return issues


def _regression(labels: pd.Series, name: str, split: SplitSettings) -> list[ContractIssue]:
    import numpy as np

    issues = []
    if split.stratify:
        message = "split.stratify is true but problem is regression; a continuous target cannot be stratified"
        issues.append(ContractIssue("stratify_regression", name, message))
    kind = logical_type_of(labels)
    if is_text(kind) or kind == "datetime":
        message = f"holds {kind} values; problem: regression needs numbers (or set problem: classification)"
        issues.append(ContractIssue("target_not_numeric", name, message, found=kind))
        return issues
    values = labels.to_numpy(dtype="float64", na_value=np.nan)
    bad = int((~np.isfinite(values)).sum())
    if bad:
        message = f"{bad} row(s) hold NaN or infinity; a regression target must be a finite number on every row"
        issues.append(ContractIssue("target_not_finite", name, message))
    issues += _too_few_rows(name, len(values) - bad, split, classes=1)
    return issues


def _too_few_rows(name: str, rows: int, split: SplitSettings, *, classes: int) -> list[ContractIssue]:
    """scikit-learn puts ``ceil(rows * test_size)`` rows in the test set; each side needs its share."""
    test = math.ceil(rows * split.test_size)
    train = rows - test
    need = max(2, classes if split.stratify else 2)
    if test >= need and train >= need:
        return []
    message = f"{rows} labelled row(s) split into {train} train / {test} test; each side needs at least {need}"
    return [ContractIssue("too_few_rows", name, message)]


def _shown(value: object) -> str:
    """A label as a person wrote it: 1 or 'yes', not np.int64(1)."""
    item = getattr(value, "item", None)
    return repr(item() if callable(item) else value)


def _folds(split: SplitSettings) -> str:
    return f", {split.cv_folds} CV folds" if split.cv_folds else ""
