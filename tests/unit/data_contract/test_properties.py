"""Properties of check_frame over generated frames: clean data never blocks, every problem shows at once."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_mlops.data_contract.checks import check_frame
from airflow_mlops.data_contract.model import DataContract
from airflow_mlops.data_contract.settings import SplitSettings


def _clean_frame(seed: int, rows: int, features: int, classes: int, with_text: bool) -> pd.DataFrame:
    """Features independent of a balanced label: nothing in it is wrong."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"f{i}": rng.normal(size=rows) * rng.uniform(0.1, 100) for i in range(features)})
    if with_text:
        frame["colour"] = rng.choice(["red", "green", "blue"], size=rows)
    frame["target"] = np.arange(rows) % classes
    return frame


frames = st.builds(
    _clean_frame,
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(60, 400),
    features=st.integers(1, 6),
    classes=st.integers(2, 4),
    with_text=st.booleans(),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames)
def test_a_clean_frame_never_yields_a_blocking_issue(frame: pd.DataFrame) -> None:
    contract = DataContract.from_spec("target")
    reference = DataContract.from_frame(frame, "target")

    issues = check_frame(frame, contract, reference=reference, split=SplitSettings(test_size=0.25))

    assert [issue for issue in issues if issue.blocking] == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames, data=st.data())
def test_every_injected_problem_is_reported_in_the_same_pass(frame: pd.DataFrame, data: st.DataObject) -> None:
    reference = DataContract.from_frame(frame, "target")
    dropped = data.draw(st.sampled_from([c for c in frame.columns if c.startswith("f")]))
    broken = frame.drop(columns=[dropped]).assign(
        order_ref=[f"o{i}" for i in range(len(frame))], answer=frame["target"]
    )

    found = {(i.rule, i.column) for i in check_frame(broken, DataContract.from_spec("target"), reference=reference)
             if i.blocking}  # fmt: skip

    assert {
        ("missing_column", dropped),
        ("unexpected_column", "order_ref"),
        ("unexpected_column", "answer"),
        ("id_like_string", "order_ref"),
        ("leakage_equals_target", "answer"),
    } <= found


@given(frame=frames)
@settings(max_examples=20, deadline=None)
def test_the_contract_of_a_frame_survives_its_json_record(frame: pd.DataFrame) -> None:
    contract = DataContract.from_frame(frame, "target")

    assert DataContract.from_json(contract.to_json()) == contract
    assert contract.names == tuple(c for c in frame.columns if c != "target")
