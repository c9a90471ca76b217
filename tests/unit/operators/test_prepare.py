"""prepare_data: one split of the pinned data that every candidate and the champion are judged on."""

from __future__ import annotations

import pandas as pd
import pytest

from airflow_mlops import artifacts
from airflow_mlops.errors import DataVersionError

from .conftest import FEATURES, Stack, prepare, resolve


def test_prepare_splits_the_pinned_data_once(stack: Stack) -> None:
    ref = resolve(stack, "prep", "r1")
    dataset = prepare(stack, ref, "prep", "r1")
    train, test = artifacts.read_parquet(dataset["train_uri"]), artifacts.read_parquet(dataset["test_uri"])
    assert (dataset["n_train"], dataset["n_test"]) == (len(train), len(test)) == (180, 60)
    assert dataset["features"] == FEATURES
    assert dataset["target"] == "target"
    assert dataset["data"] == ref
    # Every row lands in exactly one split, and stratifying keeps the class balance of the data.
    rows = sorted(map(tuple, [*train.to_numpy().tolist(), *test.to_numpy().tolist()]))
    assert rows == sorted(map(tuple, stack.frame.to_numpy().tolist()))
    assert abs(test["target"].mean() - stack.frame["target"].mean()) < 0.02
    # The same seed on the same commit gives the same split.
    again = prepare(stack, ref, "prep", "r2")
    assert artifacts.read_parquet(again["test_uri"]).equals(test)


@pytest.mark.parametrize("stratify", [True, False])
def test_the_splits_are_the_rows_train_test_split_picks_from_the_frame(stack: Stack, stratify: bool) -> None:
    # prepare_data takes each split on its own, to hold less of the data at once (issue #22): the same rows,
    # in the same order, as train_test_split(frame) returns them.
    from sklearn.model_selection import train_test_split

    run = f"r-split-{stratify}"
    dataset = prepare(stack, resolve(stack, "prep", run), "prep", run, stratify=stratify)
    frame = stack.frame.reset_index(drop=True)
    labels = frame["target"] if stratify else None
    train, test = train_test_split(frame, test_size=0.25, random_state=7, stratify=labels)

    written = artifacts.read_parquet(dataset["train_uri"]), artifacts.read_parquet(dataset["test_uri"])
    for read, expected in zip(written, (train, test), strict=True):
        pd.testing.assert_frame_equal(read, expected.reset_index(drop=True))


def test_prepare_keeps_only_the_listed_features(stack: Stack) -> None:
    dataset = prepare(stack, resolve(stack), "prep", "r3", features=FEATURES[:2])
    assert dataset["features"] == FEATURES[:2]
    assert list(artifacts.read_parquet(dataset["train_uri"]).columns) == [*FEATURES[:2], "target"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": "label"}, "has no target column 'label'"),
        ({"features": ["nope"]}, r"lacks feature columns \['nope'\]"),
    ],
)
def test_prepare_names_what_the_data_lacks(stack: Stack, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(DataVersionError, match=message):
        prepare(stack, resolve(stack), "prep", "r4", **kwargs)
