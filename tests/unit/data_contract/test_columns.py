"""Column rules: each fires on a frame built to break it, and the clean data passes them all."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from airflow_mlops.data_contract.checks import check_frame, resolve_features
from airflow_mlops.data_contract.issues import format_diff
from airflow_mlops.data_contract.model import ContractPolicies, DataContract

from .conftest import check, rules


def test_the_clean_data_passes_against_the_yaml_and_the_champion(clean: pd.DataFrame, champion: DataContract) -> None:
    assert check(clean) == []
    assert check(clean, reference=champion) == []


def test_a_duplicated_label_column_is_refused_and_suspected_of_leakage(clean: pd.DataFrame) -> None:
    text = clean.assign(copy=clean["target"]).to_csv(index=False).replace(",copy\n", ",target\n", 1)
    frame = pd.read_csv(io.StringIO(text))
    assert "target.1" in frame.columns

    found = rules(check(frame))

    assert found[("duplicate_column", "target.1")] is True
    assert found[("leakage_equals_target", "target.1")] is True


def test_a_frame_with_repeated_names_in_memory_is_refused(clean: pd.DataFrame) -> None:
    frame = pd.concat([clean, clean[["mean_radius"]]], axis=1)

    assert rules(check(frame))[("duplicate_column", "mean_radius")] is True


def test_new_missing_and_retyped_columns_against_the_champion(clean: pd.DataFrame, champion: DataContract) -> None:
    frame = clean.drop(columns=["mean_area"]).assign(
        customer_id=[f"c{i}" for i in range(len(clean))],
        worst_area=clean["worst_area"].astype(str).where(clean.index != 3, "abc"),
        mean_radius=clean["mean_radius"].round().astype("int64"),
    )

    issues = check(frame, reference=champion)

    assert rules(issues) == {
        ("missing_column", "mean_area"): True,
        ("unexpected_column", "customer_id"): True,
        ("type_changed", "worst_area"): True,
        ("type_changed", "mean_radius"): False,  # float -> integer: same family, reported only
        ("numeric_text", "worst_area"): True,
        ("id_like_string", "customer_id"): True,
    }
    diff = format_diff(issues, "the champion's signature")
    assert diff.splitlines()[0] == "the data differs from the champion's signature: 6 issue(s), 5 stopping the run"
    assert "\n- mean_area (float)  [blocks] " in diff
    assert "\n+ customer_id (string)  [blocks] " in diff
    assert "\n~ worst_area: float -> string  [blocks] " in diff
    assert "\n~ mean_radius: float -> integer  [allowed] " in diff
    assert "\n! worst_area: numeric_text  [blocks] holds numbers but for 1 value(s) such as 'abc'" in diff


def test_policies_let_differences_through_when_the_yaml_opts_in(clean: pd.DataFrame, champion: DataContract) -> None:
    frame = clean.drop(columns=["mean_area"]).assign(extra=np.arange(len(clean)) % 7)
    lenient = DataContract.from_spec(
        "target", policies=ContractPolicies(on_new_columns="ignore", on_missing_columns="ignore")
    )

    issues = check_frame(frame, lenient, reference=champion)

    assert rules(issues) == {("missing_column", "mean_area"): False, ("unexpected_column", "extra"): False}
    assert "extra" not in resolve_features(frame, lenient, champion)
    assert "extra" in resolve_features(frame, DataContract.from_spec("target"), champion)


def test_a_new_feature_declared_in_the_yaml_is_allowed(clean: pd.DataFrame, champion: DataContract) -> None:
    frame = clean.assign(extra=np.arange(len(clean)) % 7)
    features = [*champion.names, "extra"]

    issues = check_frame(frame, DataContract.from_spec("target", features=features), reference=champion)

    assert rules(issues) == {("unexpected_column", "extra"): False}


def test_declared_features_and_target_must_exist(clean: pd.DataFrame) -> None:
    contract = DataContract.from_spec("label", features=["mean_radius", "nope"])

    assert rules(check_frame(clean, contract)) == {("missing_column", "label"): True, ("missing_column", "nope"): True}


def test_declared_types_are_checked_by_family(clean: pd.DataFrame) -> None:
    contract = DataContract.from_spec("target", columns={"mean_radius": "string", "mean_area": "integer"})

    issues = check_frame(clean, contract)

    assert rules(issues) == {("type_changed", "mean_radius"): True}
    [issue] = issues
    assert (issue.expected, issue.found) == ("string", "float")


def test_id_like_text_is_refused_unless_declared(clean: pd.DataFrame) -> None:
    frame = clean.assign(
        order_ref=[f"o-{i}" for i in range(len(clean))],
        customer_id=[f"c{i % 300}" for i in range(len(clean))],
        region=[("north", "south", "east")[i % 3] for i in range(len(clean))],
    )

    assert {key for key, stops in rules(check(frame)).items() if key[0] == "id_like_string" and stops} == {
        ("id_like_string", "order_ref"),
        ("id_like_string", "customer_id"),
    }
    declared = DataContract.from_spec(
        "target", policies=ContractPolicies(id_columns=("customer_id",), categorical=("order_ref",))
    )
    assert check_frame(frame, declared) == []
    assert "customer_id" not in resolve_features(frame, declared, None)


def test_id_name_needs_only_the_ratio_and_numbered_ids_are_caught(clean: pd.DataFrame) -> None:
    small = clean.head(15).assign(user_id=[f"u{i}" for i in range(15)], account_id=range(15))

    found = rules(check(small, settings=None))

    assert found[("id_like_string", "user_id")] is True
    assert found[("id_like_number", "account_id")] is True


def test_check_settings_turn_id_like_off_and_move_its_thresholds(clean: pd.DataFrame) -> None:
    from airflow_mlops.data_contract.settings import CheckSettings

    frame = clean.assign(code=[f"k{i % 100}" for i in range(len(clean))])  # 100 values in 569 rows: a category

    assert check(frame) == []
    assert rules(check(frame, settings=CheckSettings(id_max_unique_ratio=0.1))) == {("id_like_string", "code"): True}
    assert check(frame.assign(code=[f"k{i}" for i in range(len(clean))]), settings=CheckSettings(id_like=False)) == []


def test_infinity_in_a_feature_is_named_with_its_count(clean: pd.DataFrame) -> None:
    frame = clean.assign(mean_area=clean["mean_area"].where(clean.index % 100 != 0, np.inf))

    [issue] = check(frame)

    assert (issue.rule, issue.column, issue.blocking) == ("feature_not_finite", "mean_area", True)
    assert issue.message.startswith("6 row(s)")
