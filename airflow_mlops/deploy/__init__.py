"""Deployment targets: where a promoted model is served after its alias moves.

``local`` (``local.py``) is the embedded target: model servers as managed processes behind a
stable loopback URL (``proxy.py``), with state on disk (``state.py``) that outlives the task that
deployed it. ``kserve.py`` is the ``mlops-kserve`` target: a KServe InferenceService per endpoint
on Kubernetes (``kserve_api.py`` the API calls, ``kserve_manifest.py`` the object, ``open_inference.py``
the v2 protocol). ``mlflow_plugin.py`` and ``kserve_plugin.py`` expose them on MLflow's deployments
plugin interface (``get_deploy_client("mlops-local")``, ``get_deploy_client("mlops-kserve:/ns")``);
they are the only modules here that import MLflow at module level, and only MLflow's plugin
manager imports them. ``rollout.py`` is what the ``deploy`` step moves a target with.
"""
