"""Promote development's champion into production, with a person's approval on Airflow's HITL, in Python.

What ``airflow-mlops promote --from dev --to prod --approved-by USER --reason TEXT`` does at the
command line, as a DAG: ``approve_prod`` reaches both registries (a dead or wrong production
fails here, naming the environment, its connection and the URI), shows the approver the version,
the gate it passed in development and production's current champion, and waits for an answer in
the Airflow UI (or its REST API). ``promote_prod`` then hands that answer to ``promote_across``:
an approval lets the re-gate on production's own holdout data decide, a rejection is recorded in
both registries and moves nothing. See docs/environments.md.

The environments are the ones declared in the dags folder's ``defaults.yaml`` (or the file
``$AIRFLOW_MLOPS_ENVIRONMENTS`` names, as for the command), read when the tasks run: ``dev`` and
``prod``, each with its own Airflow connection. The YAML way to write the same DAG is the
``promotion`` template (``template: promotion``, ``promotion: {through: [dev, prod]}``).

At module level this file imports only ``airflow.sdk`` and airflow-mlops, so parsing it loads no
ML library; MLflow is imported inside the tasks.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG

from airflow_mlops.assets import champion_asset
from airflow_mlops.operators.across import PromoteAcrossOperator
from airflow_mlops.operators.approval_across import EnvironmentApprovalOperator

ENVIRONMENTS = os.environ.get("AIRFLOW_MLOPS_ENVIRONMENTS", str(Path(__file__).resolve().parents[1] / "defaults.yaml"))
# Production's registered model, whose champion_changed event a drift monitor there can run on.
PRODUCTION_MODEL = os.environ.get("PROMOTE_EXAMPLE_PRODUCTION_MODEL", "churn")

with DAG(
    dag_id="promote_dev_to_prod",
    schedule=None,  # on demand; or schedule=champion_asset("<development's model>") to follow each new dev champion
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["mlops", "mlops:promotion"],
    doc_md=__doc__,
):
    approve = EnvironmentApprovalOperator(
        task_id="approve_prod",
        environments=ENVIRONMENTS,
        from_env="dev",
        to_env="prod",
        version="champion",
    )
    PromoteAcrossOperator(
        task_id="promote_prod",
        environments=ENVIRONMENTS,
        from_env="dev",
        to_env="prod",
        version="champion",
        approval=approve.output,
        outlets=[champion_asset(PRODUCTION_MODEL)],
    )
