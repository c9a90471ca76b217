"""Step cache keys: equal content, equal digest; any change, another digest and a reason that names it."""

from __future__ import annotations

import pytest

from airflow_mlops.record.cache import CacheOutcome, StepKey, canonical_json, miss_reason

BASE = StepKey(
    step="train.forest",
    inputs={"data_md5": "a" * 32},
    spec={"estimator": "sklearn.ensemble.RandomForestClassifier", "params": {"n_estimators": 100, "max_depth": 5}},
    versions={"scikit-learn": "1.7.2", "airflow-mlops": "0.1.0"},
    upstream={"prepare_data": "b" * 64},
)


def test_the_digest_ignores_key_order_and_integral_float_spelling() -> None:
    reordered = StepKey(
        step="train.forest",
        upstream={"prepare_data": "b" * 64},
        versions={"airflow-mlops": "0.1.0", "scikit-learn": "1.7.2"},
        spec={
            "params": {"max_depth": 5.0, "n_estimators": 100},
            "estimator": "sklearn.ensemble.RandomForestClassifier",
        },
        inputs={"data_md5": "a" * 32},
    )
    assert reordered.digest == BASE.digest
    assert canonical_json({"b": [1.0, 2.5], "a": None}) == '{"a":null,"b":[1,2.5]}'


@pytest.mark.parametrize(
    ("part", "changed", "reason"),
    [
        ("inputs", {"data_md5": "c" * 32}, "inputs.data_md5: "),
        (
            "spec",
            {"estimator": "sklearn.ensemble.RandomForestClassifier", "params": {"n_estimators": 200, "max_depth": 5}},
            "spec.params.n_estimators: 100 -> 200",
        ),
        ("versions", {"scikit-learn": "1.8.0", "airflow-mlops": "0.1.0"}, 'versions.scikit-learn: "1.7.2" -> "1.8.0"'),
        ("upstream", {"prepare_data": "d" * 64}, "prepare_data changed upstream"),
    ],
)
def test_every_part_of_the_key_changes_the_digest_and_is_named(part: str, changed: object, reason: str) -> None:
    other = BASE.model_copy(update={part: changed})
    assert other.digest != BASE.digest
    assert reason in miss_reason(BASE, other)


def test_a_field_added_or_removed_is_a_change_too() -> None:
    added = BASE.model_copy(update={"spec": {**BASE.spec, "class_weight": "balanced"}})
    assert added.digest != BASE.digest
    assert miss_reason(BASE, added) == 'spec.class_weight: (none) -> "balanced"'
    assert miss_reason(added, BASE) == 'spec.class_weight: "balanced" -> (none)'


def test_a_reason_names_three_fields_and_counts_the_rest() -> None:
    other = BASE.model_copy(
        update={"versions": {"scikit-learn": "2", "airflow-mlops": "2", "numpy": "2", "scipy": "2"}}
    )
    reason = miss_reason(BASE, other)
    assert reason.count("->") == 3
    assert reason.endswith("; and 1 more")


def test_long_values_are_cut_in_a_reason() -> None:
    other = BASE.model_copy(update={"inputs": {"data_md5": "z" * 200}})
    assert len(miss_reason(BASE, other)) < 120


def test_a_key_of_an_older_layout_is_a_miss_with_that_reason() -> None:
    older = BASE.model_copy(update={"schema_version": 0})
    assert older.digest != BASE.digest
    assert "layout changed" in miss_reason(older, BASE)


def test_an_outcome_survives_the_record_and_reads_as_one_line() -> None:
    hit = CacheOutcome("prepare_data", True, "same key", "k", "run-1", "manual__1", {"train_uri": "x"})
    back = CacheOutcome.from_json(hit.to_json())
    assert back == hit  # the result is not stored with the outcome, and not compared
    assert back.result is None
    assert back.summary() == "HIT  reused from manual__1 (MLflow run run-1)"
    miss = CacheOutcome("train.forest", False, "spec.params.n_estimators: 100 -> 200", "k")
    assert CacheOutcome.from_json(miss.to_json()).summary() == "MISS spec.params.n_estimators: 100 -> 200"
