"""ml/cross_validation.py: folds fitted the way the candidate is, for an estimator and for a torch trainer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from airflow_mlops.demo.datasets import wine_frame
from airflow_mlops.errors import ConfigurationError
from airflow_mlops.ml.cross_validation import cross_validate
from airflow_mlops.ml.estimators import build_pipeline, train_with_function

USER_CODE = Path(__file__).resolve().parents[1] / "fixtures" / "user_code"
PREFIXES = ("sklearn.", "acme_ml.")
WINE = wine_frame()
FEATURES, LABELS = WINE.drop(columns=["target"]), WINE["target"]


@pytest.fixture(autouse=True)
def _user_code(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(USER_CODE))
    yield


def _folds(folds: int, **more: object) -> dict[str, object]:
    return {"folds": folds, "stratified": True, "shuffle": True, "seed": 0, **more}


def _logreg(features: pd.DataFrame, labels: pd.Series) -> object:
    pipeline = build_pipeline(
        estimator_path="sklearn.linear_model.LogisticRegression",
        params={"max_iter": 500},
        preprocessing={},
        features=features,
        allowed_prefixes=PREFIXES,
    )
    return pipeline.fit(features, labels)


def test_each_fold_is_fitted_afresh_and_scored_on_rows_it_did_not_see() -> None:
    fitted: list[int] = []

    def fit(features: pd.DataFrame, labels: pd.Series) -> object:
        fitted.append(len(features))
        return _logreg(features, labels)

    result = cross_validate(fit, FEATURES, LABELS, problem="classification", splitter=_folds(3), average="weighted")
    assert len(fitted) == 3 and all(abs(n - len(WINE) * 2 / 3) <= 2 for n in fitted)
    assert set(result) == {f"cv_{m}_{s}" for m in ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
                           for s in ("mean", "std")}  # fmt: skip
    assert 0.9 < result["cv_accuracy_mean"] <= 1 and 0 <= result["cv_accuracy_std"] < 0.1
    again = cross_validate(_logreg, FEATURES, LABELS, problem="classification", splitter=_folds(3), average="weighted")
    assert again == result  # the seed fixes the folds


def test_a_torch_trainer_is_cross_validated_through_its_predictor() -> None:
    def fit(features: pd.DataFrame, labels: pd.Series) -> object:
        return train_with_function(
            trainer_path="acme_ml.torch_training:train_mlp",
            params={"epochs": 10},
            features=features,
            labels=labels,
            allowed_prefixes=PREFIXES,
        )

    result = cross_validate(fit, FEATURES, LABELS, problem="classification", splitter=_folds(2))
    assert result["cv_f1_mean"] > 0.8 and "cv_log_loss_mean" in result


def test_more_folds_than_rows_of_a_class_is_refused_naming_the_class() -> None:
    few = pd.concat([WINE[WINE["target"] != 2], WINE[WINE["target"] == 2].head(3)])
    with pytest.raises(
        ConfigurationError, match=r"5 stratified folds need at least 5 training rows of each class; class 2 has 3"
    ):
        cross_validate(
            _logreg, few.drop(columns=["target"]), few["target"], problem="classification", splitter=_folds(5)
        )


def test_grouped_folds_keep_each_group_in_one_fold_and_unshuffled_folds_keep_file_order() -> None:
    from airflow_mlops.ml.cross_validation import fold_rows

    features = FEATURES.assign(site=[i % 7 for i in range(len(FEATURES))])
    for stratified in (True, False):
        for train_rows, score_rows in fold_rows(features, LABELS, _folds(3, group_by="site", stratified=stratified)):
            assert not set(features["site"].iloc[train_rows]) & set(features["site"].iloc[score_rows])
    plain = fold_rows(FEATURES, LABELS, {"folds": 3, "stratified": False, "shuffle": False})
    assert list(plain[0][1]) == list(range(len(plain[0][1])))  # the first fold scores the first rows
    with pytest.raises(ConfigurationError, match="need at least 3 groups; the training split has 2"):
        fold_rows(features.assign(site=[i % 2 for i in range(len(features))]), LABELS, _folds(3, group_by="site"))


def test_folds_fitted_in_threads_give_the_serial_figures() -> None:
    import threading

    threads: set[int] = set()

    def fit(features: pd.DataFrame, labels: pd.Series) -> object:
        threads.add(threading.get_ident())
        return _logreg(features, labels)

    serial = cross_validate(_logreg, FEATURES, LABELS, problem="classification", splitter=_folds(2))
    threaded = cross_validate(fit, FEATURES, LABELS, problem="classification", splitter=_folds(2), n_jobs=2)
    assert threaded == pytest.approx(serial, rel=1e-12) and set(threaded) == set(serial)
    assert threading.get_ident() not in threads  # the folds ran in joblib's worker threads
