"""Build a candidate's sklearn Pipeline from its spec.

The estimator path comes from YAML, so it is checked against the allowlist again here, at
run time, not only when the spec was validated: a DAG serialized under an older, looser
config must not be able to import arbitrary code on a worker.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_mlops.errors import ConfigurationError

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline


def import_allowed(path: str, allowed_prefixes: Sequence[str], what: str) -> Any:
    """Import ``module.Name`` or ``module:function`` after checking the allowlist again."""
    if not path.startswith(tuple(allowed_prefixes)):
        raise ConfigurationError(f"{what} {path!r} is outside the allowed import prefixes {list(allowed_prefixes)}")
    module_name, _, name = path.rpartition(":") if ":" in path else path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as err:
        raise ConfigurationError(f"cannot import {what} {path!r}: {err}") from None


def import_estimator(path: str, allowed_prefixes: Sequence[str]) -> type[Any]:
    estimator = import_allowed(path, allowed_prefixes, "estimator")
    if not isinstance(estimator, type) or not hasattr(estimator, "fit"):
        raise ConfigurationError(f"{path!r} is not an estimator class with a fit() method")
    return estimator


def _custom_steps(steps: Sequence[Mapping[str, Any]], allowed_prefixes: Sequence[str]) -> list[tuple[str, Any]]:
    built: list[tuple[str, Any]] = []
    for index, step in enumerate(steps):
        transformer_cls = import_allowed(step["transformer"], allowed_prefixes, "transformer")
        try:
            transformer = transformer_cls(**dict(step.get("params", {})))
        except TypeError as err:
            raise ConfigurationError(f"invalid params for transformer {step['transformer']}: {err}") from None
        if not hasattr(transformer, "transform"):
            raise ConfigurationError(f"{step['transformer']!r} has no transform() method")
        built.append((f"custom_{index}", transformer))
    return built


def train_with_function(
    *, trainer_path: str, params: Mapping[str, Any], features: pd.DataFrame, labels: pd.Series,
    allowed_prefixes: Sequence[str],
) -> Any:  # fmt: skip
    """Run the user's training function and check it returned something the pipeline can use."""
    trainer = import_allowed(trainer_path, allowed_prefixes, "trainer")
    if not callable(trainer):
        raise ConfigurationError(f"trainer {trainer_path!r} is not a function")
    model = trainer(features, labels, dict(params))
    if not hasattr(model, "predict"):
        raise ConfigurationError(
            f"trainer {trainer_path!r} returned {type(model).__name__}, which has no predict(); "
            "return a fitted scikit-learn compatible model"
        )
    return model


def build_pipeline(
    *,
    estimator_path: str,
    params: Mapping[str, Any],
    preprocessing: Mapping[str, Any],
    features: pd.DataFrame,
    allowed_prefixes: Sequence[str],
) -> Pipeline:
    """Preprocessing and estimator in one Pipeline, so the logged model scores raw rows."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

    estimator_cls = import_estimator(estimator_path, allowed_prefixes)
    try:
        estimator = estimator_cls(**dict(params))
    except TypeError as err:
        raise ConfigurationError(f"invalid params for {estimator_path}: {err}") from None

    numeric = [c for c in features.columns if features[c].dtype.kind in "biuf"]
    categorical = [c for c in features.columns if c not in numeric]
    numeric_steps: list[tuple[str, Any]] = []
    if preprocessing.get("impute", "median") != "none":
        numeric_steps.append(("impute", SimpleImputer(strategy=preprocessing.get("impute", "median"))))
    scale = preprocessing.get("scale", "standard")
    if scale == "standard":
        numeric_steps.append(("scale", StandardScaler()))
    elif scale == "minmax":
        numeric_steps.append(("scale", MinMaxScaler()))
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        transformers.append(("numeric", Pipeline(numeric_steps) if numeric_steps else "passthrough", numeric))
    if categorical:
        if not preprocessing.get("one_hot", True):
            raise ConfigurationError(
                f"non-numeric feature columns {categorical} need preprocessing.one_hot: true or a feature list"
            )
        categorical_steps = Pipeline(
            [
                ("impute", SimpleImputer(strategy="most_frequent")),
                ("one_hot", OneHotEncoder(handle_unknown="ignore")),
            ]
        )
        transformers.append(("categorical", categorical_steps, categorical))
    custom = _custom_steps(preprocessing.get("steps", []), allowed_prefixes)
    return Pipeline([("preprocess", ColumnTransformer(transformers)), *custom, ("model", estimator)])
