"""The same emitters through Airflow's OpenTelemetry backend, to a real OTLP/HTTP receiver on loopback."""

from __future__ import annotations

import atexit
import gzip
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from airflow_mlops.observability import emit


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        encoding = self.headers.get("Content-Encoding")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        type(self).bodies.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def otlp(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Receiver]]:
    from airflow.sdk._shared.observability.metrics import otel_logger
    from airflow.sdk._shared.observability.metrics.base_stats_logger import NoStatsLogger
    from airflow.sdk.observability import stats
    from opentelemetry import metrics

    _Receiver.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AIRFLOW__METRICS__OTEL_ON", "True")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", f"http://127.0.0.1:{server.server_port}/v1/metrics")
    emit.use_airflow_config()
    yield _Receiver
    provider: Any = metrics.get_meter_provider()
    provider.shutdown()
    atexit.unregister(otel_logger.flush_otel_metrics)  # Airflow's exit flush would hit the stopped provider
    stats.initialize(factory=NoStatsLogger, export_legacy_names=False)
    server.shutdown()
    server.server_close()


def test_otel_receives_the_gauges_with_their_labels_as_attributes(otlp: type[_Receiver]) -> None:
    from opentelemetry import metrics
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    emit.gate_verdict("team.churn", "promote", {"logreg": {"f1": 0.91}}, None)
    provider: Any = metrics.get_meter_provider()
    assert provider.force_flush(timeout_millis=10_000)

    points: dict[str, tuple[float, dict[str, str]]] = {}
    for body in otlp.bodies:
        request = ExportMetricsServiceRequest.FromString(body)
        for resource in request.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.gauge.data_points:
                        attributes = {a.key: a.value.string_value for a in point.attributes}
                        points[metric.name] = (point.as_double or float(point.as_int), attributes)
    assert points["airflow.mlops.gate.passed.team_churn"] == (1.0, {"pipeline": "team_churn"})
    assert points["airflow.mlops.candidate.test.team_churn.logreg.f1"] == (
        0.91,
        {"pipeline": "team_churn", "candidate": "logreg", "metric": "f1"},
    )
