"""The pipeline the Celery tuning test runs (issue #17): one candidate, 20 trials over two mapped tune tasks.

Written into the DAG folder by conftest.py before the dag-processor starts, like the fault pipelines.
"""

from __future__ import annotations

DAG_ID = "celery_tuning"
MODEL_NAME = "celery_tuning_model"
N_TRIALS = 20
TUNE_WORKERS = 2
TUNING = {
    "space": {"C": {"type": "float", "low": 0.01, "high": 10.0, "log": True}},
    "n_trials": N_TRIALS,
    "folds": 2,
    "sampler": "random",
    "pruner": "none",
    "seed": 17,
    "workers": TUNE_WORKERS,
}
LOGREG = {
    "name": "logreg",
    "estimator": "sklearn.linear_model.LogisticRegression",
    "params": {"max_iter": 5000},
    "tuning": TUNING,
}
OVERRIDES: dict[str, object] = {"registry": {"model_name": MODEL_NAME}, "models": [LOGREG]}
