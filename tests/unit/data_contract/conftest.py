"""Frames for the data-contract tests: the bundled breast cancer data (no download) and helpers."""

from __future__ import annotations

import pandas as pd
import pytest

from airflow_mlops.data_contract.checks import check_frame
from airflow_mlops.data_contract.issues import ContractIssue
from airflow_mlops.data_contract.model import DataContract
from airflow_mlops.demo.datasets import breast_cancer_frame


@pytest.fixture(scope="session")
def _clean() -> pd.DataFrame:
    return breast_cancer_frame()


@pytest.fixture
def clean(_clean: pd.DataFrame) -> pd.DataFrame:
    """A fresh copy each test may break."""
    return _clean.copy()


@pytest.fixture
def champion(_clean: pd.DataFrame) -> DataContract:
    """The contract of a champion trained on the clean data, as its signature would record it."""
    return DataContract.from_frame(_clean, "target")


def rules(issues: list[ContractIssue]) -> dict[tuple[str, str | None], bool]:
    """(rule, column) -> blocks, for asserting exactly what fired."""
    return {(issue.rule, issue.column): issue.blocking for issue in issues}


def check(frame: pd.DataFrame, **kwargs: object) -> list[ContractIssue]:
    contract = kwargs.pop("contract", None) or DataContract.from_spec("target")
    return check_frame(frame, contract, **kwargs)  # type: ignore[arg-type]
