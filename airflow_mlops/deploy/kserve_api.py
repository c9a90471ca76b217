"""The Kubernetes API as the ``mlops-kserve`` target uses it: InferenceServices in one namespace.

Credentials, in this order (never from YAML; see docs/deployment.md#kserve):
1. ``MLOPS_KSERVE_HOST`` (the API server's URL) with ``MLOPS_KSERVE_TOKEN`` (a bearer token) and
   optionally ``MLOPS_KSERVE_CA_FILE``: what the ``deploy`` task sets from an Airflow connection
   (``deployment.conn_id``, its extra ``env`` mapping the variables to the connection's fields);
2. the pod's service account, when running in a cluster (``KUBERNETES_SERVICE_HOST`` is set);
3. a kubeconfig (``KUBECONFIG`` or ``~/.kube/config``), its current context or the one named.

Each call fails fast: the client does not retry, and a call waits at most the request timeout.
The API's refusals become our errors, each naming the API URL, the namespace and the object, and
where the credentials came from (never their value): 401/403 a :class:`ConfigurationError`
(a retry cannot fix credentials), 404 a :class:`NotFoundError`, other 4xx a
:class:`DeploymentError`, 5xx and no answer a :class:`TransientError` (retried by the task).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from airflow_mlops.deploy.kserve_manifest import GROUP, PLURAL, VERSION
from airflow_mlops.errors import ConfigurationError, DeploymentError, NotFoundError, TransientError

HOST_ENV = "MLOPS_KSERVE_HOST"
TOKEN_ENV = "MLOPS_KSERVE_TOKEN"
CA_FILE_ENV = "MLOPS_KSERVE_CA_FILE"
#: Where Kubernetes mounts a pod's service account namespace.
SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


@dataclass(frozen=True)
class Connection:
    """A configured client, the API URL it talks to, and where its credentials came from."""

    api: Any  # kubernetes.client.CustomObjectsApi
    host: str
    credentials: str
    namespace: str | None  # the namespace the credentials' context names, if any


def connect(target_uri: str, context: str | None) -> Connection:
    """A client for the credentials this process has (see the module's docstring for the order)."""
    from kubernetes import client

    configuration = client.Configuration()
    host = os.environ.get(HOST_ENV, "").strip()
    if host:
        configuration.host = host.rstrip("/")
        token = os.environ.get(TOKEN_ENV, "").strip()
        if token:
            # The prefix in the value: the client's prefix lookup changed key in 36.0 (issue 2595), the value did not.
            configuration.api_key = {"authorization": f"Bearer {token}"}
        if os.environ.get(CA_FILE_ENV):
            configuration.ssl_ca_cert = os.environ[CA_FILE_ENV]
        credentials, namespace = f"${HOST_ENV}" + (f" with the token in ${TOKEN_ENV}" if token else ", no token"), None
    elif os.environ.get("KUBERNETES_SERVICE_HOST"):
        from kubernetes import config

        try:
            config.load_incluster_config(client_configuration=configuration)
        except config.ConfigException as err:
            raise ConfigurationError(
                f"target {target_uri!r}: this pod's service account is not usable ({err})"
            ) from err
        credentials, namespace = "this pod's service account", _read(SERVICE_ACCOUNT_NAMESPACE)
    else:
        credentials, namespace = _load_kubeconfig(configuration, target_uri, context)
    configuration.retries = 0  # fail fast; the rollout decides what to wait for and what a retry is
    api = client.CustomObjectsApi(client.ApiClient(configuration))
    return Connection(api, configuration.host, credentials, namespace)


def _load_kubeconfig(configuration: Any, target_uri: str, context: str | None) -> tuple[str, str | None]:
    from kubernetes import config

    path = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    try:
        config.load_kube_config(
            config_file=path, context=context, client_configuration=configuration, persist_config=False
        )
        contexts, current = config.list_kube_config_contexts(config_file=path)
    except (config.ConfigException, OSError) as err:
        raise ConfigurationError(
            f"target {target_uri!r}: no Kubernetes credentials ({err}); set {HOST_ENV} and {TOKEN_ENV} "
            "(from an Airflow connection through deployment.conn_id), run in a pod with a service account, "
            f"or give a kubeconfig (KUBECONFIG, now {path})"
        ) from err
    chosen = next((c for c in contexts if c.get("name") == context), current) if context else current
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return f"kubeconfig {path}, context {(chosen or {}).get('name')!r}", namespace


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


class InferenceServices:
    """The InferenceServices of one namespace, each call translated into our errors."""

    def __init__(self, connection: Connection, namespace: str, target_uri: str, request_timeout: float) -> None:
        self.connection = connection
        self.namespace = namespace
        self.target_uri = target_uri
        self.timeout = request_timeout

    def where(self, name: str | None = None) -> str:
        """The object (or the collection) and the API URL, as every message names them."""
        thing = f"InferenceService {self.namespace}/{name}" if name else f"InferenceServices in {self.namespace}"
        return f"{thing} at the Kubernetes API {self.connection.host}"

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(self._call("read", name, "get_namespaced_custom_object", name=name))
        except NotFoundError:
            return None

    def require(self, name: str) -> dict[str, Any]:
        found = self.get(name)
        if found is None:
            raise NotFoundError(f"no {self.where(name)} (target {self.target_uri!r})")
        return found

    def list(self) -> list[dict[str, Any]]:
        return list(self._call("list", None, "list_namespaced_custom_object").get("items") or [])

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self._call("create", body["metadata"]["name"], "create_namespaced_custom_object", body=body))

    def patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch (the client's default for a dict body): null removes a field."""
        return dict(self._call("patch", name, "patch_namespaced_custom_object", name=name, body=body))

    def delete(self, name: str) -> bool:
        """False when there was nothing to delete."""
        try:
            self._call("delete", name, "delete_namespaced_custom_object", name=name)
        except NotFoundError:
            return False
        return True

    def _call(self, verb: str, subject: str | None, method: str, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        call = getattr(self.connection.api, method)
        try:
            return call(GROUP, VERSION, self.namespace, PLURAL, _request_timeout=self.timeout, **kwargs)
        except ApiException as err:
            raise self._refused(verb, subject, err) from err
        except HTTPError as err:
            raise TransientError(f"could not {verb} {self.where(subject)}: it did not answer ({err})") from err

    def _refused(self, verb: str, name: str | None, err: Any) -> Exception:
        status = int(err.status or 0)
        said = f"could not {verb} {self.where(name)}: {status} {err.reason}: {_message(err.body)}"
        if status in (401, 403):
            return ConfigurationError(
                f"{said}; credentials: {self.connection.credentials} (target {self.target_uri!r}). Give them "
                "the right to get, list, create, patch and delete inferenceservices.serving.kserve.io there"
            )
        if status == 404:
            return NotFoundError(said)
        if status >= 500 or status in (0, 429):
            return TransientError(said)
        return DeploymentError(said)


def _message(body: Any) -> str:
    """The ``message`` of a Kubernetes ``Status`` answer, else the body's start."""
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
    try:
        parsed = json.loads(text)
    except ValueError:
        return text[:300]
    return str(parsed.get("message") or text)[:300] if isinstance(parsed, dict) else text[:300]
