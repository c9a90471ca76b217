"""The contract check reads a frame's names, types and numbers once, and a view answers as the frame does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from airflow_mlops.data_contract import frames, types
from airflow_mlops.data_contract.frames import FrameView, float_block
from airflow_mlops.data_contract.model import DataContract
from airflow_mlops.data_contract.settings import SplitSettings
from airflow_mlops.ml.contract_check import ContractSettings, check_contract

from .conftest import rules


def test_one_check_reads_the_column_types_and_converts_the_numbers_once(
    clean: pd.DataFrame, champion: DataContract, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each read costs tens to hundreds of microseconds and every rule asks (issue #13): count them.
    reads = {"types": 0, "numbers": 0}
    column_types, to_numpy = types.column_types, pd.DataFrame.to_numpy

    def counted_types(frame: pd.DataFrame) -> object:
        reads["types"] += 1
        return column_types(frame)

    def counted_numpy(self: pd.DataFrame, *args: object, **kwargs: object) -> np.ndarray:
        reads["numbers"] += 1
        return to_numpy(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(frames, "column_types", counted_types)
    monkeypatch.setattr(pd.DataFrame, "to_numpy", counted_numpy)
    outcome = check_contract(
        clean, ContractSettings(target="target"), SplitSettings(test_size=0.25, stratify=True), ("3", champion)
    )
    assert outcome.passed and outcome.features == [c for c in clean.columns if c != "target"]
    assert reads == {"types": 1, "numbers": 1}


def test_the_view_reads_the_same_numbers_as_the_frame() -> None:
    frame = pd.DataFrame({"a": [1.0, np.inf], "b": pd.array([1, None], dtype="Int64"), "c": [True, False], "d": [3, 4]})
    mixed = frame.assign(name=["x", "y"])
    for source in (frame, mixed):
        np.testing.assert_array_equal(
            FrameView(source).float_block(["d", "b", "a"]), float_block(source, ["d", "b", "a"])
        )


def test_a_view_of_a_frame_that_repeats_a_name_finds_every_issue_a_bare_frame_does(clean: pd.DataFrame) -> None:
    from airflow_mlops.data_contract.checks import check_frame

    frame = pd.concat([clean, clean[["target"]]], axis=1)
    frame.iloc[0, 0] = np.inf
    contract = DataContract.from_spec("target")
    found = rules(check_frame(FrameView(frame), contract))
    assert found == rules(check_frame(frame, contract))
    assert found[("duplicate_column", "target")] is True
    assert found[("feature_not_finite", str(clean.columns[0]))] is True
