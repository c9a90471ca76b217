"""Airflow DAG loader for airflow-mlops pipelines.

Copy this file into your dags folder next to a ``pipelines/`` folder of YAML files. It
imports only the light parts of airflow-mlops, so parsing stays fast (Airflow parses DAG
files every 30 seconds and again at every task start).
"""

from pathlib import Path

from airflow_mlops import load_pipelines

load_pipelines(globals(), Path(__file__).parent / "pipelines")
