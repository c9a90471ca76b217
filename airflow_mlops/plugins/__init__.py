"""The ML view inside the Airflow UI: an Airflow plugin serving pages about airflow-mlops pipelines.

``plugin.py`` holds the ``AirflowPlugin`` (registered through the ``airflow.plugins`` entry
point), ``app.py`` the FastAPI app it mounts at ``/mlops``, ``metadata.py`` and ``records.py``
what the pages read from Airflow's metadata database and from MLflow, ``render.py`` the HTML.
This package's ``__init__`` and ``urls`` stay import-free because workers load plugins and the
operators' extra links at every task start.
"""
