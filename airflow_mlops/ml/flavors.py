"""Which MLflow flavor logs a trained model, and how every step loads a logged one back.

Training, evaluation, batch scoring, the promotion re-check and (through the signature) drift
all go through here, so no step assumes scikit-learn. Each framework is logged in its native
format: scikit-learn with skops (the trusted-type path docs/architecture.md explains), XGBoost
as UBJSON, LightGBM through MLflow's own flavor, a PyTorch module exported with
``torch.export`` (pt2, no pickle) and a pyfunc ``PythonModel`` as MLflow writes it. Every one
also carries MLflow's pyfunc flavor with a signature, so ``mlflow models serve`` loads any of
them. Frameworks are imported inside functions only: a worker without torch can still score an
XGBoost model.

Loaded back, a model is a *predictor*: ``predict(frame)`` returns labels or values, and a
classifier that can also has ``predict_proba(frame)`` and ``classes_``, the scikit-learn
convention the metrics and scoring code read.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from airflow_mlops.errors import ConfigurationError
from airflow_mlops.record import tag
from airflow_mlops.spec.models_training import TREE_FRAMEWORKS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from mlflow.models.model import ModelInfo

Flavor = Literal["sklearn", "xgboost", "lightgbm", "pytorch", "pyfunc"]

#: The pip distribution behind each flavor, pinned in the logged model's requirements. XGBoost is
#: whichever of ``xgboost-cpu`` / ``xgboost`` is installed (both import as ``xgboost``).
_FRAMEWORK_DISTS: dict[Flavor, tuple[str, ...]] = {
    "sklearn": ("skops",),
    "xgboost": ("xgboost-cpu", "xgboost"),
    "lightgbm": ("lightgbm",),
    "pytorch": ("torch",),
    "pyfunc": ("cloudpickle",),
}
_BASE_DISTS = ("scikit-learn", "pandas", "numpy", "scipy")


def flavor_of(model: Any) -> Flavor:
    """The flavor that logs ``model``; a clear error for anything MLflow could not log."""
    root = type(model).__module__.partition(".")[0]
    if root in TREE_FRAMEWORKS:
        return "xgboost" if root == "xgboost" else "lightgbm"
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        return "pytorch"
    import mlflow.pyfunc

    if isinstance(model, mlflow.pyfunc.PythonModel):
        return "pyfunc"
    if hasattr(model, "predict"):
        return "sklearn"
    raise ConfigurationError(
        f"{type(model).__name__}, which has no predict(), is not a model MLflow can log: return a fitted "
        "scikit-learn compatible model (XGBoost and LightGBM included), a torch.nn.Module or an "
        "mlflow.pyfunc.PythonModel"
    )


def pip_requirements(flavor: Flavor) -> list[str]:
    """Pinned requirements, given explicitly: letting MLflow infer them costs ~7 s per model."""
    from importlib.metadata import PackageNotFoundError, version

    pins = [f"{dist}=={version(dist)}" for dist in _BASE_DISTS]
    for dist in _FRAMEWORK_DISTS[flavor]:
        try:
            pins.append(f"{dist}=={version(dist)}")
            break
        except PackageNotFoundError:
            continue
    return pins


def skops_trusted_types(model: Any) -> list[str]:
    """Types skops must be told to trust to load this model back.

    MLflow saves sklearn models with skops, which refuses any type not on its default list
    (even ``numpy.dtype`` or a tree's ``Tree``). The model was just built by this task from
    an allowlisted estimator, so trusting exactly the types it contains is sound, and the
    list is saved with the model for whoever loads it.
    """
    import skops.io

    return sorted(skops.io.get_untrusted_types(data=skops.io.dumps(model)))


def class_list(labels: pd.Series) -> list[Any]:
    """The sorted classes of ``labels`` as plain Python values (they go into JSON metadata)."""
    import numpy as np

    return [value.item() if hasattr(value, "item") else value for value in np.unique(labels.to_numpy())]


def numeric_matrix(features: pd.DataFrame, what: str) -> Any:
    """The features as the float32 matrix a tensor model takes, or an error naming the non-numeric columns."""
    import numpy as np

    text = [str(c) for c in features.columns if features[c].dtype.kind not in "biuf"]
    if text:
        raise ConfigurationError(f"{what} takes numeric features only; non-numeric columns: {text}")
    return features.to_numpy(dtype=np.float32, copy=True)  # writable: torch refuses read-only arrays


class TensorPredictor:
    """A tensor model (PyTorch) seen as a scikit-learn style regressor over named columns."""

    def __init__(self, forward: Callable[[np.ndarray], Any], columns: Sequence[str]) -> None:
        self._forward = forward
        self.feature_names_in_ = list(columns)

    def outputs(self, features: pd.DataFrame) -> Any:
        import numpy as np

        matrix = numeric_matrix(features[self.feature_names_in_], "a PyTorch model")
        return np.asarray(self._forward(matrix), dtype=float).reshape(len(features), -1)

    def predict(self, features: pd.DataFrame) -> Any:
        return self.outputs(features)[:, 0]


class TensorClassifier(TensorPredictor):
    """A tensor classifier: its outputs are one probability per class, in the order of ``classes_``."""

    def __init__(self, forward: Callable[[np.ndarray], Any], columns: Sequence[str], classes: Sequence[Any]) -> None:
        super().__init__(forward, columns)
        self.classes_ = list(classes)

    def predict_proba(self, features: pd.DataFrame) -> Any:
        return self.outputs(features)

    def predict(self, features: pd.DataFrame) -> Any:
        import numpy as np

        return np.asarray(self.classes_)[self.outputs(features).argmax(axis=1)]


def _tensor_predictor(forward: Callable[[np.ndarray], Any], columns: Sequence[str], classes: Any) -> TensorPredictor:
    return TensorClassifier(forward, columns, classes) if classes else TensorPredictor(forward, columns)


def torch_forward(module: Any) -> Callable[[np.ndarray], Any]:
    """``module`` as a function of a float32 matrix, in inference mode."""
    import torch

    def forward(matrix: np.ndarray) -> Any:
        module.eval()
        with torch.no_grad():
            return module(torch.tensor(matrix)).numpy()

    return forward


def _check_probabilities(predictor: TensorClassifier, example: pd.DataFrame) -> None:
    """A classifier module must end in softmax: the gate's roc_auc and log_loss read its outputs as probabilities."""
    import numpy as np

    out = predictor.outputs(example)
    if out.shape[1] != len(predictor.classes_):
        raise ConfigurationError(
            f"the PyTorch classifier returns {out.shape[1]} outputs per row for {len(predictor.classes_)} classes "
            f"{predictor.classes_}; return one probability per class, in that order"
        )
    if not (np.all(out >= -1e-6) and np.allclose(out.sum(axis=1), 1.0, atol=1e-4)):
        raise ConfigurationError(
            "the PyTorch classifier's outputs are not probabilities (each row must be >= 0 and sum to 1); "
            "end the module with torch.nn.Softmax(dim=1)"
        )


class _PythonModelPredictor:
    """An in-memory pyfunc ``PythonModel`` seen as a predictor (it has no context outside MLflow)."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def predict(self, features: pd.DataFrame) -> Any:
        return self._model.predict(None, features)


def in_memory_predictor(model: Any, features: pd.DataFrame, labels: pd.Series, problem: str) -> Any:
    """A fitted model, as it is in memory, behind the predictor interface (for train and fold metrics)."""
    flavor = flavor_of(model)
    if flavor == "pytorch":
        classes = class_list(labels) if problem == "classification" else None
        return _tensor_predictor(torch_forward(model), list(features.columns), classes)
    if flavor == "pyfunc":
        return _PythonModelPredictor(model)
    return model


def log_model(model: Any, features: pd.DataFrame, labels: pd.Series, problem: str) -> tuple[ModelInfo, Any, Flavor]:
    """Log ``model`` in its native flavor with a signature and an input example.

    Returns the model info, a predictor of the in-memory model for the train metrics (for a
    pyfunc ``PythonModel``, the logged model loaded back) and the flavor.
    """
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    flavor = flavor_of(model)
    example = features.head(5)
    common: dict[str, Any] = {"name": "model", "pip_requirements": pip_requirements(flavor)}
    if flavor == "pytorch":
        import mlflow.pytorch

        predictor = in_memory_predictor(model, features, labels, problem)
        classes = getattr(predictor, "classes_", None)
        if isinstance(predictor, TensorClassifier):
            _check_probabilities(predictor, example)
        matrix = numeric_matrix(example, "a PyTorch model")
        info = mlflow.pytorch.log_model(
            model,
            input_example=matrix,
            signature=infer_signature(matrix, torch_forward(model)(matrix)),
            metadata={tag.MODEL_META_COLUMNS: list(map(str, features.columns)), tag.MODEL_META_CLASSES: classes},
            **common,
        )
        return info, predictor, flavor
    if flavor == "pyfunc":
        info = mlflow.pyfunc.log_model(python_model=model, input_example=example, **common)
        return info, load_predictor(info.model_uri), flavor
    signature = infer_signature(example, model.predict(example))
    if flavor == "sklearn":
        import mlflow.sklearn

        info = mlflow.sklearn.log_model(
            model, signature=signature, input_example=example, skops_trusted_types=skops_trusted_types(model), **common
        )
    elif flavor == "xgboost":
        import mlflow.xgboost

        info = mlflow.xgboost.log_model(model, signature=signature, input_example=example, model_format="ubj", **common)
    else:
        import mlflow.lightgbm

        info = mlflow.lightgbm.log_model(model, signature=signature, input_example=example, **common)
    return info, model, flavor


def input_names(signature: Any, metadata: dict[str, Any] | None) -> list[str]:
    """The input columns a logged model was trained on: its signature's names, or (a tensor
    signature has none) the columns recorded with a PyTorch model; empty if neither."""
    inputs = getattr(signature, "inputs", None)
    if inputs is not None and inputs.has_input_names():
        return [str(n) for n in inputs.input_names()]
    return [str(n) for n in (metadata or {}).get(tag.MODEL_META_COLUMNS) or []]


def load_predictor(model_uri: str) -> Any:
    """The logged model at ``model_uri`` (a URI or a local directory), loaded by its own flavor.

    scikit-learn, XGBoost and LightGBM load natively, keeping ``predict_proba``; a PyTorch model
    loads through pyfunc (its pt2 export) and is wrapped by its recorded columns and classes;
    anything else is a pyfunc model that predicts only.
    """
    import mlflow.pyfunc
    from mlflow.models import Model

    logged = Model.load(model_uri)
    flavors = logged.flavors
    if "sklearn" in flavors:
        import mlflow.sklearn

        return mlflow.sklearn.load_model(model_uri)
    if "xgboost" in flavors:
        import mlflow.xgboost

        return mlflow.xgboost.load_model(model_uri)
    if "lightgbm" in flavors:
        import mlflow.lightgbm

        return mlflow.lightgbm.load_model(model_uri)
    pyfunc = mlflow.pyfunc.load_model(model_uri)
    if "pytorch" in flavors:
        meta = logged.metadata or {}
        if not meta.get(tag.MODEL_META_COLUMNS):
            raise ConfigurationError(
                f"the PyTorch model {model_uri} records no input columns "
                f"({tag.MODEL_META_COLUMNS} in its MLmodel metadata); "
                "only PyTorch models logged by airflow-mlops' training can be scored by column name"
            )
        return _tensor_predictor(
            lambda matrix: pyfunc.predict(matrix), meta[tag.MODEL_META_COLUMNS], meta.get(tag.MODEL_META_CLASSES)
        )
    return pyfunc
