"""Serve the gate's winner in a real model server and check its answers before anything is registered."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from airflow.sdk.exceptions import AirflowSkipException

from airflow_mlops import artifacts
from airflow_mlops.errors import ConfigurationError, ModelServerError, ServingCheckError
from airflow_mlops.operators.base import MlflowBaseOperator, Upstream, run_identity, upstream
from airflow_mlops.record import paths, tag

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_mlops.contracts import GateResult, PreparedDataset, ServingCheckResult
    from airflow_mlops.gates.metrics import Problem
    from airflow_mlops.gates.serving import Answer, ServingVerdict
    from airflow_mlops.hooks.model_server import ModelServer

#: The malformed requests sent when none are named.
DEFAULT_MALFORMED = ("missing_column", "wrong_type", "empty_batch")


class ServingCheckOperator(MlflowBaseOperator):
    """Load the gate's winner in MLflow's scoring server on 127.0.0.1 and send it the pinned test rows.

    The model served is the very artifact ``register`` would register (the candidate's logged
    model, checked to be this DAG run's), started as its own process from its MLflow files. It
    must give the predictions ``evaluate`` recorded for the same rows (within the tolerance),
    answer single-row requests within the p95 limit, and refuse malformed requests with a 4xx.
    The verdict is recorded on the pipeline run and the winner's run either way; a failure
    raises :class:`~airflow_mlops.errors.ServingCheckError` (never retried), so ``register`` and
    ``promote`` do not run and ``@champion`` stays where it is. A rejected gate skips this step.
    """

    template_fields: Sequence[str] = ("gate", "dataset")

    def __init__(
        self,
        *,
        gate: Upstream[GateResult],
        dataset: Upstream[PreparedDataset],
        problem: Problem = "classification",
        rows: int = 200,
        absolute_tolerance: float = 1e-6,
        relative_tolerance: float = 1e-6,
        min_label_match: float = 1.0,
        max_p95_ms: float = 500.0,
        latency_requests: int = 30,
        malformed_requests: Sequence[str] = DEFAULT_MALFORMED,
        startup_timeout_seconds: float = 120.0,
        request_timeout_seconds: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.gate: GateResult = upstream(gate)
        self.dataset: PreparedDataset = upstream(dataset)
        self.problem: Problem = problem
        self.rows = rows
        self.absolute_tolerance = absolute_tolerance
        self.relative_tolerance = relative_tolerance
        self.min_label_match = min_label_match
        self.max_p95_ms = max_p95_ms
        self.latency_requests = latency_requests
        self.malformed_requests = list(malformed_requests)
        self.startup_timeout_seconds = startup_timeout_seconds
        self.request_timeout_seconds = request_timeout_seconds
        self._server: ModelServer | None = None

    def execute(self, context: Context) -> ServingCheckResult:
        from airflow_mlops.gates.serving import ServingLimits, judge, not_served

        if self.gate["verdict"]["decision"] != "promote":
            summary = self.gate["verdict"]["summary"]
            raise AirflowSkipException(f"nothing to serve: {summary}")
        dag_id, run_id = run_identity(context)
        candidate = self.gate["candidate"]
        test = artifacts.read_parquet(self.dataset["test_uri"])
        features = test.drop(columns=[self.dataset["target"]])
        with tempfile.TemporaryDirectory(prefix="mlops-serving-") as workdir:
            model_uri, local_model, offline = self._fetch(candidate, dag_id, run_id, Path(workdir))
            rows = features.head(len(offline))
            self._server = self._new_server(local_model, model_uri, Path(workdir))
            try:
                with self._server as server:
                    self.log.info("Serving %s on %s (up in %.1f s)", model_uri, server.url, server.startup_seconds)
                    served, failure, latencies, answers = self._probe(server, rows)
                    port, startup = int(server.port or 0), float(server.startup_seconds or 0.0)
            except ModelServerError as err:
                # The model cannot be served here: a verdict too, so the reason is where people look.
                port = int(self._server.port or 0) if self._server else 0
                lines = str(err).splitlines()  # what failed, then the server's output: keep its last line
                verdict = not_served(model_uri, len(offline), " ... ".join(dict.fromkeys([lines[0], lines[-1]])))
                self._record(candidate, dag_id, run_id, self._result(verdict, port, 0.0), verdict)
                raise
            finally:
                self._server = None
        verdict = judge(
            model_uri=model_uri,
            problem=self.problem,
            offline=offline,
            served=served,
            latencies_ms=latencies,
            malformed_answers=answers,
            limits=ServingLimits(
                self.absolute_tolerance, self.relative_tolerance, self.min_label_match, self.max_p95_ms
            ),
            batch_failure=failure,
        )
        result = self._result(verdict, port, startup)
        self._record(candidate, dag_id, run_id, result, verdict)
        if not verdict.passed:
            raise ServingCheckError(f"serving check failed for {candidate['candidate']}: {verdict.summary()}")
        return result

    @staticmethod
    def _result(verdict: ServingVerdict, port: int, startup: float) -> ServingCheckResult:
        return cast("ServingCheckResult", {**verdict.to_dict(), "port": port, "startup_seconds": round(startup, 3)})

    def on_kill(self) -> None:
        """Airflow is killing the task: stop the model server before the process goes."""
        if self._server is not None:
            self._server.stop()

    def _new_server(self, local_model: str, model_uri: str, workdir: Path) -> ModelServer:
        from airflow_mlops.hooks.model_server import ModelServer

        return ModelServer(
            local_model,
            model_uri=model_uri,
            workdir=workdir,
            startup_timeout=self.startup_timeout_seconds,
            request_timeout=self.request_timeout_seconds,
        )

    def _fetch(self, candidate: Any, dag_id: str, run_id: str, workdir: Path) -> tuple[str, str, list[Any]]:
        """The verified model URI, its files downloaded to ``workdir``, and evaluate's predictions on the rows."""
        import mlflow.artifacts

        from airflow_mlops.governance.recheck import download_json
        from airflow_mlops.ml.trust import verified_model_uri

        hook = self.mlflow_hook
        with hook.session():
            client = hook.get_client()
            model_uri = verified_model_uri(client, candidate, dag_id, run_id)
            recorded = download_json(client, candidate["mlflow_run_id"], paths.OFFLINE_PREDICTIONS)
            if not isinstance(recorded, dict) or not isinstance(recorded.get("predictions"), list):
                raise ConfigurationError(
                    f"candidate {candidate['candidate']!r}: evaluate recorded no offline predictions "
                    f"({paths.OFFLINE_PREDICTIONS} on run {candidate['mlflow_run_id']}) to compare the served "
                    "ones with; "
                    "build evaluate with prediction_rows (the retraining template does when serving_check is enabled)"
                )
            local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(workdir / "model"))
        return model_uri, str(local), list(recorded["predictions"])[: self.rows]

    def _probe(
        self, server: ModelServer, rows: Any
    ) -> tuple[list[Any] | None, str | None, list[float], dict[str, Answer]]:
        """The test rows in one batch (it also warms the server up), single rows timed, malformed requests."""
        from airflow_mlops.gates.serving import Answer
        from airflow_mlops.ml.serving_requests import frame_body, malformed_bodies, predictions_of, single_row_bodies

        batch = server.invoke(frame_body(rows))
        served = predictions_of(batch.body) if batch.status == 200 else None
        failure = None
        if served is None:
            failure = batch.error or f"HTTP {batch.status}: {batch.body[:300].decode(errors='replace')}"
        latencies = []
        for body in single_row_bodies(rows, self.latency_requests):
            reply = server.invoke(body)
            if reply.status == 200:
                latencies.append(reply.elapsed_ms)
        answers = {}
        for probe, body in malformed_bodies(rows, self.malformed_requests).items():
            reply = server.invoke(body)
            count = predictions_of(reply.body) if reply.status == 200 else None
            answers[probe] = Answer(reply.status, None if count is None else len(count), reply.error)
            self.log.info("Malformed request %s: HTTP %s", probe, reply.status)
        return served, failure, latencies, answers

    def _record(
        self, candidate: Any, dag_id: str, run_id: str, result: ServingCheckResult, verdict: ServingVerdict
    ) -> None:
        """The verdict as JSON and tags on the pipeline run and the winner's run, where the gate's verdict is."""
        tags = {tag.SERVING_DECISION: verdict.decision, tag.SERVING_SUMMARY: tag.clip(verdict.summary())}
        latency = next((o.value for o in verdict.outcomes if o.kind == "latency" and o.value is not None), None)
        metrics = {"serving_startup_seconds": result["startup_seconds"]}
        if latency is not None:
            metrics["serving_p95_ms"] = latency
        hook = self.mlflow_hook
        with hook.session():
            pipeline_run = hook.get_or_create_pipeline_run(str(candidate["experiment_id"]), dag_id, run_id)
            for mlflow_run, run_metrics in ((pipeline_run, None), (str(candidate["mlflow_run_id"]), metrics)):
                hook.log_json(mlflow_run, result, paths.SERVING_VERDICT)
                hook.log_batch(mlflow_run, tags=tags, metrics=run_metrics)
        for outcome in verdict.outcomes:
            self.log.info("%s %s", "PASS" if outcome.passed else "FAIL", outcome.reason)
        self.log.info("Serving check: %s", verdict.summary())
