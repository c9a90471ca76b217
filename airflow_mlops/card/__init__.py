"""A model card for every registered version, built from the record rather than written by hand.

- :mod:`airflow_mlops.card.model`: the card as a typed model, built from a version's lineage, the
  gate's verdict and the ``card:`` section of the pipeline YAML;
- :mod:`airflow_mlops.card.render`: the same card as Markdown (for repositories) and as HTML (the
  artifact and the ML view), both from Jinja2 templates that escape every recorded value.
"""
