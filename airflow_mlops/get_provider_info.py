"""Provider metadata for Airflow's provider discovery.

GENERATED from providers/provider.yaml by scripts/generate_provider_info.py: edit the YAML,
then regenerate. Kept import-free because Airflow calls it while listing providers.
"""

from typing import Any


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-mlops",
        "name": "airflow-mlops",
        "description": (
            "Governed ML retraining pipelines for Apache Airflow 3: DVC data versioning, Great Expectations\n"
            "validation, scikit-learn training, champion/challenger gates and MLflow model registry aliases,\n"
            "built from a short YAML file.\n"
        ),
        "integrations": [
            {"integration-name": "MLflow", "external-doc-url": "https://mlflow.org/docs/latest/", "tags": ["software"]},
            {"integration-name": "DVC", "external-doc-url": "https://dvc.org/doc", "tags": ["software"]},
            {
                "integration-name": "Great Expectations",
                "external-doc-url": "https://docs.greatexpectations.io/",
                "tags": ["software"],
            },
            {
                "integration-name": "airflow-mlops",
                "external-doc-url": "https://pypi.org/project/airflow-mlops/",
                "tags": ["software"],
            },
        ],
        "operators": [
            {
                "integration-name": "DVC",
                "python-modules": [
                    "airflow_mlops.operators.data",
                    "airflow_mlops.operators.prepare",
                    "airflow_mlops.operators.snapshot",
                    "airflow_mlops.operators.version_data",
                ],
            },
            {"integration-name": "Great Expectations", "python-modules": ["airflow_mlops.operators.validation"]},
            {
                "integration-name": "MLflow",
                "python-modules": [
                    "airflow_mlops.operators.train",
                    "airflow_mlops.operators.tune",
                    "airflow_mlops.operators.evaluate",
                    "airflow_mlops.operators.registry",
                    "airflow_mlops.operators.scoring",
                    "airflow_mlops.operators.serving_check",
                    "airflow_mlops.operators.deploy",
                ],
            },
            {
                "integration-name": "airflow-mlops",
                "python-modules": [
                    "airflow_mlops.operators.gate",
                    "airflow_mlops.operators.drift",
                    "airflow_mlops.operators.approval",
                    "airflow_mlops.operators.across",
                    "airflow_mlops.operators.approval_across",
                    "airflow_mlops.operators.close_runs",
                    "airflow_mlops.operators.sla",
                ],
            },
        ],
        "hooks": [
            {"integration-name": "MLflow", "python-modules": ["airflow_mlops.hooks.mlflow"]},
            {"integration-name": "DVC", "python-modules": ["airflow_mlops.hooks.dvc"]},
        ],
        "asset-uris": [
            {
                "schemes": ["mlflow", "mlops"],
                "handler": "airflow_mlops.lineage_events.assets.sanitize_uri",
                "to_openlineage_converter": "airflow_mlops.lineage_events.assets.to_openlineage",
            }
        ],
        "connection-types": [
            {
                "connection-type": "mlflow",
                "hook-class-name": "airflow_mlops.hooks.mlflow.MlflowHook",
                "hook-name": "MLflow",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema"],
                    "relabeling": {"host": "Tracking server URL", "login": "Username", "password": "Password"},
                    "placeholders": {
                        "host": "http://mlflow.internal:5000",
                        "extra": (
                            '{"tracking_uri": "sqlite:////data/mlflow.db", "artifact_location": '
                            '"/data/mlflow-artifacts"}'
                        ),
                    },
                },
            },
            {
                "connection-type": "dvc",
                "hook-class-name": "airflow_mlops.hooks.dvc.DvcHook",
                "hook-name": "DVC",
                "ui-field-behaviour": {
                    "hidden-fields": ["host", "schema", "port", "login", "password"],
                    "placeholders": {"extra": '{"repo": "https://github.com/acme/data-registry.git"}'},
                },
            },
        ],
        "config": {
            "mlops": {
                "description": "Settings of the airflow-mlops provider.",
                "options": {
                    "artifact_root": {
                        "description": (
                            "Where pipelines write datasets by reference (any ObjectStoragePath URI). Every\n"
                            "worker must see the same URI. Default: file://$AIRFLOW_HOME/mlops-artifacts.\n"
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "s3://aws_default@ml-bucket/mlops",
                        "default": None,
                    },
                    "allowed_import_prefixes": {
                        "description": (
                            "Comma-separated import prefixes an estimator path in pipeline YAML may start with.\n"
                            "Anything else is a validation error and is refused again at run time.\n"
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "sklearn.,xgboost.,acme_ml.",
                        "default": "sklearn.",
                    },
                    "strict_loading": {
                        "description": (
                            "When true, every pipeline loader validates all pipeline files in the dags folder and\n"
                            "fails if any is broken, so nothing loads until everything does. Meant for CI; the\n"
                            "default isolates a broken pipeline file to its own DAG.\n"
                        ),
                        "version_added": "0.1.0",
                        "type": "boolean",
                        "example": "True",
                        "default": "False",
                    },
                    "endpoints_root": {
                        "description": (
                            "Folder where the local deployment target (mlops-local) keeps each endpoint's state:\n"
                            "the version serving, its processes and the stable port. Default:\n"
                            "$AIRFLOW_HOME/mlops-endpoints. A target URI mlops-local:/path overrides it.\n"
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "/var/lib/airflow/mlops-endpoints",
                        "default": None,
                    },
                },
            }
        },
    }
