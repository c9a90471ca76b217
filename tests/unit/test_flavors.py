"""ml/flavors.py against real frameworks: each model logged natively to a sqlite MLflow store, loaded back.

One tiny model per framework (a few trees, a few epochs, CPU), logged once for the module.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from airflow_mlops.demo.datasets import diabetes_frame, wine_frame
from airflow_mlops.errors import ConfigurationError
from airflow_mlops.ml import flavors
from airflow_mlops.ml.estimators import build_pipeline, fit_weighted, train_with_function
from airflow_mlops.ml.metrics import averaging_text, measure_metrics

USER_CODE = Path(__file__).resolve().parents[1] / "fixtures" / "user_code"
PREFIXES = ("sklearn.", "xgboost.", "lightgbm.", "acme_ml.")


@pytest.fixture(scope="module", autouse=True)
def _user_code() -> Iterator[None]:
    """The trainers of tests/fixtures/user_code (acme_ml) importable, as a deployment would have them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(USER_CODE))
        yield


@pytest.fixture(scope="module")
def wine() -> tuple[pd.DataFrame, pd.Series]:
    frame = wine_frame().sample(frac=1.0, random_state=0)
    return frame.drop(columns=["target"]), frame["target"]


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory, wine: tuple[pd.DataFrame, pd.Series]) -> Iterator[dict[str, Any]]:
    """Each framework's model logged once: ``{name: (in-memory model, model info, predictor, flavor)}``."""
    import mlflow

    root = tmp_path_factory.mktemp("flavors")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    experiment = mlflow.create_experiment("flavors", artifact_location=str(root / "artifacts"))
    features, labels = wine
    models = {
        "xgb": fit_weighted(
            build_pipeline(
                estimator_path="xgboost.XGBClassifier",
                params={"n_estimators": 8, "max_depth": 2, "n_jobs": 1},
                preprocessing={},
                features=features,
                allowed_prefixes=PREFIXES,
            ),
            features,
            labels,
            {"0": 2.0},
        ),
        "lgbm": build_pipeline(
            estimator_path="lightgbm.LGBMClassifier",
            params={"n_estimators": 8, "num_leaves": 4, "verbose": -1, "n_jobs": 1},
            preprocessing={},
            features=features,
            allowed_prefixes=PREFIXES,
        ).fit(features, labels),
        "mlp": train_with_function(
            trainer_path="acme_ml.torch_training:train_mlp",
            params={"epochs": 40},
            features=features,
            labels=labels,
            allowed_prefixes=PREFIXES,
        ),
    }
    out: dict[str, Any] = {}
    with mlflow.start_run(experiment_id=experiment):
        for name, model in models.items():
            out[name] = (model, *flavors.log_model(model, features, labels, "classification"))
        regression = diabetes_frame()
        mean = train_with_function(
            trainer_path="acme_ml.torch_training:train_pyfunc_mean",
            params={},
            features=regression.drop(columns="target"),
            labels=regression["target"],
            allowed_prefixes=PREFIXES,
        )
        out["mean"] = (
            mean,
            *flavors.log_model(mean, regression.drop(columns="target"), regression["target"], "regression"),
        )
    yield out
    mlflow.set_tracking_uri(previous)


@pytest.mark.parametrize(("name", "flavor"), [("xgb", "xgboost"), ("lgbm", "lightgbm"), ("mlp", "pytorch")])
def test_each_framework_round_trips_with_its_probabilities(
    logged: dict[str, Any], wine: tuple[pd.DataFrame, pd.Series], name: str, flavor: str
) -> None:
    import mlflow.pyfunc
    from mlflow.models import get_model_info

    features, labels = wine
    model, info, in_memory, logged_flavor = logged[name]
    assert logged_flavor == flavor == flavors.flavor_of(model)
    assert set(get_model_info(info.model_uri).flavors) == {flavor, "python_function"}
    loaded = flavors.load_predictor(info.model_uri)
    np.testing.assert_allclose(loaded.predict_proba(features), in_memory.predict_proba(features), rtol=1e-5)
    assert list(loaded.predict(features)) == list(in_memory.predict(features))
    assert [int(c) for c in loaded.classes_] == [0, 1, 2]
    metrics, missing = measure_metrics(loaded, features, labels, "classification", "weighted")
    assert not missing and metrics["f1"] > 0.8 and metrics["roc_auc"] > 0.9
    served = mlflow.pyfunc.load_model(info.model_uri)  # what `mlflow models serve` loads
    given = features.head(4).to_numpy(dtype="float32") if flavor == "pytorch" else features.head(4)
    assert len(served.predict(given)) == 4


def test_torch_model_records_its_columns_for_scoring_and_drift(logged: dict[str, Any]) -> None:
    from mlflow.models import get_model_info

    from airflow_mlops.ml.scoring import input_columns

    _, info, _, _ = logged["mlp"]
    logged_info = get_model_info(info.model_uri)
    columns = list(wine_frame().drop(columns=["target"]).columns)
    assert flavors.input_names(logged_info.signature, logged_info.metadata) == columns
    loaded = flavors.load_predictor(info.model_uri)
    assert input_columns(logged_info.signature, loaded, info.model_uri) == (columns, columns)


def test_pyfunc_python_model_is_logged_and_predicts(logged: dict[str, Any]) -> None:
    model, info, predictor, flavor = logged["mean"]
    assert flavor == "pyfunc"
    regression = diabetes_frame()
    predicted = flavors.load_predictor(info.model_uri).predict(regression.drop(columns="target").head(3))
    np.testing.assert_allclose(np.asarray(predicted), model.mean)
    assert not hasattr(predictor, "predict_proba")


def test_class_weight_changes_the_fit(wine: tuple[pd.DataFrame, pd.Series], logged: dict[str, Any]) -> None:
    features, labels = wine
    weighted = logged["xgb"][0]
    plain = build_pipeline(
        estimator_path="xgboost.XGBClassifier",
        params={"n_estimators": 8, "max_depth": 2, "n_jobs": 1},
        preprocessing={},
        features=features,
        allowed_prefixes=PREFIXES,
    ).fit(features, labels)
    assert not np.allclose(weighted.predict_proba(features), plain.predict_proba(features))
    with pytest.raises(ConfigurationError, match=r"class_weight names labels \['7'\]"):
        fit_weighted(plain, features, labels, {7: 1.0})


def test_a_classifier_module_without_softmax_is_refused(wine: tuple[pd.DataFrame, pd.Series]) -> None:
    features, labels = wine
    module = train_with_function(
        trainer_path="acme_ml.torch_training:train_logits_only",
        params={"epochs": 1},
        features=features,
        labels=labels,
        allowed_prefixes=PREFIXES,
    )
    with pytest.raises(ConfigurationError, match=r"not probabilities .* torch.nn.Softmax\(dim=1\)"):
        flavors.log_model(module, features, labels, "classification")


def test_tree_frameworks_refuse_text_features_and_unknown_returns_are_named() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "city": ["a", "b"]})
    with pytest.raises(ConfigurationError, match=r"non-numeric columns \['city'\]"):
        build_pipeline(
            estimator_path="lightgbm.LGBMClassifier",
            params={},
            preprocessing={},
            features=frame,
            allowed_prefixes=PREFIXES,
        )
    with pytest.raises(ConfigurationError, match="dict, which has no predict"):
        flavors.flavor_of({"weights": [1]})


def test_averaging_is_named_and_changes_the_numbers(wine: tuple[pd.DataFrame, pd.Series]) -> None:
    from sklearn.dummy import DummyClassifier

    features, labels = wine
    skewed = DummyClassifier(strategy="most_frequent").fit(features, labels)
    by = {
        avg: measure_metrics(skewed, features, labels, "classification", avg)[0]
        for avg in ("macro", "weighted", "micro")
    }  # type: ignore[arg-type]
    assert by["micro"]["f1"] == pytest.approx(by["micro"]["accuracy"])
    assert by["macro"]["f1"] < by["weighted"]["f1"] < by["micro"]["f1"]
    assert averaging_text([0, 1, 2], "weighted") == "weighted average over 3 classes"
    assert averaging_text([np.int64(0), np.int64(1)], "macro") == "positive class 1"
