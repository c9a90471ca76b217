"""A governed retraining pipeline written in Python, with the airflow-mlops operators and no YAML.

It does what the ``retraining`` YAML template builds, step by step: publish a data version, pin
it, validate it, split it once, train two candidates (one mapped task each), score them and the
current champion on the same test rows, gate, register the winner with its lineage, and move
``@champion``. Every operator is documented in docs/operators.md.

The data source is the first task: it commits the wine data that scikit-learn ships (no
download) as the next version of ``data/wine.csv`` in the git + DVC repository of the
``dvc_default`` connection, which must be a local checkout with a DVC remote. In your own DAG
this is your ingestion; the rest stays the same.

At module level this file imports only ``airflow.sdk`` and airflow-mlops, so parsing it loads no
ML library; the heavy imports happen inside the tasks.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from airflow_mlops import __version__
from airflow_mlops.assets import champion_asset, data_version_asset
from airflow_mlops.operators.data import ResolveDataVersionOperator
from airflow_mlops.operators.evaluate import EvaluateCandidatesOperator
from airflow_mlops.operators.gate import EvaluationGateOperator
from airflow_mlops.operators.prepare import PrepareDatasetOperator
from airflow_mlops.operators.registry import PromoteModelOperator, RegisterModelOperator
from airflow_mlops.operators.train import TrainCandidateOperator
from airflow_mlops.operators.validation import ValidateDataOperator

MODEL_NAME = "wine_classifier"
EXPERIMENT = "wine_classifier_python"
DATA_PATH = "data/wine.csv"

# Each expectation is {"type": <GX expectation in snake_case>, "kwargs": {...}}.
EXPECTATIONS = [
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 100}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "target", "value_set": [0, 1, 2]}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "alcohol"}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "alcohol", "min_value": 8, "max_value": 16}},
]

# Estimators are import paths; they must start with an allowed prefix ([mlops] allowed_import_prefixes).
CANDIDATES = [
    {"name": "logreg", "estimator": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 2000}},
    {
        "name": "forest",
        "estimator": "sklearn.ensemble.RandomForestClassifier",
        "params": {"n_estimators": 50, "random_state": 0},
        "preprocessing": {"scale": "none"},
    },
]

GATE_RULES = [
    {"metric": "f1", "min": 0.85},  # absolute floor
    {"metric": "f1", "compare_to": "champion", "max_drop": 0.02},  # vs the champion, same test rows
]


@dag(
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    # Every operator finds its own earlier MLflow run or model version, so retrying is safe.
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30), "retry_exponential_backoff": 2.0},
    # The `mlops` tag lists the DAG in the ML Pipelines view of the UI plugin.
    tags=["mlops", "example"],
)
def wine_classifier_python() -> None:
    @task(outlets=[data_version_asset(DATA_PATH)])
    def publish_data() -> str:
        """Commit scikit-learn's bundled wine data to the DVC repository; returns the git commit."""
        from pathlib import Path

        from sklearn.datasets import load_wine

        from airflow_mlops.demo.data_repo import commit_data_version
        from airflow_mlops.hooks.dvc import DvcHook

        frame = load_wine(as_frame=True).frame
        content = frame.to_csv(index=False).encode()
        repo = Path(DvcHook(dvc_conn_id="dvc_default").repo_url)
        return commit_data_version(repo, DATA_PATH, content, "wine data from scikit-learn")

    # Pin the branch to a commit and md5 once: every later task reads exactly that version.
    resolve = ResolveDataVersionOperator(task_id="resolve_data", path=DATA_PATH, rev="main")
    publish_data() >> resolve

    validate = ValidateDataOperator(
        task_id="validate_data", data=resolve.output, expectations=EXPECTATIONS, experiment=EXPERIMENT
    )
    prepare = PrepareDatasetOperator(
        task_id="prepare_data", data=resolve.output, target="target", test_size=0.3, seed=42
    )
    validate >> prepare  # nothing is split (or trained) unless the data passed

    trained = TrainCandidateOperator.partial(
        task_id="train",
        dataset=prepare.output,
        experiment=EXPERIMENT,
        map_index_template="{{ task.candidate['name'] }}",
    ).expand(candidate=CANDIDATES)

    evaluate = EvaluateCandidatesOperator(
        task_id="evaluate",
        dataset=prepare.output,
        trained=trained.output,
        experiment=EXPERIMENT,
        model_name=MODEL_NAME,
    )
    gate = EvaluationGateOperator(task_id="gate", evaluation=evaluate.output, rules=GATE_RULES, select_by="f1")
    register = RegisterModelOperator(
        task_id="register",
        gate=gate.output,
        data=resolve.output,
        validation=validate.output,
        model_name=MODEL_NAME,
        lineage={"dag_file": "examples/wine_classifier_python.py", "package_version": __version__},
    )
    PromoteModelOperator(
        task_id="promote",
        registered=register.output,
        gate=gate.output,
        model_name=MODEL_NAME,
        outlets=[champion_asset(MODEL_NAME)],
    )


wine_classifier_python()
