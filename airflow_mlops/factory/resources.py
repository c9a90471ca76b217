"""Turn a candidate's ``resources`` into task arguments: queue, pool, executor_config.

GPU, CPU and memory requests become a Kubernetes ``pod_override``. Building one needs the
kubernetes client, imported only for pipelines that ask for pod resources (the
KubernetesExecutor's provider brings it; ``pip install airflow-mlops[kubernetes]`` otherwise).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_mlops.spec.models_training import ResourcesSpec

# The KubernetesExecutor applies pod_override to the container named "base".
BASE_CONTAINER = "base"


def pod_override(resources: ResourcesSpec) -> Any:
    try:
        from kubernetes.client import models as k8s
    except ImportError as err:  # pragma: no cover - depends on the deployment
        raise ImportError(
            "gpu/cpu/memory resources need the kubernetes client: pip install 'airflow-mlops[kubernetes]' "
            "(or apache-airflow-providers-cncf-kubernetes)"
        ) from err
    limits: dict[str, str] = {}
    requests: dict[str, str] = {}
    if resources.gpu:
        limits["nvidia.com/gpu"] = str(resources.gpu)
    if resources.cpu:
        requests["cpu"] = limits["cpu"] = resources.cpu
    if resources.memory:
        requests["memory"] = limits["memory"] = resources.memory
    container = k8s.V1Container(
        name=BASE_CONTAINER, resources=k8s.V1ResourceRequirements(limits=limits, requests=requests or None)
    )
    tolerations = (
        [k8s.V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")] if resources.gpu else None
    )
    return k8s.V1Pod(spec=k8s.V1PodSpec(containers=[container], tolerations=tolerations))


def task_resources(resources: ResourcesSpec) -> dict[str, Any]:
    """Operator keyword arguments for these resources; empty when nothing is asked for."""
    args: dict[str, Any] = {}
    if resources.queue:
        args["queue"] = resources.queue
    if resources.pool:
        args["pool"] = resources.pool
    if resources.pool_slots != 1:
        args["pool_slots"] = resources.pool_slots
    executor_config = dict(resources.executor_config)
    if resources.wants_pod:
        executor_config["pod_override"] = pod_override(resources)
    if executor_config:
        args["executor_config"] = executor_config
    return args
