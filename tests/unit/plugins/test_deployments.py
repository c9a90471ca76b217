"""The Deployments section's view model: deploy records written in the record vocabulary, real endpoint folders.

Versions carry the ``mlops.deploy.*`` tags the deploy step writes, read back through
``VersionLineage.from_tags`` as the model record does. A local endpoint is a real folder written by
``EndpointStore`` (the deploy target's own state code); its proxy is this test process, listening on a
socket that answers ``/ping`` or never answers at all, so the reader's timeout is tested, not assumed.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_mlops.deploy.local import root_of
from airflow_mlops.deploy.processes import Identity, identify
from airflow_mlops.deploy.state import EndpointState, EndpointStore, Slot
from airflow_mlops.plugins.deployments import deployments_view, recorded_serving, version_label
from airflow_mlops.plugins.endpoints import EndpointReader
from airflow_mlops.record import tag
from airflow_mlops.record.lineage import VersionLineage

MODEL = "churn"
GONE = Identity(pid=2**22 + 7, started=1)  # a process that does not run: pids never reach 2**22 + 7 here
SMOKE = {
    "decision": "fail", "summary": "smoke check failed: p95 latency 9.0 ms above max_p95_ms 0.001 ms",
    "requests": 10, "failed": 0, "error_rate": 0.0, "p95_ms": 9.0,
    "limits": {"max_error_rate": 0.0, "max_p95_ms": 0.001},
    "breaches": ["p95 latency 9.0 ms above max_p95_ms 0.001 ms"], "first_error": None,
}  # fmt: skip


def deploy_tags(target: str, decision: str, at: str, **more: str) -> dict[str, str]:
    """What the deploy step writes on a version (operators/deploy.py ``_record``)."""
    return {
        tag.DEPLOY_TARGET: target,
        tag.DEPLOY_ENDPOINT: MODEL,
        tag.DEPLOY_URL: "http://127.0.0.1:5001",
        tag.DEPLOY_STRATEGY: "direct",
        tag.DEPLOY_DECISION: decision,
        tag.DEPLOY_SUMMARY: more.pop("summary", f"{decision} summary"),
        tag.DEPLOY_AT: at,
        tag.DEPLOY_BY: "airflow:churn_retrain/manual__1",
        tag.DEPLOY_SMOKE: json.dumps(SMOKE),
        **more,
    }


def version(number: str, tags: dict[str, str]) -> dict[str, Any]:
    """A version as ``records.model_record`` lists it (only what the section reads)."""
    return {"version": number, "deployment": VersionLineage.from_tags(tags).deployment.shown()}


ROLLED_BACK = "smoke check failed: p95 above the limit; rolled back: endpoint serves models:/churn/1 again"
ALIAS_ROLLBACK = {
    "at": "2026-01-02T10:00:05+00:00", "actor": "airflow:churn_retrain/manual__2", "action": "rollback",
    "from": "2", "to": "1", "reason": "deploy smoke check of v2 at endpoint 'churn': p95 above", "forced": False,
}  # fmt: skip


def test_a_deploy_record_reads_back_with_unknown_tags_kept() -> None:
    tags = deploy_tags("mlops-local", "deployed", "2026-01-01T00:00:00+00:00")
    tags[tag.DEPLOY_PREFIX + "bake.verdict"] = "held for 60 s"  # a newer deploy step's tag
    shown = VersionLineage.from_tags(tags).deployment.shown()
    assert shown is not None
    assert shown["decision"] == "deployed" and shown["smoke"]["breaches"] == SMOKE["breaches"]
    assert shown["other"] == {"bake.verdict": "held for 60 s"}
    assert VersionLineage.from_tags({tag.GATE_DECISION: "promote"}).deployment.shown() is None


def test_another_target_is_shown_as_last_recorded_with_its_rollbacks(tmp_path: Path) -> None:
    versions = [
        version("3", {}),
        version("2", deploy_tags("databricks", "rolled_back", "2026-01-02T10:00:00+00:00", summary=ROLLED_BACK)),
        version("1", deploy_tags("databricks", "deployed", "2026-01-01T00:00:00+00:00")),
    ]
    view = deployments_view(MODEL, versions, [ALIAS_ROLLBACK], EndpointReader(str(tmp_path)))
    [endpoint] = view["endpoints"]
    assert endpoint["target"] == "databricks" and not endpoint["local"] and not endpoint["live"]
    assert endpoint["serving"][0]["version"] == "v1"  # v2 was rolled back: the one before serves
    assert endpoint["answering"] is None and "does not query" in endpoint["note"]
    assert endpoint["last_rollout"]["version"] == "2" and endpoint["last_rollout"]["decision"] == "rolled_back"
    assert [r["version"] for r in endpoint["rollouts"]] == ["2", "1"]
    # Both rollbacks: the endpoint's (from the deploy record) and the alias's (promotion history).
    by_kind = {r["kind"]: r for r in view["rollbacks"]}
    assert by_kind["endpoint"]["reason"] == ROLLED_BACK and by_kind["endpoint"]["from"] == "v2"
    assert by_kind["alias"]["from"] == "v2" and by_kind["alias"]["to"] == "v1"
    assert by_kind["alias"]["reason"] == ALIAS_ROLLBACK["reason"]


def test_recorded_serving_walks_back_over_rollbacks() -> None:
    rolled = {"decision": "rolled_back"}
    walked = recorded_serving(
        [{**rolled, "version": "3"}, {**rolled, "version": "2"}, {"decision": "failed", "version": "1"}]
    )
    assert walked == [{"version": "v1", "number": "1", "weight": None, "model_uri": None, "running": None}]
    assert recorded_serving([{**rolled, "version": "1"}]) == []  # a first version rolled back: the endpoint stopped
    assert recorded_serving([{"decision": "some_new_outcome", "version": "4"}])[0]["version"] == "v4"


def test_version_labels_and_local_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert version_label(MODEL, "models:/churn/3") == "v3"
    assert version_label(MODEL, "models:/fraud/3") == "fraud v3"
    assert version_label(MODEL, "models:/m-abc") == "models:/m-abc" and version_label(MODEL, None) is None
    assert root_of(f"mlops-local:{tmp_path}") == str(tmp_path)
    assert root_of("mlops-local", "/srv/endpoints") == "/srv/endpoints"
    monkeypatch.setenv("AIRFLOW__MLOPS__ENDPOINTS_ROOT", str(tmp_path / "configured"))
    assert root_of("mlops-local") == str(tmp_path / "configured")
    assert root_of("databricks") is None and root_of("sagemaker:/region") is None


# --- a live local endpoint --------------------------------------------------------------------------------


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers: a proxy that hangs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


@pytest.fixture
def ping_port() -> Iterator[int]:
    """A port whose ``/ping`` answers 200, like a healthy proxy."""

    class Ping(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/ping" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ping)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def write_endpoint(root: Path, port: int, *, model: str = MODEL, name: str = MODEL) -> EndpointState:
    """An endpoint mid-canary whose proxy is this process, with a rollback and a canary taken back in its history."""

    def slot(n: str, weight: int, started: int = GONE.started) -> Slot:
        return Slot(slot=f"{n}-x", model_uri=f"models:/{model}/{n}", port=port + 1, process=Identity(GONE.pid, started),
                    weight=weight, version=n, registered_model=model, since="2026-01-03T00:00:00+00:00")  # fmt: skip

    state = EndpointState(name=name, port=port, proxy=identify(os.getpid()), serving=[slot("1", 90), slot("3", 10)])
    state.history = [
        {"at": "2026-01-01T00:00:00+00:00", "action": "deploy", "model_uri": f"models:/{model}/1", "replaced": [],
         "reason": "first"},
        {"at": "2026-01-02T10:00:01+00:00", "action": "rollback", "model_uri": f"models:/{model}/1",
         "replaced": [f"models:/{model}/2"], "reason": "deploy smoke check of v2: <b>p95</b> above"},
        {"at": "2026-01-02T11:00:00+00:00", "action": "canary_old", "model_uri": f"models:/{model}/1",
         "stopped": f"models:/{model}/4", "reason": "bake breached"},
        {"at": "2026-01-03T00:00:00+00:00", "action": "canary", "model_uri": f"models:/{model}/3",
         "replaced": [f"models:/{model}/1"], "reason": "canary of v3"},
    ]  # fmt: skip
    EndpointStore(root).save(state)
    return state


def test_a_local_endpoint_is_read_live_and_a_hung_proxy_costs_about_a_second(tmp_path: Path, silent_port: int) -> None:
    write_endpoint(tmp_path, silent_port)
    versions = [
        version("2", deploy_tags("mlops-local", "rolled_back", "2026-01-02T10:00:02+00:00", summary=ROLLED_BACK))
    ]
    reader = EndpointReader(str(tmp_path), ping_timeout=0.5)
    started = time.monotonic()
    view = deployments_view(MODEL, versions, [ALIAS_ROLLBACK], reader)
    assert time.monotonic() - started < 3.0
    [endpoint] = view["endpoints"]  # the recorded rollout and the folder's endpoint are the same one
    assert endpoint["live"] and endpoint["answering"] is False and endpoint["url"] == f"http://127.0.0.1:{silent_port}"
    assert [(s["version"], s["weight"], s["running"]) for s in endpoint["serving"]] == [
        ("v1", 90, False),
        ("v3", 10, False),
    ]
    assert endpoint["last_rollout"]["version"] == "2"
    assert [c["action"] for c in endpoint["changes"]] == ["canary", "canary_old", "rollback", "deploy"]
    # Rollbacks come from the endpoint's history when it is read live, newest first, and the alias's from governance.
    assert [(r["kind"], r["from"], r["to"], r["source"]) for r in view["rollbacks"]] == [
        ("endpoint", "v4", "v1", "endpoint history"),
        ("alias", "v2", "v1", "promotion history"),
        ("endpoint", "v2", "v1", "endpoint history"),
    ]
    assert view["rollbacks"][2]["reason"] == "deploy smoke check of v2: <b>p95</b> above"


def test_an_answering_endpoint_deployed_by_hand_is_found(tmp_path: Path, ping_port: int) -> None:
    write_endpoint(tmp_path, ping_port, name="churn-manual")
    write_endpoint(tmp_path, ping_port, model="fraud", name="fraud")  # another model's endpoint: not shown
    view = deployments_view(MODEL, [], [], EndpointReader(str(tmp_path)))
    [endpoint] = view["endpoints"]
    assert endpoint["name"] == "churn-manual" and endpoint["target"] == "mlops-local"
    assert endpoint["live"] and endpoint["answering"] is True and endpoint["last_rollout"] is None


def test_a_broken_or_missing_state_falls_back_to_the_record(tmp_path: Path) -> None:
    (tmp_path / MODEL).mkdir()
    (tmp_path / MODEL / "state.json").write_text('{"name": "churn", "po')  # cut short
    versions = [version("1", deploy_tags(f"mlops-local:{tmp_path}", "deployed", "2026-01-01T00:00:00+00:00"))]
    [endpoint] = deployments_view(MODEL, versions, [], EndpointReader("/nowhere"))["endpoints"]
    assert not endpoint["live"] and "could not be read (JSONDecodeError)" in endpoint["note"]
    assert endpoint["serving"][0]["version"] == "v1" and endpoint["url"] == "http://127.0.0.1:5001"
    versions = [version("1", deploy_tags("mlops-local", "deployed", "2026-01-01T00:00:00+00:00"))]
    [endpoint] = deployments_view(MODEL, versions, [], EndpointReader(str(tmp_path / "empty")))["endpoints"]
    assert "no endpoint state under" in endpoint["note"] and endpoint["serving"][0]["version"] == "v1"
