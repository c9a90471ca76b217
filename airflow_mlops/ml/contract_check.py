"""prepare_data's contract check: the pinned data against the YAML and the champion, before any split.

Bad data must stop the run here, naming the column and the rule, rather than train a model on
it (issue #14): a second label column, an identifier one-hot encoded into a column per row, a
feature that is the answer. :mod:`airflow_mlops.data_contract` finds the issues; this module
builds the contracts from the operator's settings and the champion's signature, records the
outcome on the pipeline's MLflow run (also when it fails: the record is where people look) and
raises :class:`~airflow_mlops.errors.DataContractError` when any issue blocks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_mlops.data_contract.checks import check_frame, resolve_features
from airflow_mlops.data_contract.frames import FrameView
from airflow_mlops.data_contract.issues import ContractIssue, blocking, format_diff
from airflow_mlops.data_contract.model import ContractPolicies, DataContract
from airflow_mlops.data_contract.settings import CheckSettings, SplitSettings
from airflow_mlops.errors import DataContractError
from airflow_mlops.record import paths, tag

if TYPE_CHECKING:
    import pandas as pd

    from airflow_mlops.data_contract.vocabulary import Problem
    from airflow_mlops.hooks.mlflow import MlflowHook


@dataclass(frozen=True)
class ContractSettings:
    """What the pipeline declares about its data (the YAML's ``data:`` section, or a Python DAG's arguments)."""

    target: str
    features: Sequence[str] | None = None
    columns: Mapping[str, str] | None = None
    policies: Mapping[str, str] = field(default_factory=dict)
    id_columns: Sequence[str] = ()
    categorical: Sequence[str] = ()
    checks: Mapping[str, Any] = field(default_factory=dict)
    problem: Problem = "classification"

    def declared(self) -> DataContract:
        policies = ContractPolicies(
            **dict(self.policies), id_columns=tuple(self.id_columns), categorical=tuple(self.categorical)
        )
        return DataContract.from_spec(self.target, self.features, self.columns, policies)


@dataclass(frozen=True)
class ContractOutcome:
    """The check's result: the features to train on, the contract they make, and every issue found."""

    features: list[str]
    contract: DataContract
    issues: list[ContractIssue]
    against: str

    @property
    def passed(self) -> bool:
        return not blocking(self.issues)

    def record(self) -> dict[str, Any]:
        """The JSON document stored as ``data/contract.json`` on the pipeline run."""
        return {
            "passed": self.passed,
            "against": self.against,
            "contract": self.contract.model_dump(mode="json"),
            "features": self.features,
            "issues": [
                {
                    "rule": i.rule,
                    "column": i.column,
                    "message": i.message,
                    "blocking": i.blocking,
                    "expected": i.expected,
                    "found": i.found,
                }
                for i in self.issues
            ],
            "diff": format_diff(self.issues, self.against),
        }


def check_contract(
    frame: pd.DataFrame,
    settings: ContractSettings,
    split: SplitSettings,
    reference: tuple[str, DataContract] | None,
) -> ContractOutcome:
    """Every issue of ``frame`` against the declared contract and the champion's (``(version, contract)``)."""
    declared = settings.declared()
    champion = reference[1] if reference is not None else None
    view = FrameView(frame)  # the check, the features and the recorded contract read the frame once
    issues = check_frame(
        view,
        declared,
        reference=champion,
        problem=settings.problem,
        split=split,
        settings=CheckSettings(**dict(settings.checks)),
    )
    features = resolve_features(view, declared, champion)
    trained = DataContract.from_kinds(view.kinds, settings.target, features, declared.policies)
    against = "the pipeline's contract"
    if reference is not None:
        against = f"the champion's signature (version {reference[0]}) and the pipeline's contract"
    return ContractOutcome(features=features, contract=trained, issues=issues, against=against)


def champion_contract(hook: MlflowHook, model_name: str, alias: str) -> tuple[str, DataContract] | None:
    """The columns the current champion was trained on, from its MLflow signature; None without a champion."""
    version = hook.alias_version(model_name, alias)
    if version is None:
        return None
    inputs = hook.model_signature_inputs(f"models:/{model_name}/{version.version}")
    if not inputs:
        return None
    return str(version.version), DataContract.from_signature(inputs)


def record_outcome(hook: MlflowHook, outcome: ContractOutcome, experiment: str, dag_id: str, run_id: str) -> str:
    """Store the check on the pipeline's MLflow run; returns that run's id."""
    experiment_id = hook.get_or_create_experiment(experiment)
    parent = hook.get_or_create_pipeline_run(experiment_id, dag_id, run_id)
    hook.log_json(parent, outcome.record(), paths.DATA_CONTRACT)
    hook.log_batch(parent, tags={tag.CONTRACT_PASSED: str(outcome.passed).lower()})
    return parent


def refuse(outcome: ContractOutcome, where: str) -> DataContractError:
    """The error that stops the run: every issue, column and rule, as the diff a person fixes from."""
    stops = blocking(outcome.issues)
    named = ", ".join(f"{issue.column or '(data)'}: {issue.rule}" for issue in stops)
    return DataContractError(
        f"data {where} breaks its data contract, training will not start ({named}):\n"
        f"{format_diff(outcome.issues, outcome.against)}"
    )
