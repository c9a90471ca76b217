"""Checks on the set of columns and their types: duplicates, schema drift, ids, broken numbers.

The reference is the contract of the champion (its MLflow signature): a column it did not
have, one it had and the data lacks, or one whose type moved to another family is shown as a
diff and stops the run unless the YAML's policy says ``ignore``. A column the YAML declares
(in ``features``) is expected, so a new declared feature is reported but allowed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from airflow_mlops.data_contract.frames import FrameView
from airflow_mlops.data_contract.header import mangled_duplicates
from airflow_mlops.data_contract.issues import ContractIssue
from airflow_mlops.data_contract.model import ColumnContract, DataContract
from airflow_mlops.data_contract.types import is_text, same_family

if TYPE_CHECKING:
    import pandas as pd

    from airflow_mlops.data_contract.settings import CheckSettings

_ID_NAME = re.compile(r"(^|_)(id|uuid|guid|key)$|^(uuid|guid)", re.IGNORECASE)
_CAMEL_ID = re.compile(r"[a-z](Id|ID|Uuid|UUID)$")
_DECLARE = "declare it in data.id_columns to leave it out, or in data.categorical to one-hot encode it anyway"


def candidate_features(frame: pd.DataFrame | FrameView, contract: DataContract) -> list[str]:
    """The features the data offers: the declared ones it has, or every column but target and ids."""
    present = FrameView.of(frame).present
    if contract.closed:
        return [name for name in contract.names if name in present]
    skip = {contract.target, *contract.policies.id_columns}
    return [name for name in present if name not in skip]


def resolve_features(
    frame: pd.DataFrame | FrameView, contract: DataContract, reference: DataContract | None
) -> list[str]:
    """The features to train on: the candidates, minus new columns the policy says to ignore."""
    features = candidate_features(frame, contract)
    if reference is None or not reference.closed or contract.policies.on_new_columns == "fail":
        return features
    known = {*reference.names, *contract.names}
    return [name for name in features if name in known]


def duplicate_issues(frame: pd.DataFrame | FrameView, contract: DataContract) -> list[ContractIssue]:
    names = FrameView.of(frame).names
    issues = [
        ContractIssue(
            "duplicate_column",
            name,
            f"the data has {names.count(name)} columns with this name; remove or rename the copies",
        )
        for name in dict.fromkeys(n for n in names if names.count(n) > 1)
    ]
    declared = [*contract.names, *contract.policies.categorical, *contract.policies.id_columns]
    for copy, original in mangled_duplicates(names, declared).items():
        issues.append(
            ContractIssue(
                "duplicate_column",
                copy,
                f"looks like a second {original!r} column that pandas renamed to {copy!r}; remove the repeated "
                f"header from the file (if {copy!r} is a real column, list it in data.features or data.columns)",
            )
        )
    return issues


def missing_issues(
    frame: pd.DataFrame | FrameView, contract: DataContract, reference: DataContract | None
) -> list[ContractIssue]:
    view = FrameView.of(frame)
    present = set(view.present)
    issues = []
    if contract.target is not None and contract.target not in present:
        issues.append(
            ContractIssue("missing_column", contract.target, "the target column is not in the data", True, "target")
        )
    fail = contract.policies.on_missing_columns == "fail"
    for column in contract.columns:
        if column.name not in present:
            declared = "listed in data.features" if contract.closed else "declared in data.columns"
            issues.append(
                ContractIssue(
                    "missing_column",
                    column.name,
                    f"{declared} but not in the data; add it to the file or remove it from the YAML",
                    contract.closed or fail,
                    expected=column.type,
                )
            )
    if reference is None:
        return issues
    features = set(candidate_features(view, contract))
    for column in reference.columns:
        if column.name in features or contract.column(column.name) is not None:
            continue
        if column.name in present:
            message, stops = "the champion used it; the YAML now leaves it out", False
        else:
            message = "the champion was trained on it and the data lacks it, so the champion cannot be compared"
            message += "; restore the column, or set data.on_missing_columns: ignore to train without it"
            stops = fail and column.required
        issues.append(ContractIssue("missing_column", column.name, message, stops, expected=column.type))
    return issues


def new_column_issues(
    frame: pd.DataFrame | FrameView, contract: DataContract, reference: DataContract | None
) -> list[ContractIssue]:
    if reference is None or not reference.closed:
        return []
    view = FrameView.of(frame)
    known = set(reference.names)
    kinds = view.kinds
    issues = []
    for name in candidate_features(view, contract):
        if name in known:
            continue
        found = kinds[name]
        if contract.column(name) is not None:
            message, stops = "new since the champion; the YAML declares it, so it is trained on", False
        elif contract.policies.on_new_columns == "ignore":
            message, stops = "new since the champion; left out of training (on_new_columns: ignore)", False
        else:
            message = "new since the champion; list it in data.features to train on it, or set "
            message += "data.on_new_columns: ignore to leave new columns out"
            stops = True
        issues.append(ContractIssue("unexpected_column", name, message, stops, found=found))
    return issues


def type_issues(
    frame: pd.DataFrame | FrameView, contract: DataContract, reference: DataContract | None
) -> list[ContractIssue]:
    kinds = FrameView.of(frame).kinds
    fail = contract.policies.on_type_change == "fail"
    issues = []
    declared = [*contract.columns]
    if contract.target is not None and contract.target_type is not None:
        declared.append(ColumnContract(name=contract.target, type=contract.target_type))
    for column in declared:
        if column.type is None or column.name not in kinds:
            continue
        found = kinds[column.name]
        if not same_family(column.type, found):
            message = f"declared {column.type} in the YAML but the data holds {found}; fix the values or the YAML"
            issues.append(ContractIssue("type_changed", column.name, message, fail, column.type, found))
    if reference is None:
        return issues
    reported = {issue.column for issue in issues}
    for column in reference.columns:
        if column.type is None or column.name not in kinds or column.name in reported:
            continue
        found = kinds[column.name]
        if column.type == found or {column.type, found} == {"string", "category"}:
            continue
        if same_family(column.type, found):
            message, stops = f"the champion saw {column.type}; still a {found} the model can read", False
        else:
            message = f"the champion saw {column.type}; fix the values, or set data.on_type_change: ignore"
            stops = fail
        issues.append(ContractIssue("type_changed", column.name, message, stops, column.type, found))
    return issues


def id_like_issues(
    frame: pd.DataFrame | FrameView, contract: DataContract, settings: CheckSettings
) -> list[ContractIssue]:
    """Text columns that would be one-hot encoded into one column per row, and numbered ids."""
    view = FrameView.of(frame)
    rows = len(view)
    kinds = view.kinds
    issues = []
    for name in candidate_features(view, contract):
        if rows == 0 or contract.declared_categorical(name):
            continue
        kind = kinds[name]
        named = bool(_ID_NAME.search(name) or _CAMEL_ID.search(name))
        if not (is_text(kind) or (kind == "integer" and named)):
            continue  # counting distinct values is the costly part; only these two cases use it
        if is_text(kind) and view.numeric_share(name)[0] >= settings.numeric_text_ratio:
            continue  # a number column with a few bad values: numeric_text says so
        unique = int(view.column(name).nunique(dropna=True))
        many = unique / rows > settings.id_max_unique_ratio
        if is_text(kind) and many and (named or unique > settings.id_min_unique):
            message = f"{unique} distinct values in {rows} rows look like an identifier, not a category; {_DECLARE}"
            issues.append(ContractIssue("id_like_string", name, message, found=kind))
        elif kind == "integer" and named and many:
            message = f"named like an identifier with {unique} distinct values in {rows} rows; "
            message += "declare it in data.id_columns to leave it out, or list it in data.features to keep it"
            if not contract.closed:
                issues.append(ContractIssue("id_like_number", name, message, found=kind))
    return issues


def numeric_text_issues(
    frame: pd.DataFrame | FrameView, contract: DataContract, settings: CheckSettings
) -> list[ContractIssue]:
    """Text columns that are numbers but for a few values, such as a measurement holding "abc"."""
    view = FrameView.of(frame)
    kinds = view.kinds
    issues = []
    for name in candidate_features(view, contract):
        declared = contract.column(name)
        if contract.declared_categorical(name) or (declared is not None and declared.type is not None):
            continue
        if not is_text(kinds[name]):
            continue
        share, bad = view.numeric_share(name)
        if bad.empty or share < settings.numeric_text_ratio:
            continue
        examples = ", ".join(repr(str(v)) for v in bad.unique()[:3])
        message = f"holds numbers but for {len(bad)} value(s) such as {examples}; "
        message += "fix those values, or declare its type in data.columns if it really is text"
        issues.append(ContractIssue("numeric_text", name, message, found="string"))
    return issues


def infinite_issues(frame: pd.DataFrame | FrameView, contract: DataContract) -> list[ContractIssue]:
    """Number features holding infinity: imputation fills NaN, but scikit-learn refuses inf outright."""
    import numpy as np

    view = FrameView.of(frame)
    names = [name for name in candidate_features(view, contract) if view.kinds[name] == "float"]
    if not names:
        return []
    block = view.float_block(names)
    issues = []
    for name, count in zip(names, np.isinf(block).sum(axis=0).tolist(), strict=True):
        if count:
            message = f"{count} row(s) hold infinity, which no estimator accepts; replace them (e.g. with empty cells)"
            issues.append(ContractIssue("feature_not_finite", name, message, found="float"))
    return issues
