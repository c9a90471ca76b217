"""The contract's builders and its JSON record."""

from __future__ import annotations

import json

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from airflow_mlops.data_contract.model import ColumnContract, ContractPolicies, DataContract
from airflow_mlops.data_contract.vocabulary import LOGICAL_TYPES


def test_from_frame_records_every_feature_with_its_logical_type() -> None:
    frame = pd.DataFrame(
        {
            "n": [1, 2],
            "x": [1.5, None],
            "flag": [True, False],
            "city": ["a", "b"],
            "tier": pd.Categorical(["lo", "hi"]),
            "when": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "target": [0, 1],
        }
    )

    contract = DataContract.from_frame(frame, "target")

    assert [(c.name, c.type) for c in contract.columns] == [
        ("n", "integer"),
        ("x", "float"),
        ("flag", "boolean"),
        ("city", "string"),
        ("tier", "category"),
        ("when", "datetime"),
    ]
    assert contract.target_type == "integer" and contract.closed and contract.source == "frame"


def test_from_frame_leaves_out_declared_ids_and_keeps_declared_feature_order() -> None:
    frame = pd.DataFrame({"a": [1], "b": [2.0], "row_id": ["r1"], "target": [0]})

    assert DataContract.from_frame(frame, "target", policies=ContractPolicies(id_columns=("row_id",))).names == (
        "a",
        "b",
    )
    assert DataContract.from_frame(frame, "target", features=["b", "a"]).names == ("b", "a")


def test_from_spec_is_closed_only_when_features_are_listed() -> None:
    typed = DataContract.from_spec("y", columns={"a": "float", "y": "integer", "b": "double"})
    listed = DataContract.from_spec("y", features=["a", "c"], columns={"a": "category"})

    assert not typed.closed and typed.names == ("a", "b") and typed.target_type == "integer"
    assert typed.column("b") == ColumnContract(name="b", type="float")  # MLflow's names are understood
    assert listed.closed and [(c.name, c.type) for c in listed.columns] == [("a", "category"), ("c", None)]


def test_from_signature_reads_every_plain_form_of_a_real_mlflow_signature() -> None:
    from mlflow.models import infer_signature

    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"], "d": [True, False]})
    signature = infer_signature(frame.astype({"a": "float64"}))
    forms = [signature.inputs.to_dict(), json.dumps(signature.inputs.to_dict()), signature.to_dict()]

    contracts = [DataContract.from_signature(form) for form in forms]

    expected = (("a", "float"), ("b", "float"), ("c", "string"), ("d", "boolean"))
    for contract in contracts:
        assert tuple((c.name, c.type) for c in contract.columns) == expected
        assert contract.closed and contract.source == "signature"


def test_signature_types_map_by_family_and_optional_columns_stay_optional() -> None:
    inputs = [
        {"name": "n", "type": "long"},
        {"name": "i", "type": "integer", "required": False},
        {"name": "t", "type": "datetime"},
        {"name": "blob", "type": "binary"},
    ]

    contract = DataContract.from_signature(inputs)

    assert [(c.name, c.type, c.required) for c in contract.columns] == [
        ("n", "integer", True),
        ("i", "integer", False),
        ("t", "datetime", True),
        ("blob", "string", True),
    ]


def test_a_signature_without_column_names_gives_an_open_contract() -> None:
    tensor = [{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}]

    contract = DataContract.from_signature(tensor)

    assert contract.columns == () and not contract.closed


names = st.text(alphabet="abcdefghij_.0123456789", min_size=1, max_size=8)


@given(
    columns=st.lists(st.tuples(names, st.sampled_from((*LOGICAL_TYPES, None)), st.booleans()), max_size=6),
    policy=st.sampled_from(("fail", "ignore")),
    closed=st.booleans(),
)
def test_json_round_trip_keeps_every_field(
    columns: list[tuple[str, str | None, bool]], policy: str, closed: bool
) -> None:
    contract = DataContract(
        source="spec",
        target="y",
        target_type="integer",
        columns=tuple(ColumnContract(name=n, type=t, required=r) for n, t, r in columns),  # type: ignore[arg-type]
        closed=closed,
        policies=ContractPolicies(on_new_columns=policy, categorical=("a",), id_columns=("b",)),  # type: ignore[arg-type]
    )

    text = contract.to_json()

    assert DataContract.from_json(text) == contract
    assert json.loads(text)["policies"]["on_new_columns"] == policy
