"""OpenLineage events for the pipeline's tasks, through Airflow's OpenLineage provider.

- :mod:`.build`: pure functions from the task contracts to what each task read and wrote, with facets
  as plain JSON (no OpenLineage import; unit-tested and schema-checked);
- :mod:`.emit`: that description as the provider's ``OperatorLineage`` (imports OpenLineage inside);
- :mod:`.assets`: the asset-URI handler and converter for the ``mlflow://`` and ``mlops://`` schemes.

Nothing here is imported at DAG parse time except :mod:`.assets`, which uses the standard library only.
"""
