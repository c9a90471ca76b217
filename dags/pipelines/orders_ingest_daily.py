# Airflow DAG loader written by `airflow-mlops sync-loaders`: builds the pipeline defined in
# the YAML file of the same name. One loader per pipeline, so a broken file fails only its DAG.
from airflow_mlops import load_pipeline

load_pipeline(globals(), __file__)
