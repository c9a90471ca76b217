"""What the production-shaped stack consists of, defined once.

The loopback tier (``stack.py``) starts one process per entry, and ``docker-compose.yaml`` must
have exactly one service per entry (``tests/unit/test_docker_compose.py``). Importing this
module costs nothing, so the compose test stays a fast unit test.
"""

from __future__ import annotations

from dataclasses import dataclass

WORKERS = ("w1", "w2")


@dataclass(frozen=True)
class Component:
    name: str  # what the loopback tier starts
    compose_service: str  # the docker-compose.yaml service that plays the same part
    replicas: int = 1


STACK: tuple[Component, ...] = (
    Component("postgres", "postgres"),
    Component("redis", "redis"),
    Component("mlflow", "mlflow"),
    Component("db-migrate", "airflow-init"),
    Component("api-server", "airflow-apiserver"),
    Component("scheduler", "airflow-scheduler"),
    Component("dag-processor", "airflow-dag-processor"),
    Component("triggerer", "airflow-triggerer"),
    Component("celery-worker", "airflow-worker", replicas=len(WORKERS)),
)

# Settings every Airflow component of both stacks shares (environment variables).
SHARED_AIRFLOW_SETTINGS = (
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__MLOPS__ARTIFACT_ROOT",
    "AIRFLOW__CORE__XCOM_BACKEND",
    "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH",
    "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD",
    "AIRFLOW_CONN_MLFLOW_DEFAULT",
    "AIRFLOW_CONN_DVC_DEFAULT",
)

#: Airflow's own XCom offload (common-io provider, part of every Airflow install).
XCOM_BACKEND = "airflow.providers.common.io.xcom.backend.XComObjectStorageBackend"
