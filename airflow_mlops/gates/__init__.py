"""Pure promotion logic: no Airflow, no MLflow, so every rule can be tested in isolation."""
