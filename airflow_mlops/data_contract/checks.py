"""Check a dataset against its contract before training: every problem, in one pass.

:func:`check_frame` returns a list of :class:`~airflow_mlops.data_contract.issues.ContractIssue`
and raises nothing: the operator that calls it decides to stop the run when any issue
blocks, and shows :func:`~airflow_mlops.data_contract.issues.format_diff` of them all, so one
run tells the user everything to fix rather than one problem per retry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_mlops.data_contract.columns import (
    candidate_features,
    duplicate_issues,
    id_like_issues,
    infinite_issues,
    missing_issues,
    new_column_issues,
    numeric_text_issues,
    resolve_features,
    type_issues,
)
from airflow_mlops.data_contract.frames import FrameView
from airflow_mlops.data_contract.leakage import leakage_issues
from airflow_mlops.data_contract.settings import CheckSettings, SplitSettings
from airflow_mlops.data_contract.target import target_issues

if TYPE_CHECKING:
    import pandas as pd

    from airflow_mlops.data_contract.issues import ContractIssue
    from airflow_mlops.data_contract.model import DataContract
    from airflow_mlops.data_contract.vocabulary import Problem

__all__ = ["candidate_features", "check_frame", "resolve_features"]


def check_frame(
    frame: pd.DataFrame | FrameView,
    contract: DataContract,
    *,
    reference: DataContract | None = None,
    problem: Problem = "classification",
    split: SplitSettings | None = None,
    settings: CheckSettings | None = None,
) -> list[ContractIssue]:
    """Every problem of ``frame`` against the YAML's ``contract`` and the champion's ``reference``.

    Column rules always run. The target rules need the target column, and the leakage rules
    a usable target too (leakage cannot be judged against a single class or a NaN label);
    ``settings`` turns rule groups off and sets their thresholds.
    """
    frame = FrameView.of(frame)  # every rule reads the names, types and numbers computed once here
    split = split or SplitSettings()
    settings = settings or CheckSettings()
    issues = [
        *duplicate_issues(frame, contract),
        *missing_issues(frame, contract, reference),
        *new_column_issues(frame, contract, reference),
        *type_issues(frame, contract, reference),
    ]
    # Value rules judge what will be trained on: a new column left out (on_new_columns: ignore) is not encoded.
    trained = set(resolve_features(frame, contract, reference))
    values = [*numeric_text_issues(frame, contract, settings), *infinite_issues(frame, contract)]
    if settings.id_like:
        values += id_like_issues(frame, contract, settings)
    issues += [issue for issue in values if issue.column in trained]
    target = contract.target
    if target is None or target not in frame.present:
        return issues
    labels = frame.column(target)
    found = target_issues(labels, problem, split, settings) if settings.target else []
    issues += found
    if settings.leakage and not any(issue.blocking for issue in found):
        features = resolve_features(frame, contract, reference)
        issues += leakage_issues(frame, target, features, problem, settings)
    return issues
