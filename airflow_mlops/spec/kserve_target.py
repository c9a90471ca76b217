"""What a ``mlops-kserve`` target URI may say, checked once for ``validate`` and the target alike.

``mlops-kserve:/<namespace>?<key>=<value>&...``: the Kubernetes namespace of the InferenceServices
(none: the service account's or the kubeconfig context's, else ``default``) and target-wide
settings. The rules live here, below both the spec and the target, so that a bad URI in a pipeline
file is reported at its file and line by ``airflow-mlops validate`` in the same words the target
would use at run time. Only the standard library, so the DAG processor pays nothing for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlparse

#: The target's name (the URI scheme given to ``get_deploy_client``).
KSERVE_TARGET = "mlops-kserve"
#: A namespace is an RFC 1123 label.
NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
#: KServe's InferenceService name rule (its admission webhook), capped at 63 because the name is
#: also the value of the ``serving.kserve.io/inferenceservice`` label on every object it creates.
SERVICE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
#: Settings a target URI may carry (the same keys may be given per call in a deployment's ``config``).
URI_KEYS = frozenset({"context", "service_account", "runtime", "ingress_url", "startup_timeout", "request_timeout"})
_SECONDS = frozenset({"startup_timeout", "request_timeout"})


@dataclass(frozen=True)
class KServeUri:
    """A parsed target URI: the namespace it names (or None) and its settings, as strings."""

    namespace: str | None
    settings: dict[str, str] = field(default_factory=dict)


def parse_kserve_uri(uri: str) -> KServeUri:
    """The namespace and settings of ``mlops-kserve[:[/]namespace][?key=value...]``; ValueError says what is wrong."""
    scheme, _, rest = uri.partition(":")
    if scheme != KSERVE_TARGET:
        raise ValueError(f"{uri!r} is not a {KSERVE_TARGET} target URI")
    parsed = urlparse(f"{KSERVE_TARGET}:{rest}")
    if parsed.netloc or parsed.fragment or parsed.params:
        raise ValueError(f"{uri!r}: write {KSERVE_TARGET}:/<namespace>?key=value (no host, no fragment)")
    namespace = parsed.path.strip("/") or None
    if namespace is not None and not NAMESPACE.match(namespace):
        raise ValueError(
            f"{uri!r}: namespace {namespace!r} is not a Kubernetes namespace name "
            "(lowercase letters, digits and '-', at most 63)"
        )
    try:
        pairs = parse_qsl(parsed.query, keep_blank_values=False, strict_parsing=bool(parsed.query))
    except ValueError:
        raise ValueError(f"{uri!r}: the settings after '?' must be key=value pairs joined by '&'") from None
    settings = dict(pairs)
    unknown = sorted(set(settings) - URI_KEYS)
    if unknown:
        raise ValueError(f"{uri!r}: unknown settings {unknown}; known: {sorted(URI_KEYS)}")
    for key in sorted(_SECONDS & set(settings)):
        try:
            ok = float(settings[key]) > 0
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{uri!r}: {key} must be a number of seconds above 0, not {settings[key]!r}")
    ingress = settings.get("ingress_url")
    if ingress is not None and urlparse(ingress).scheme not in ("http", "https"):
        raise ValueError(f"{uri!r}: ingress_url must be an http:// or https:// URL, not {ingress!r}")
    return KServeUri(namespace, settings)


def service_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name an InferenceService, or None."""
    if SERVICE_NAME.match(name):
        return None
    return (
        f"{name!r} is not a valid InferenceService name "
        "(lowercase letters, digits and '-', starting with a letter, at most 63)"
    )
