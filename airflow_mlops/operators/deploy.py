"""Serve the version ``promote`` made champion on a deployment target, smoke-check it, roll back on a breach."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from airflow_mlops.errors import ConfigurationError, DeploymentSmokeError, PromotionConflictError
from airflow_mlops.operators.base import MlflowBaseOperator, Upstream, run_identity, task_lock_owner, upstream
from airflow_mlops.record import tag
from airflow_mlops.spec.models_deployment import LOCAL_TARGET

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_mlops.contracts import Deployment, PreparedDataset, Promotion
    from airflow_mlops.deploy.rollout import RolloutTarget
    from airflow_mlops.gates.smoke import SmokeVerdict

#: Connection fields a target's credentials may be read from (the connection's extra ``env`` names them).
CONNECTION_FIELDS = frozenset({"host", "login", "password", "schema", "port"})


class DeployModelOperator(MlflowBaseOperator):
    """Deploy the new ``@champion`` version to an MLflow deployments target and smoke-check it at its endpoint.

    The exact version ``promote`` moved the alias to is served (``models:/<model>/<N>``, never the
    alias, which a running server would not follow), first checking that ``@alias`` still names it.
    ``strategy="canary"`` serves it to ``canary_percent`` of requests beside the current version
    for ``bake_seconds`` (the smoke requests are spread over that time), then to all. Smoke
    requests are single rows of the pinned test split. On a breach, ``on_smoke_failure="rollback"``
    puts the previous version back on the endpoint and ``@alias`` back on the previous champion,
    through the compare-and-set and audit path of ``airflow-mlops rollback``; then the task fails
    with :class:`~airflow_mlops.errors.DeploymentSmokeError` either way. What happened is tagged
    on the version (``mlops.deploy.*``). A retry of the same version starts no second server.
    """

    template_fields: Sequence[str] = ("promotion", "dataset")

    def __init__(
        self,
        *,
        promotion: Upstream[Promotion],
        dataset: Upstream[PreparedDataset],
        target: str = LOCAL_TARGET,
        endpoint: str | None = None,
        target_conn_id: str | None = None,
        strategy: Literal["direct", "canary"] = "direct",
        canary_percent: int | None = None,
        bake_seconds: float = 0.0,
        smoke_requests: int = 20,
        max_error_rate: float = 0.0,
        max_p95_ms: float = 1000.0,
        on_smoke_failure: Literal["rollback", "fail"] = "rollback",
        alias: str = "champion",
        previous_alias: str = "previous",
        startup_timeout_seconds: float = 120.0,
        request_timeout_seconds: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if strategy == "canary" and canary_percent is None:
            raise ConfigurationError("strategy='canary' needs canary_percent (1-99)")
        self.promotion: Promotion = upstream(promotion)
        self.dataset: PreparedDataset = upstream(dataset)
        self.target = target
        self.endpoint = endpoint
        self.target_conn_id = target_conn_id
        self.strategy = strategy
        self.canary_percent = canary_percent
        self.bake_seconds = bake_seconds
        self.smoke_requests = smoke_requests
        self.max_error_rate = max_error_rate
        self.max_p95_ms = max_p95_ms
        self.on_smoke_failure = on_smoke_failure
        self.alias = alias
        self.previous_alias = previous_alias
        self.startup_timeout_seconds = startup_timeout_seconds
        self.request_timeout_seconds = request_timeout_seconds

    def execute(self, context: Context) -> Deployment:
        from airflow_mlops.deploy.rollout import open_target

        model, version = self.promotion["model_name"], str(self.promotion["version"])
        previous = self.promotion.get("previous")
        name = self.endpoint or model
        dag_id, run_id = run_identity(context)
        actor = f"airflow:{dag_id}/{run_id}"
        bodies = self._smoke_bodies()
        hook = self.mlflow_hook
        with hook.session():
            client = hook.get_client()
            self._check_still_champion(client, model, version)
            with target_credentials(self.target_conn_id):
                target = open_target(
                    self.target,
                    startup_timeout=self.startup_timeout_seconds,
                    request_timeout=self.request_timeout_seconds,
                )
                reason = f"{actor}: @{self.alias} v{version}"
                target.deploy(name, f"models:/{model}/{version}", canary_percent=self._canary(), reason=reason)
                url = target.url(name)
                self.log.info("%s v%s deployed to %s at %s (%s)", model, version, self.target, url, self.strategy)
                verdict = self._smoke(target, name, bodies)
                self.log.info("Endpoint %s: %s", name, verdict.summary())
                if verdict.passed:
                    target.keep_new(name, reason)
                    decision, summary = tag.DeployDecision.DEPLOYED, verdict.summary()
                elif self.on_smoke_failure == "rollback":
                    summary = self._roll_back(client, target, name, model, version, previous, verdict, actor, context)
                    decision = tag.DeployDecision.ROLLED_BACK
                else:
                    decision, summary = tag.DeployDecision.FAILED, f"{verdict.summary()}; the new version keeps serving"
            self._record(client, model, version, name, url, decision, summary, verdict, actor)
        result: Deployment = {
            "model_name": model,
            "version": version,
            "target": self.target,
            "endpoint": name,
            "url": url,
            "strategy": self.strategy,
            "decision": decision,
            "smoke": verdict.to_dict(),
        }
        if not verdict.passed:
            raise DeploymentSmokeError(f"endpoint {name!r} ({url}), {model} v{version}: {summary}")
        return result

    def _canary(self) -> int | None:
        return self.canary_percent if self.strategy == "canary" else None

    def _check_still_champion(self, client: Any, model: str, version: str) -> None:
        """Deploy only what ``@alias`` names: a cleared task must not serve a version since rolled back."""
        from airflow_mlops.governance.registry import aliases

        current = aliases(client, model).get(self.alias)
        if current != version:
            raise PromotionConflictError(
                f"@{self.alias} of {model} is {'v' + current if current else 'unset'}, not v{version} as promote "
                "left it; not deploying a version that is no longer champion"
            )

    def _smoke_bodies(self) -> list[bytes]:
        from airflow_mlops import artifacts
        from airflow_mlops.ml.serving_requests import single_row_bodies

        test = artifacts.read_parquet(self.dataset["test_uri"])
        return single_row_bodies(test.drop(columns=[self.dataset["target"]]), self.smoke_requests)

    def _smoke(self, target: RolloutTarget, name: str, bodies: list[bytes]) -> SmokeVerdict:
        """Every request once; a canary's are spread over its bake time, so they meet both versions."""
        from airflow_mlops.gates.smoke import SmokeLimits, judge_smoke

        pause = self.bake_seconds / len(bodies) if self.strategy == "canary" else 0.0
        probes = []
        for body in bodies:
            probes.append(target.probe(name, body))
            if pause:
                time.sleep(pause)
        return judge_smoke(probes, SmokeLimits(self.max_error_rate, self.max_p95_ms))

    def _roll_back(
        self,
        client: Any,
        target: RolloutTarget,
        name: str,
        model: str,
        version: str,
        previous: str | None,
        verdict: SmokeVerdict,
        actor: str,
        context: Context,
    ) -> str:
        """The endpoint back to what it served before, then ``@alias`` back to the previous champion."""
        from airflow_mlops.governance.promotion import rollback

        reason = f"deploy smoke check of v{version} at endpoint {name!r}: {'; '.join(verdict.breaches)}"
        previous_uri = f"models:/{model}/{previous}" if previous else None
        endpoint_now = target.rollback(name, previous_uri, reason)
        self.log.warning("Endpoint %s rolled back: %s", name, endpoint_now)
        if previous is None:
            alias_now = f"@{self.alias} stays on v{version}: there was no earlier champion to restore"
        else:
            rollback(
                client, model, to_version=previous, alias=self.alias, previous_alias=self.previous_alias,
                actor=actor, reason=reason, expected_champion=version, lock_owner=task_lock_owner(context),
            )  # fmt: skip
            alias_now = f"@{self.alias} back on v{previous}"
        return f"{verdict.summary()}; rolled back: endpoint {endpoint_now}, {alias_now}"

    def _record(
        self,
        client: Any,
        model: str,
        version: str,
        name: str,
        url: str | None,
        decision: str,
        summary: str,
        verdict: SmokeVerdict,
        actor: str,
    ) -> None:
        """The rollout on the version, where the UI, the report and ``lineage`` read a version's story."""
        from airflow_mlops.governance.history import now_iso
        from airflow_mlops.registry_lock import registry_writer

        tags = {
            tag.DEPLOY_TARGET: self.target,
            tag.DEPLOY_ENDPOINT: name,
            tag.DEPLOY_URL: url or "",
            tag.DEPLOY_STRATEGY: self.strategy,
            tag.DEPLOY_DECISION: decision,
            tag.DEPLOY_SUMMARY: summary,
            tag.DEPLOY_AT: now_iso(),
            tag.DEPLOY_BY: actor,
            tag.DEPLOY_SMOKE: json.dumps(verdict.to_dict(), sort_keys=True),
        }
        writer = registry_writer(client)
        for key, value in tag.clip_all(tags).items():
            writer.set_model_version_tag(model, version, key, value)


@contextlib.contextmanager
def target_credentials(conn_id: str | None) -> Iterator[None]:
    """The target's credentials as environment variables, only while the block runs.

    MLflow's deployment plugins read their credentials from the environment (``DATABRICKS_HOST``,
    ``DATABRICKS_TOKEN``, AWS's variables). The connection's extra ``env`` says which variable
    takes which of its fields, e.g. ``{"DATABRICKS_HOST": "host", "DATABRICKS_TOKEN": "password"}``;
    no other extra is read, and nothing is logged.
    """
    if conn_id is None:
        yield
        return
    from airflow.sdk import BaseHook

    from airflow_mlops.hooks.mlflow import temporary_env

    connection = BaseHook.get_connection(conn_id)
    with temporary_env(credential_env(conn_id, connection.extra_dejson.get("env"), connection)):
        yield


def credential_env(conn_id: str, mapping: Any, connection: Any) -> dict[str, str]:
    """``{variable: field}`` from the connection's extra, resolved to ``{variable: value}``."""
    if not isinstance(mapping, Mapping) or not mapping:
        raise ConfigurationError(
            f"connection {conn_id!r} has no extra 'env' mapping environment variables to its fields, e.g. "
            '{"env": {"DATABRICKS_HOST": "host", "DATABRICKS_TOKEN": "password"}}'
        )
    resolved = {}
    for variable, field in mapping.items():
        if field not in CONNECTION_FIELDS:
            raise ConfigurationError(
                f"connection {conn_id!r}: extra env.{variable} names {field!r}; "
                f"name one of {', '.join(sorted(CONNECTION_FIELDS))}"
            )
        value = getattr(connection, field, None)
        if value is not None and value != "":
            resolved[str(variable)] = str(value)
    return resolved
