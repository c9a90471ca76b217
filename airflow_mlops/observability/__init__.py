"""What airflow-mlops tells a platform's metrics stack: the metric vocabulary and the emitters.

- :mod:`airflow_mlops.observability.names`: every metric name, its kind and its labels (pure);
- :mod:`airflow_mlops.observability.emit`: sends them through Airflow's own stats client, so the
  StatsD, DogStatsD and OpenTelemetry backends a deployment already configured carry them.
"""
