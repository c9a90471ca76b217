"""Compile validated pipeline specs into Airflow DAGs."""
