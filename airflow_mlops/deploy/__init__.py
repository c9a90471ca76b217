"""Deployment targets: where a promoted model is served after its alias moves.

``local`` (``local.py``) is the embedded target: model servers as managed processes behind a
stable loopback URL (``proxy.py``), with state on disk (``state.py``) that outlives the task that
deployed it. ``mlflow_plugin.py`` exposes it on MLflow's deployments plugin interface
(``mlflow.deployments.get_deploy_client("mlops-local")``); it is the only module here that
imports MLflow at module level, and only MLflow's plugin manager imports it.
"""
