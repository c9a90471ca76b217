"""The MLflow record every pipeline run leaves: its vocabulary and its typed lineage.

Operators write this record, and governance, the report, the UI plugin and the CLI read it back,
long after Airflow's own metadata may have been cleaned up. One module owns each side of it so
that a writer and a reader can never disagree on a tag name, an artifact path or a size limit:

- :mod:`airflow_mlops.record.tags`: tag names, prefixes, size limits and asset names;
- :mod:`airflow_mlops.record.paths`: artifact paths inside a run;
- :mod:`airflow_mlops.record.lineage`: a version's lineage as typed models, written as tags and
  read back through one pair of functions.
"""
