"""MlflowHook: connection parsing, credential hygiene, and a real sqlite-backed MLflow store.

Connections come from ``AIRFLOW_CONN_<ID>`` JSON environment variables, the way Airflow resolves
them without a metadata DB. The registry tests use a real MLflow store (no mocks).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from airflow_mlops.errors import ConfigurationError
from airflow_mlops.hooks.mlflow import MlflowHook, model_version_filter
from airflow_mlops.record import tag

PASSWORD = "s3cr3t-Pa55-do-not-log"
CREDENTIAL_VARS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "mlflow", **fields}))


@pytest.fixture(autouse=True)
def _no_ambient_mlflow_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """session() points MLflow's process-wide fluent API (and its env vars) at the connection; undo that."""
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    monkeypatch.setattr(tracking_utils, "_tracking_uri", tracking_utils._tracking_uri)
    monkeypatch.setattr(registry_utils, "_registry_uri", registry_utils._registry_uri)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", *CREDENTIAL_VARS):
        monkeypatch.delenv(name, raising=False)
    yield


def free_closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- connection parsing ---------------------------------------------------------------------------------------


def test_host_port_and_schema_make_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "mlflow_a", host="mlflow.example.com", port=5443, schema="https")
    hook = MlflowHook("mlflow_a")
    assert hook.tracking_uri == "https://mlflow.example.com:5443"
    assert hook.registry_uri == "https://mlflow.example.com:5443"


def test_bare_host_defaults_to_http(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "mlflow_a", host="mlflow.internal")
    assert MlflowHook("mlflow_a").tracking_uri == "http://mlflow.internal"


@pytest.mark.parametrize(
    ("host", "schema", "port", "expected"),
    [
        ("http://mlflow.internal", "https", 5000, "http://mlflow.internal:5000"),
        ("https://mlflow.example.com", None, None, "https://mlflow.example.com"),
        ("https://mlflow.example.com/", None, 8443, "https://mlflow.example.com:8443"),
        ("https://example.com/mlflow", None, 8443, "https://example.com:8443/mlflow"),
        ("http://127.0.0.1:5000", None, 5000, "http://127.0.0.1:5000"),
    ],
)
def test_host_with_scheme_is_kept(
    monkeypatch: pytest.MonkeyPatch, host: str, schema: str | None, port: int | None, expected: str
) -> None:
    fields: dict[str, Any] = {"host": host}
    if schema:
        fields["schema"] = schema
    if port:
        fields["port"] = port
    set_conn(monkeypatch, "mlflow_a", **fields)
    assert MlflowHook("mlflow_a").tracking_uri == expected


def test_extra_tracking_uri_wins_over_host(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "mlflow_a", host="ignored.example.com", port=5000, extra={"tracking_uri": "sqlite:///x.db"})
    hook = MlflowHook("mlflow_a")
    assert hook.tracking_uri == "sqlite:///x.db"
    assert hook.registry_uri == "sqlite:///x.db"


def test_registry_uri_extra_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "mlflow_a", host="mlflow.internal", extra={"registry_uri": "sqlite:///registry.db"})
    hook = MlflowHook("mlflow_a")
    assert hook.tracking_uri == "http://mlflow.internal"
    assert hook.registry_uri == "sqlite:///registry.db"


def test_default_conn_id(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "mlflow_default", host="default.internal", port=5000)
    assert MlflowHook().tracking_uri == "http://default.internal:5000"


def test_missing_host_and_tracking_uri_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "mlflow_empty", login="someone", extra={"artifact_location": "/tmp/a"})
    hook = MlflowHook("mlflow_empty")
    with pytest.raises(ConfigurationError, match="'mlflow_empty'"):
        _ = hook.tracking_uri
    ok, message = hook.test_connection()
    assert ok is False
    assert "'mlflow_empty'" in message


# --- credentials -----------------------------------------------------------------------------------------------


def test_session_sets_credentials_only_inside_the_block(monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    set_conn(monkeypatch, "mlflow_a", host="mlflow.internal", port=5000, login="alice", password=PASSWORD)
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "outer-password")
    hook = MlflowHook("mlflow_a")
    with hook.session():
        assert os.environ["MLFLOW_TRACKING_USERNAME"] == "alice"
        assert os.environ["MLFLOW_TRACKING_PASSWORD"] == PASSWORD
        assert mlflow.get_tracking_uri() == "http://mlflow.internal:5000"
        assert mlflow.get_registry_uri() == "http://mlflow.internal:5000"
    assert "MLFLOW_TRACKING_USERNAME" not in os.environ
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "outer-password"


def test_session_restores_credentials_after_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "mlflow_a", host="mlflow.internal", login="alice", password=PASSWORD)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "outer-user")
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    hook = MlflowHook("mlflow_a")
    with pytest.raises(RuntimeError, match="boom"), hook.session():
        assert os.environ["MLFLOW_TRACKING_USERNAME"] == "alice"
        raise RuntimeError("boom")
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "outer-user"
    assert "MLFLOW_TRACKING_PASSWORD" not in os.environ


def test_session_without_credentials_leaves_the_environment_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "mlflow_a", host="mlflow.internal")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "outer-user")
    hook = MlflowHook("mlflow_a")
    with hook.session():
        assert os.environ["MLFLOW_TRACKING_USERNAME"] == "outer-user"
        assert "MLFLOW_TRACKING_PASSWORD" not in os.environ
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "outer-user"
    assert "MLFLOW_TRACKING_PASSWORD" not in os.environ


class _BasicAuthMlflow(BaseHTTPRequestHandler):
    """Just enough of an MLflow server behind basic auth for MlflowClient.search_experiments."""

    expected = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    seen: list[tuple[str, str | None]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        auth = self.headers.get("Authorization")
        type(self).seen.append((self.path, auth))
        if auth == self.expected:
            status, body = 200, {"experiments": []}
        else:
            status, body = 401, {"error_code": "UNAUTHENTICATED", "message": "credentials required"}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def auth_server() -> Iterator[str]:
    _BasicAuthMlflow.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BasicAuthMlflow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_test_connection_sends_the_connection_credentials(monkeypatch: pytest.MonkeyPatch, auth_server: str) -> None:
    set_conn(monkeypatch, "mlflow_auth", host=auth_server, login="alice", password=PASSWORD)
    ok, message = MlflowHook("mlflow_auth").test_connection()
    assert (ok, message) == (True, f"connected to MLflow at {auth_server}")
    assert _BasicAuthMlflow.seen, "the server was never called"
    assert all(auth == _BasicAuthMlflow.expected for _, auth in _BasicAuthMlflow.seen)
    assert not any(name in os.environ for name in CREDENTIAL_VARS)


def test_test_connection_reports_wrong_credentials(monkeypatch: pytest.MonkeyPatch, auth_server: str) -> None:
    set_conn(monkeypatch, "mlflow_auth", host=auth_server, login="alice", password="wrong")
    ok, message = MlflowHook("mlflow_auth").test_connection()
    assert ok is False
    assert message.startswith(f"cannot reach MLflow at {auth_server}: ")
    assert "wrong" not in message


def test_test_connection_fails_fast_on_a_closed_port(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_closed_port()
    set_conn(monkeypatch, "mlflow_down", host="http://127.0.0.1", port=port)
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    started = time.monotonic()
    ok, message = MlflowHook("mlflow_down").test_connection()
    elapsed = time.monotonic() - started
    assert ok is False
    assert message.startswith(f"cannot reach MLflow at http://127.0.0.1:{port}: ")
    # MLflow's default retry policy would take about 4 minutes here.
    assert elapsed < 60, f"test_connection took {elapsed:.0f}s"
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ


def test_password_never_in_repr_or_logs(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    auth_server: str,
) -> None:
    set_conn(monkeypatch, "mlflow_auth", host=auth_server, login="alice", password=PASSWORD)
    caplog.set_level(logging.DEBUG)
    hook = MlflowHook("mlflow_auth")
    assert PASSWORD not in repr(hook)
    assert PASSWORD not in str(hook)
    # Airflow hooks log through structlog to stdout, which caplog does not see; capture both and
    # make sure the capture works by logging a canary through the hook's own logger.
    hook.log.warning("canary-%s", "7f3a")
    results = [
        hook.tracking_uri,
        hook.registry_uri,
        hook.run_url("1", "abc"),
        hook.model_version_url("m", "1"),
        hook.test_connection(),
    ]
    with hook.session():
        hook.get_client()
    results.append(repr(hook))
    out, err = capfd.readouterr()
    logged = out + err + caplog.text
    assert "canary-7f3a" in logged
    assert PASSWORD not in logged
    assert PASSWORD not in repr(results)
    for record in caplog.records:
        assert PASSWORD not in record.getMessage()
        assert PASSWORD not in repr(record.args)


# --- UI links --------------------------------------------------------------------------------------------------


def test_urls_are_none_for_a_sqlite_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    set_conn(monkeypatch, "mlflow_sql", extra={"tracking_uri": f"sqlite:///{tmp_path}/mlflow.db", "create_store": True})
    hook = MlflowHook("mlflow_sql")
    assert hook.run_url("1", "abc") is None
    assert hook.model_version_url("model", "3") is None


@pytest.mark.parametrize("host", ["http://mlflow.internal:5000", "http://mlflow.internal:5000/"])
def test_urls_for_an_http_server(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    set_conn(monkeypatch, "mlflow_http", host=host)
    hook = MlflowHook("mlflow_http")
    assert hook.run_url("7", "abc123") == "http://mlflow.internal:5000/#/experiments/7/runs/abc123"
    assert hook.model_version_url("churn", "3") == "http://mlflow.internal:5000/#/models/churn/versions/3"


# --- a real sqlite-backed MLflow store -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    root = tmp_path_factory.mktemp("mlflow-store")
    paths = {"db": root / "mlflow.db", "artifacts": root / "artifacts", "cwd": root / "cwd"}
    paths["cwd"].mkdir()
    with pytest.MonkeyPatch.context() as patch:
        set_conn(
            patch,
            "mlflow_sqlite",
            extra={
                "tracking_uri": f"sqlite:///{paths['db']}",
                "artifact_location": str(paths["artifacts"]),
                "create_store": True,  # a fresh store, created by the first test
            },
        )
        # A stray ./mlruns or ./mlflow.db in the working directory would mean the hook's URIs were ignored.
        patch.chdir(paths["cwd"])
        yield paths


@pytest.fixture
def sqlite_hook(store: dict[str, Path]) -> MlflowHook:
    return MlflowHook("mlflow_sqlite")


def test_sqlite_store_connection(sqlite_hook: MlflowHook, store: dict[str, Path]) -> None:
    ok, message = sqlite_hook.test_connection()
    assert ok is True, message
    assert message == f"connected to MLflow at sqlite:///{store['db']}"
    assert store["db"].is_file()


def test_get_or_create_experiment_is_idempotent(sqlite_hook: MlflowHook, store: dict[str, Path]) -> None:
    first = sqlite_hook.get_or_create_experiment("churn")
    assert sqlite_hook.get_or_create_experiment("churn") == first
    other = sqlite_hook.get_or_create_experiment("fraud")
    assert other != first
    client = sqlite_hook.get_client()
    assert client.get_experiment(first).artifact_location == f"{store['artifacts']}/churn"

    run_id = sqlite_hook.get_or_create_pipeline_run(first, "churn_dag", "manual__1")
    client.log_text(run_id, "hello", "notes/hello.txt")
    written = store["artifacts"] / "churn" / run_id / "artifacts" / "notes" / "hello.txt"
    assert written.read_text() == "hello"
    assert not (store["cwd"] / "mlruns").exists()
    assert not (store["cwd"] / "mlflow.db").exists()


def test_deleted_experiment_is_restored(sqlite_hook: MlflowHook) -> None:
    experiment_id = sqlite_hook.get_or_create_experiment("to_be_deleted")
    client = sqlite_hook.get_client()
    client.delete_experiment(experiment_id)
    assert sqlite_hook.get_or_create_experiment("to_be_deleted") == experiment_id
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"


def test_pipeline_run_is_one_per_dag_run(sqlite_hook: MlflowHook) -> None:
    experiment_id = sqlite_hook.get_or_create_experiment("pipeline_runs")
    first = sqlite_hook.get_or_create_pipeline_run(experiment_id, "dag_a", "scheduled__2024-01-01T00:00:00+00:00")
    again = sqlite_hook.get_or_create_pipeline_run(experiment_id, "dag_a", "scheduled__2024-01-01T00:00:00+00:00")
    other_run = sqlite_hook.get_or_create_pipeline_run(experiment_id, "dag_a", "scheduled__2024-01-02T00:00:00+00:00")
    other_dag = sqlite_hook.get_or_create_pipeline_run(experiment_id, "dag_b", "scheduled__2024-01-01T00:00:00+00:00")
    assert first == again
    assert len({first, other_run, other_dag}) == 3
    tags = sqlite_hook.get_client().get_run(first).data.tags
    assert tags[tag.DAG_ID] == "dag_a"
    assert tags[tag.RUN_ID] == "scheduled__2024-01-01T00:00:00+00:00"
    assert tags[tag.ROLE] == "pipeline"


def test_pipeline_run_lookup_survives_a_quote_in_the_run_id(sqlite_hook: MlflowHook) -> None:
    experiment_id = sqlite_hook.get_or_create_experiment("quoted")
    run_id = "manual__it's"
    first = sqlite_hook.get_or_create_pipeline_run(experiment_id, "dag_q", run_id)
    assert sqlite_hook.get_or_create_pipeline_run(experiment_id, "dag_q", run_id) == first


def test_model_versions_and_aliases(sqlite_hook: MlflowHook) -> None:
    import mlflow
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    model_name = "hook_test_model"
    tags_1 = {tag.DAG_ID: "dag_m", tag.RUN_ID: "run_1"}
    tags_2 = {tag.DAG_ID: "dag_m", tag.RUN_ID: "run_2"}
    assert sqlite_hook.find_model_version(model_name, tags_1) is None
    assert sqlite_hook.alias_version(model_name, "champion") is None

    experiment_id = sqlite_hook.get_or_create_experiment("registry")
    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    with sqlite_hook.session():
        with mlflow.start_run(experiment_id=experiment_id):
            info = mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])
        first = mlflow.register_model(info.model_uri, model_name, tags=tags_1)
        second = mlflow.register_model(info.model_uri, model_name, tags=tags_2)
    assert (str(first.version), str(second.version)) == ("1", "2")

    found = sqlite_hook.find_model_version(model_name, tags_1)
    assert found is not None and str(found.version) == "1"
    found = sqlite_hook.find_model_version(model_name, tags_2)
    assert found is not None and str(found.version) == "2"
    assert sqlite_hook.find_model_version(model_name, {tag.DAG_ID: "dag_m", tag.RUN_ID: "run_3"}) is None
    assert sqlite_hook.find_model_version("another_model", tags_1) is None

    assert sqlite_hook.alias_version(model_name, "champion") is None
    sqlite_hook.get_client().set_registered_model_alias(model_name, "champion", "1")
    champion = sqlite_hook.alias_version(model_name, "champion")
    assert champion is not None and str(champion.version) == "1"
    assert sqlite_hook.alias_version(model_name, "previous") is None


def test_a_retry_closes_the_runs_an_earlier_try_left_running(sqlite_hook: MlflowHook) -> None:
    experiment_id = sqlite_hook.get_or_create_experiment("abandoned")
    client = sqlite_hook.get_client()
    tags = {tag.DAG_ID: "d", tag.RUN_ID: "manual__1", tag.ROLE: "candidate", "mlops.candidate": "logreg"}
    left_running = client.create_run(experiment_id, tags=tags).info.run_id  # a killed try never ends its run
    finished = client.create_run(experiment_id, tags=tags).info.run_id
    client.set_terminated(finished, status="FINISHED")
    other_candidate = client.create_run(experiment_id, tags={**tags, "mlops.candidate": "forest"}).info.run_id

    closed = sqlite_hook.close_abandoned_runs(experiment_id, tags, "superseded by try 2")

    assert closed == [left_running]
    assert client.get_run(left_running).info.status == "KILLED"
    assert client.get_run(left_running).data.tags["mlops.abandoned"] == "superseded by try 2"
    assert client.get_run(finished).info.status == "FINISHED"
    assert client.get_run(other_candidate).info.status == "RUNNING"
    assert sqlite_hook.close_abandoned_runs(experiment_id, tags, "again") == []


def test_model_version_filter_quotes_each_value_for_mlflow_search() -> None:
    assert model_version_filter("m") == "name = 'm'"
    assert model_version_filter("it's", {"mlops.run_id": "a", "k": 'say "x"'}) == (
        """name = "it's" and tags.`mlops.run_id` = 'a' and tags.`k` = 'say "x"'"""
    )
    with pytest.raises(ValueError, match="both quote characters"):
        model_version_filter("m", {"k": """it's "x" """})


# --- the run lifecycle ------------------------------------------------------------------------------------------


def test_get_or_create_run_finds_its_run_by_tags_and_keeps_its_params(sqlite_hook: MlflowHook) -> None:
    experiment_id = sqlite_hook.get_or_create_experiment("lifecycle")
    tags = tag.identity("dag_l", "manual__it's", tag.ROLE_DRIFT)
    first = sqlite_hook.get_or_create_run(experiment_id, tags, run_name="drift 1", params={"bins": 10, "psi": 0.2})
    # A retry finds it; the params it would log differ, and MLflow never lets a param change.
    again = sqlite_hook.get_or_create_run(experiment_id, tags, run_name="drift 2", params={"bins": 20})
    other = sqlite_hook.get_or_create_run(experiment_id, {**tags, tag.ROLE: tag.ROLE_SCORING}, run_name="s")
    assert first == again != other
    run = sqlite_hook.get_client().get_run(first)
    assert run.data.params == {"bins": "10", "psi": "0.2"}
    assert run.info.run_name == "drift 1"
    assert {k: run.data.tags[k] for k in tags} == tags


def test_fail_resume_and_finish_a_run(sqlite_hook: MlflowHook) -> None:
    client = sqlite_hook.get_client()
    experiment_id = sqlite_hook.get_or_create_experiment("lifecycle")
    run_id = sqlite_hook.create_run(experiment_id, tag.identity("dag_f", "r", tag.ROLE_SCORING), run_name="f")
    assert client.get_run(run_id).info.status == "RUNNING"
    sqlite_hook.fail_run(run_id, "DataVersionError: " + "x" * 6000)
    failed = client.get_run(run_id)
    assert failed.info.status == "FAILED"
    assert failed.data.tags[tag.FAILURE] == ("DataVersionError: " + "x" * 6000)[: tag.VALUE_MAX_CHARS]
    sqlite_hook.resume_run(run_id)
    assert client.get_run(run_id).info.status == "RUNNING"
    sqlite_hook.finish_run(run_id)
    assert client.get_run(run_id).info.status == "FINISHED"


def test_log_batch_stays_within_mlflow_batch_limits(sqlite_hook: MlflowHook) -> None:
    experiment_id = sqlite_hook.get_or_create_experiment("lifecycle")
    run_id = sqlite_hook.create_run(experiment_id, {tag.DAG_ID: "dag_b"}, run_name="b")
    metrics = {f"psi.f{i}": i / 10 for i in range(2500)}
    params = {f"p{i}": i for i in range(150)}
    tags = {f"t{i}": str(i) for i in range(120)}
    sqlite_hook.log_batch(run_id, metrics=metrics, params=params, tags=tags)  # MLflow refuses >1000 / >100 a call
    sqlite_hook.log_batch(run_id)  # nothing to log, no call
    data = sqlite_hook.get_client().get_run(run_id).data
    assert data.metrics == metrics
    assert data.params == {k: str(v) for k, v in params.items()}
    assert {k: v for k, v in data.tags.items() if k.startswith("t")} == tags


def test_log_json_writes_an_indented_artifact(sqlite_hook: MlflowHook, store: dict[str, Path]) -> None:
    import datetime as dt

    experiment_id = sqlite_hook.get_or_create_experiment("lifecycle")
    run_id = sqlite_hook.create_run(experiment_id, {tag.DAG_ID: "dag_j"}, run_name="j")
    when = dt.date(2026, 1, 2)
    sqlite_hook.log_json(run_id, {"b": 1, "a": when}, "report/out.json", sort_keys=True)
    written = store["artifacts"] / "lifecycle" / run_id / "artifacts" / "report" / "out.json"
    assert written.read_text() == json.dumps({"a": str(when), "b": 1}, indent=2)


def test_register_version_writes_tags_and_description_in_one_create(sqlite_hook: MlflowHook) -> None:
    import mlflow
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    experiment_id = sqlite_hook.get_or_create_experiment("register")
    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    with sqlite_hook.session():
        with mlflow.start_run(experiment_id=experiment_id) as run:
            info = mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])
        first = sqlite_hook.register_version("hook_registered", info.model_uri, {tag.DAG_ID: "d"}, "first")
        # Not a logged-model URI: the generic registration path, then the description.
        second = sqlite_hook.register_version(
            "hook_registered", f"runs:/{run.info.run_id}/model", {tag.DAG_ID: "e"}, "second"
        )
    assert (first, second) == ("1", "2")
    client = sqlite_hook.get_client()
    one, two = client.get_model_version("hook_registered", "1"), client.get_model_version("hook_registered", "2")
    assert (one.description, one.tags[tag.DAG_ID], one.source) == ("first", "d", info.model_uri)
    assert (two.description, two.tags[tag.DAG_ID]) == ("second", "e")
