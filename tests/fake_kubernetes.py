"""A Kubernetes API with KServe installed, emulated: an HTTP server on 127.0.0.1 in a thread.

Kubernetes cannot run here, so the ``mlops-kserve`` target is tested against this, through the real
``kubernetes`` client (``Configuration(host=...)`` from ``MLOPS_KSERVE_HOST``) and real HTTP. It
emulates what the target relies on and nothing else:

- the custom-objects endpoints for ``inferenceservices`` (``serving.kserve.io/v1beta1``): get, list,
  create, JSON merge patch (RFC 7386), delete, with Kubernetes ``Status`` bodies for 401 (no or a
  wrong bearer token), 403 (a namespace the token may not touch), 404, 409, 415 and 422;
- KServe's controller, one read behind (a read shows the status from before the latest change,
  as a real controller lags): a new predictor revision when the predictor's spec other than
  ``canaryTrafficPercent`` changes, ready after ``polls_to_ready`` reads or never (``broken``), the
  ``Ready`` condition, ``observedGeneration``, and the traffic and rolled-out bookkeeping as KServe
  computes them (pkg/controller/.../knative/ksvc_reconciler.go and PropagateStatus in
  pkg/apis/serving/v1beta1/inference_service_status.go, read, not copied): with
  ``canaryTrafficPercent`` the latest ready revision gets that share and the last revision rolled
  out to 100 % the rest;
- the predictor's Open Inference Protocol endpoint, ``POST .../v2/models/<name>/infer``, which
  checks the request's shape, picks a revision by the traffic split (deterministically: request n
  goes to the latest revision when (53 n mod 100) < its percent, so any 100 requests split exactly)
  and answers with what ``models[storage_uri]`` predicts for the rows.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

API = re.compile(r"^/apis/serving\.kserve\.io/v1beta1/namespaces/([^/]+)/inferenceservices(?:/([^/]+))?$")
SERVE = re.compile(r"^/serve/([^/]+)/([^/]+)/v2/models/([^/]+)/infer$")
INGRESS = re.compile(r"^/v2/models/([^/]+)/infer$")
NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DATATYPES = {"BOOL", "INT64", "FP64", "FP32", "INT32", "BYTES"}
Model = Callable[[dict[str, list[Any]]], list[Any]]


@dataclass
class Revision:
    name: str
    predictor: dict[str, Any]  # the predictor's spec without canaryTrafficPercent
    polls_left: int
    broken: bool
    ready: bool = False

    @property
    def storage_uri(self) -> str:
        return str(self.predictor["model"]["storageUri"])


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, null removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason,
            "code": code}  # fmt: skip


class FakeKube:
    """The emulated cluster's state; :meth:`running` serves it."""

    def __init__(self, token: str = "test-token", *, ingress: bool = False) -> None:
        self.token = token
        self.ingress = ingress  # status.url is a host name routed by the Host header, as behind an ingress
        self.forbidden: set[str] = set()
        self.broken: set[str] = set()
        self.models: dict[str, Model] = {}
        self.polls_to_ready = 1
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.revisions: dict[tuple[str, str], list[Revision]] = {}
        self.routes: dict[tuple[str, str], list[tuple[Revision, int]]] = {}
        self.sent: Counter[tuple[str, str]] = Counter()
        self.answers: Counter[str] = Counter()  # storage URI -> requests it answered
        self.calls: list[tuple[str, str, str]] = []  # (method, path, content type) of API calls
        self.lock = threading.Lock()
        self.url = ""

    # --- the server ---------------------------------------------------------------------------------

    @contextmanager
    def running(self) -> Iterator[FakeKube]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length)) if length else None

            def _answer(self, code: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                path = urlparse(self.path).path
                body = self._body() if method in ("POST", "PATCH") else None
                with fake.lock:
                    code, payload = fake.handle(method, path, dict(self.headers), body)
                self._answer(code, payload)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PATCH(self) -> None:
                self._handle("PATCH")

            def do_DELETE(self) -> None:
                self._handle("DELETE")

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, name="fake-kubernetes", daemon=True)
        thread.start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)

    def handle(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        headers = {k.lower(): v for k, v in headers.items()}
        served = SERVE.match(path)
        if served is not None:
            return self.infer((served[1], served[2]), served[3], body)
        if self.ingress and INGRESS.match(path):
            host = headers.get("host", "").split(":")[0]
            name, _, rest = host.partition(".")
            return self.infer((rest.split(".")[0], name), INGRESS.match(path)[1], body)  # type: ignore[index]
        api = API.match(path)
        if api is None:
            return 404, status_body(404, "NotFound", f"the server could not find the requested resource {path}")
        self.calls.append((method, path, headers.get("content-type", "")))
        namespace, name = api[1], api[2]
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, status_body(401, "Unauthorized", "Unauthorized")
        if namespace in self.forbidden:
            return 403, status_body(
                403, "Forbidden",
                f'inferenceservices.serving.kserve.io is forbidden: User "system:serviceaccount:airflow:deployer" '
                f'cannot {method.lower()} resource "inferenceservices" in API group "serving.kserve.io" in the '
                f'namespace "{namespace}"',
            )  # fmt: skip
        if name is None:
            return self.collection(method, namespace, body)
        return self.member(method, (namespace, name), headers, body)

    # --- the API ------------------------------------------------------------------------------------

    def collection(self, method: str, namespace: str, body: Any) -> tuple[int, Any]:
        if method == "GET":
            keys = sorted(key for key in self.objects if key[0] == namespace)
            return 200, {
                "apiVersion": "serving.kserve.io/v1beta1",
                "kind": "InferenceServiceList",
                "items": [self.read(key) for key in keys],
                "metadata": {},
            }
        if method != "POST":
            return 405, status_body(405, "MethodNotAllowed", method)
        name = str((body.get("metadata") or {}).get("name"))
        if body.get("kind") != "InferenceService" or body.get("apiVersion") != "serving.kserve.io/v1beta1":
            return 400, status_body(400, "BadRequest", "not a serving.kserve.io/v1beta1 InferenceService")
        if not NAME.match(name):
            return 422, status_body(422, "Invalid", f'InferenceService "{name}" is invalid: metadata.name')
        if (namespace, name) in self.objects:
            return 409, status_body(409, "AlreadyExists", f'inferenceservices "{name}" already exists')
        obj = copy.deepcopy(body)
        obj["metadata"].update(namespace=namespace, generation=1, uid=f"uid-{name}")
        obj["status"] = {}
        self.objects[(namespace, name)] = obj
        self.revisions[(namespace, name)] = []
        return 201, copy.deepcopy(obj)

    def member(self, method: str, key: tuple[str, str], headers: dict[str, str], body: Any) -> tuple[int, Any]:
        if key not in self.objects:
            return 404, status_body(404, "NotFound", f'inferenceservices.serving.kserve.io "{key[1]}" not found')
        if method == "GET":
            return 200, self.read(key)
        if method == "DELETE":
            del self.objects[key]
            self.revisions.pop(key, None)
            self.routes.pop(key, None)
            return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success", "details": {"name": key[1]}}
        if method != "PATCH":
            return 405, status_body(405, "MethodNotAllowed", method)
        if headers.get("content-type") != "application/merge-patch+json":
            return 415, status_body(415, "UnsupportedMediaType", f"unsupported patch {headers.get('content-type')}")
        obj = self.objects[key]
        patched = merge_patch(obj, body)
        if patched["spec"] != obj["spec"]:
            patched["metadata"]["generation"] = int(obj["metadata"]["generation"]) + 1
        self.objects[key] = patched
        return 200, copy.deepcopy(patched)

    # --- KServe's controller ------------------------------------------------------------------------

    def read(self, key: tuple[str, str]) -> dict[str, Any]:
        """The object as stored, then the controller's next step (so reads lag one step behind)."""
        snapshot = copy.deepcopy(self.objects[key])
        self.reconcile(key)
        return snapshot

    def reconcile(self, key: tuple[str, str]) -> None:
        obj, revisions = self.objects[key], self.revisions[key]
        for revision in revisions:
            if not revision.ready and not revision.broken:
                revision.ready = revision.polls_left <= 0
                revision.polls_left -= 1
        predictor = dict(obj["spec"]["predictor"])
        canary = predictor.pop("canaryTrafficPercent", None)
        if not revisions or revisions[-1].predictor != predictor:
            storage = str(predictor["model"]["storageUri"])
            revision = Revision(f"{key[1]}-predictor-{len(revisions) + 1:05d}", predictor, self.polls_to_ready - 1,
                                broken=storage in self.broken)  # fmt: skip
            revision.ready = not revision.broken and self.polls_to_ready <= 0
            revisions.append(revision)
        status = obj["status"]
        component = dict((status.get("components") or {}).get("predictor") or {})
        latest_created = revisions[-1]
        latest_ready = next((r for r in reversed(revisions) if r.ready), None)
        rolled_out = component.get("latestRolledoutRevision")
        routes: list[tuple[Revision, int]] = []
        traffic: list[dict[str, Any]] = []
        if latest_ready is not None:
            if canary is not None and rolled_out:
                previous = next(r for r in revisions if r.name == rolled_out)
                routes = [(latest_ready, int(canary)), (previous, 100 - int(canary))]
            else:
                routes = [(latest_ready, 100)]
            traffic = [
                {"revisionName": r.name, "latestRevision": i == 0, "percent": p, **({"tag": "prev"} if i else {})}
                for i, (r, p) in enumerate(routes)
                if i == 0 or p > 0
            ]
            self._propagate(component, latest_ready.name, latest_created.name, traffic)
        self.routes[key] = routes
        ready = latest_created.ready
        condition = {"type": "Ready", "status": "True" if ready else ("False" if latest_created.broken else "Unknown")}
        if latest_created.broken:
            condition["reason"] = "RevisionFailed"
            condition["message"] = (
                f'Revision "{latest_created.name}" failed with message: storage-initializer: '
                f"no model at {latest_created.storage_uri}"
            )
        elif not ready:
            condition["reason"] = "RevisionMissing"
            condition["message"] = f'Revision "{latest_created.name}" is not ready yet'
        component.update(
            latestCreatedRevision=latest_created.name,
            latestReadyRevision=latest_ready.name if latest_ready else None,
            traffic=traffic,
        )
        status.update(
            observedGeneration=obj["metadata"]["generation"],
            conditions=[condition, {**condition, "type": "PredictorReady"}],
            components={"predictor": component},
        )
        if latest_ready is not None:
            status["url"] = self.service_url(key)

    @staticmethod
    def _propagate(component: dict[str, Any], latest_ready: str, latest_created: str, traffic: list[Any]) -> None:
        """KServe's rolled-out bookkeeping: a revision with 100 % becomes the rolled-out one."""
        totals: Counter[str] = Counter()
        for target in traffic:
            totals[target["revisionName"]] += target["percent"]
        for target in traffic:
            if target["revisionName"] != latest_ready or not target["latestRevision"]:
                continue
            if component.get("latestRolledoutRevision") != latest_ready:
                if target["percent"] == 100:
                    component["previousRolledoutRevision"] = component.get("latestRolledoutRevision")
                    component["latestRolledoutRevision"] = latest_ready
            elif (
                latest_ready == latest_created
                and target["percent"] < 100
                and totals[latest_ready] == 100
                and component.get("previousRolledoutRevision")
            ):
                component["latestRolledoutRevision"] = component["previousRolledoutRevision"]

    def service_url(self, key: tuple[str, str]) -> str:
        if self.ingress:
            return f"http://{key[1]}.{key[0]}.example.com"
        return f"{self.url}/serve/{key[0]}/{key[1]}"

    # --- the predictor ------------------------------------------------------------------------------

    def infer(self, key: tuple[str, str], model: str, body: Any) -> tuple[int, Any]:
        routes = self.routes.get(key)
        if not routes:
            return 503, {"error": f"no ready revision of {key[0]}/{key[1]}"}
        if model != key[1]:
            return 404, {"error": f"model {model} not found (this service serves {key[1]})"}
        problem = v2_problem(body)
        if problem:
            return 400, {"error": problem}
        n = self.sent[key]
        self.sent[key] += 1
        latest, percent = routes[0]
        revision = latest if (53 * n) % 100 < percent else routes[-1][0]
        columns = {str(i["name"]): list(i["data"]) for i in body["inputs"]}
        predict = self.models.get(revision.storage_uri)
        if predict is None:
            return 500, {"error": f"no model at {revision.storage_uri}"}
        try:
            predictions = predict(columns)
        except Exception as err:
            return 500, {"error": str(err)}
        self.answers[revision.storage_uri] += 1
        output = {"name": "predict", "shape": [len(predictions)], "datatype": "FP64", "data": predictions}
        return 200, {"model_name": model, "model_version": None, "outputs": [output]}

    # --- what tests read ------------------------------------------------------------------------------

    def spec(self, namespace: str, name: str) -> dict[str, Any]:
        return copy.deepcopy(self.objects[(namespace, name)]["spec"]["predictor"])

    def api_calls(self, method: str) -> int:
        return sum(1 for call in self.calls if call[0] == method)


def v2_problem(body: Any) -> str | None:
    """What is wrong with a v2 request MLServer would turn into a DataFrame, or None."""
    if not isinstance(body, dict) or (body.get("parameters") or {}).get("content_type") != "pd":
        return "the request needs parameters.content_type 'pd' (a DataFrame)"
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        return "no inputs"
    sizes = set()
    for tensor in inputs:
        if not {"name", "shape", "datatype", "data"} <= set(tensor) or tensor["datatype"] not in DATATYPES:
            return f"malformed input {tensor}"
        if tensor["shape"] != [len(tensor["data"])]:
            return f"input {tensor['name']}: shape {tensor['shape']} for {len(tensor['data'])} values"
        sizes.add(len(tensor["data"]))
    return None if len(sizes) == 1 else f"inputs of different lengths {sorted(sizes)}"


def constant(value: float) -> Model:
    """A model that predicts ``value`` for every row (so an answer tells which version gave it)."""
    return lambda columns: [value] * len(next(iter(columns.values())))
