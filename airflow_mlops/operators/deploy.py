"""Serve the version ``promote`` made champion on a deployment target, bake it there, roll back on a breach."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from airflow_mlops.errors import (
    ConfigurationError,
    DeploymentRolledBackError,
    DeploymentSmokeError,
    PromotionConflictError,
)
from airflow_mlops.operators.base import MlflowBaseOperator, Upstream, run_identity, task_lock_owner, upstream
from airflow_mlops.record import tag
from airflow_mlops.spec.models_deployment import LOCAL_TARGET

if TYPE_CHECKING:
    import pandas as pd
    from airflow.sdk import Context

    from airflow_mlops.contracts import Deployment, PreparedDataset, Promotion
    from airflow_mlops.deploy.rollout import RolloutTarget

#: Connection fields a target's credentials may be read from (the connection's extra ``env`` names them).
CONNECTION_FIELDS = frozenset({"host", "login", "password", "schema", "port"})


class DeployModelOperator(MlflowBaseOperator):
    """Deploy the new ``@champion`` version to an MLflow deployments target, bake it there, roll back on a breach.

    The exact version ``promote`` moved the alias to is served (``models:/<model>/<N>``, never the
    alias, which a running server would not follow), first checking that ``@alias`` still names it.
    ``strategy="canary"`` serves it to ``canary_percent`` of requests beside the current version
    during the bake, then to all. The bake (:mod:`airflow_mlops.deploy.bake`) watches the new
    version for ``bake_seconds``: smoke requests (single rows of the pinned test split), requests
    pinned to the new version compared with the predictions ``evaluate`` recorded for the same
    rows, and the endpoint's live error rate and latency where the target counts them. On a
    breach, ``on_smoke_failure="rollback"`` puts the previous version back on the endpoint and
    ``@alias`` back on the previous champion, through the compare-and-set and audit path of
    ``airflow-mlops rollback``, and fails with :class:`~airflow_mlops.errors.DeploymentRolledBackError`;
    ``"fail"`` fails with :class:`~airflow_mlops.errors.DeploymentSmokeError` and keeps serving.
    A rollout that fails with no retry left moves ``@alias`` back too when ``on_rollout_failure="rollback"``.
    What happened is tagged on the version (``mlops.deploy.*``). A retry of the same version
    starts no second server.
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
        max_label_disagreement: float = 0.0,
        max_mean_abs_diff: float = 1e-6,
        problem: Literal["classification", "regression"] | None = None,
        on_smoke_failure: Literal["rollback", "fail"] = "rollback",
        on_rollout_failure: Literal["rollback", "fail"] = "rollback",
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
        self.max_label_disagreement = max_label_disagreement
        self.max_mean_abs_diff = max_mean_abs_diff
        self.problem = problem
        self.on_smoke_failure = on_smoke_failure
        self.on_rollout_failure = on_rollout_failure
        self.alias = alias
        self.previous_alias = previous_alias
        self.startup_timeout_seconds = startup_timeout_seconds
        self.request_timeout_seconds = request_timeout_seconds

    def execute(self, context: Context) -> Deployment:
        from airflow_mlops.deploy.bake import BakeLimits, run_bake
        from airflow_mlops.deploy.rollout import open_target

        model, version = self.promotion["model_name"], str(self.promotion["version"])
        previous = self.promotion.get("previous")
        name = self.endpoint or model
        model_uri = f"models:/{model}/{version}"
        dag_id, run_id = run_identity(context)
        actor = f"airflow:{dag_id}/{run_id}"
        features = self._test_features()
        hook = self.mlflow_hook
        rolled_back: dict[str, Any] | None = None
        with hook.session():
            client = hook.get_client()
            self._check_still_champion(client, model, version)
            parity_rows, notes = self._parity_rows(client, model, version, features)
            with target_credentials(self.target_conn_id):
                target = open_target(
                    self.target,
                    startup_timeout=self.startup_timeout_seconds,
                    request_timeout=self.request_timeout_seconds,
                )
                reason = f"{actor}: @{self.alias} v{version}"
                try:
                    target.deploy(name, model_uri, canary_percent=self._canary(), reason=reason)
                except Exception as err:
                    self._rollout_failed(client, target, name, model, version, previous, err, actor, context)
                    raise
                url = target.url(name)
                self.log.info("%s v%s deployed to %s at %s (%s)", model, version, self.target, url, self.strategy)
                if parity_rows and self._canary() is not None and not target.can_pin:
                    parity_rows, notes = [], [*notes, "live predictions not compared: this target cannot pin a canary"]
                verdict = run_bake(
                    target, name, model_uri, smoke_bodies=self._smoke_bodies(features), parity_rows=parity_rows,
                    limits=BakeLimits(self.max_error_rate, self.max_p95_ms, self.max_label_disagreement,
                                      self.max_mean_abs_diff),
                    bake_seconds=self.bake_seconds, problem=self.problem, notes=notes,
                )  # fmt: skip
                self.log.info("Endpoint %s: %s", name, verdict.summary())
                if verdict.passed:
                    target.keep_new(name, reason)
                    decision, summary = tag.DeployDecision.DEPLOYED, verdict.summary()
                elif self.on_smoke_failure == "rollback":
                    why = f"deploy smoke check of v{version} at endpoint {name!r}: {'; '.join(verdict.breaches)}"
                    rolled_back = self._roll_back(client, target, name, model, version, previous, why, actor, context)
                    decision, summary = tag.DeployDecision.ROLLED_BACK, f"{verdict.summary()}; {rolled_back['summary']}"
                else:
                    decision, summary = tag.DeployDecision.FAILED, f"{verdict.summary()}; the new version keeps serving"
            self._record(
                client, model, version, actor,
                {tag.DEPLOY_ENDPOINT: name, tag.DEPLOY_URL: url or "", tag.DEPLOY_DECISION: decision,
                 tag.DEPLOY_SUMMARY: summary, tag.DEPLOY_SMOKE: json.dumps(verdict.smoke.to_dict(), sort_keys=True),
                 tag.DEPLOY_BAKE: json.dumps(verdict.to_dict(), sort_keys=True),
                 tag.DEPLOY_ROLLBACK: json.dumps(rolled_back, sort_keys=True) if rolled_back else ""},
            )  # fmt: skip
        result: Deployment = {
            "model_name": model,
            "version": version,
            "target": self.target,
            "endpoint": name,
            "url": url,
            "strategy": self.strategy,
            "decision": decision,
            "smoke": verdict.smoke.to_dict(),
            "bake": verdict.to_dict(),
        }
        if not verdict.passed:
            error = DeploymentRolledBackError if rolled_back else DeploymentSmokeError
            raise error(f"endpoint {name!r} ({url}), {model} v{version}: {summary}")
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

    def _test_features(self) -> pd.DataFrame:
        from airflow_mlops import artifacts

        test = artifacts.read_parquet(self.dataset["test_uri"])
        return test.drop(columns=[self.dataset["target"]])

    def _smoke_bodies(self, features: pd.DataFrame) -> list[bytes]:
        from airflow_mlops.ml.serving_requests import single_row_bodies

        return single_row_bodies(features, self.smoke_requests)

    def _parity_rows(
        self, client: Any, model: str, version: str, features: pd.DataFrame
    ) -> tuple[list[tuple[bytes, Any]], list[str]]:
        """One-row requests of the first test rows, each with the prediction ``evaluate`` recorded for it."""
        from airflow_mlops.governance.recheck import download_json
        from airflow_mlops.ml.serving_requests import single_row_bodies
        from airflow_mlops.record import paths

        run_id = client.get_model_version(model, version).run_id
        try:
            recorded = download_json(client, run_id, paths.OFFLINE_PREDICTIONS) if run_id else None
        except Exception as err:  # an artifact store that does not answer: the bake still watches the rest
            recorded = None
            self.log.warning("Offline predictions of v%s not read: %s", version, err)
        offline = recorded.get("predictions") if isinstance(recorded, dict) else None
        if not isinstance(offline, list) or not offline:
            note = f"live predictions not compared: evaluate recorded no offline predictions for v{version}"
            self.log.warning("%s (%s on run %s)", note, paths.OFFLINE_PREDICTIONS, run_id)
            return [], [note]
        count = min(len(offline), len(features), self.smoke_requests)
        return list(zip(single_row_bodies(features.head(count), count), offline[:count], strict=True)), []

    def _roll_back(
        self,
        client: Any,
        target: RolloutTarget,
        name: str,
        model: str,
        version: str,
        previous: str | None,
        reason: str,
        actor: str,
        context: Context,
    ) -> dict[str, Any]:
        """The endpoint back to what it served before, then ``@alias`` back to the previous champion."""
        previous_uri = f"models:/{model}/{previous}" if previous else None
        endpoint_now = target.rollback(name, previous_uri, reason)
        self.log.warning("Endpoint %s rolled back: %s", name, endpoint_now)
        alias_now = self._alias_back(client, model, version, previous, reason, actor, context)
        return {
            "reason": reason,
            "endpoint": endpoint_now,
            "alias": alias_now,
            "summary": f"rolled back: endpoint {endpoint_now}, {alias_now}",
        }

    def _alias_back(
        self, client: Any, model: str, version: str, previous: str | None, reason: str, actor: str, context: Context
    ) -> str:
        """``@alias`` back on ``previous`` through ``airflow-mlops rollback``'s compare-and-set and audit record."""
        from airflow_mlops.governance.promotion import rollback

        if previous is None:
            return f"@{self.alias} stays on v{version}: there was no earlier champion to restore"
        rollback(
            client, model, to_version=previous, alias=self.alias, previous_alias=self.previous_alias,
            actor=actor, reason=reason, expected_champion=version, lock_owner=task_lock_owner(context),
        )  # fmt: skip
        return f"@{self.alias} back on v{previous}"

    def _rollout_failed(
        self,
        client: Any,
        target: RolloutTarget,
        name: str,
        model: str,
        version: str,
        previous: str | None,
        err: BaseException,
        actor: str,
        context: Context,
    ) -> None:
        """A rollout that failed with no try left: recorded, and ``@alias`` back when the YAML says so.

        The target keeps serving what it served (the local target never switched), so only the
        alias moves; a try that will be retried changes nothing (the retry deploys the same version).
        """
        from airflow_mlops.errors.classify import is_transient

        ti = context.get("ti")
        try_number = getattr(ti, "try_number", None)
        retries = int(self.retries or 0)
        tries_left = retries > 0 if not isinstance(try_number, int) else try_number <= retries
        if is_transient(err) and tries_left:
            return
        error = f"{type(err).__name__}: {err}"
        decision, rolled_back = tag.DeployDecision.FAILED, None
        if self.on_rollout_failure == "rollback":
            reason = f"deploy of v{version} to endpoint {name!r} failed: {error}"[:500]
            try:
                alias_now = self._alias_back(client, model, version, previous, reason, actor, context)
            except Exception as refused:  # e.g. someone moved the alias meanwhile: the rollout's error is the news
                self.log.warning("Rollout of v%s failed; @%s not rolled back: %s", version, self.alias, refused)
                error = f"{error}; @{self.alias} not rolled back: {type(refused).__name__}: {refused}"
            else:
                rolled_back = {"reason": reason, "endpoint": "kept what it served", "alias": alias_now,
                               "summary": f"rolled back: {alias_now}"}  # fmt: skip
                decision = tag.DeployDecision.ROLLED_BACK
                self.log.warning("Rollout of v%s failed; %s", version, alias_now)
        summary = f"rollout failed: {error}" + (f"; {rolled_back['summary']}" if rolled_back else "")
        facts = {
            tag.DEPLOY_ENDPOINT: name,
            tag.DEPLOY_DECISION: decision,
            tag.DEPLOY_SUMMARY: summary,
            tag.DEPLOY_ERROR: error,
            tag.DEPLOY_ROLLBACK: json.dumps(rolled_back, sort_keys=True) if rolled_back else "",
        }
        self._record(client, model, version, actor, facts)

    def _record(self, client: Any, model: str, version: str, actor: str, facts: dict[str, str]) -> None:
        """The rollout on the version, where the UI, the report and ``lineage`` read a version's story."""
        from airflow_mlops.governance.history import now_iso
        from airflow_mlops.registry_lock import registry_writer

        tags = {
            tag.DEPLOY_TARGET: self.target,
            tag.DEPLOY_STRATEGY: self.strategy,
            tag.DEPLOY_AT: now_iso(),
            tag.DEPLOY_BY: actor,
            tag.DEPLOY_SMOKE: "",
            tag.DEPLOY_BAKE: "",
            tag.DEPLOY_ROLLBACK: "",
            tag.DEPLOY_ERROR: "",
            **facts,
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
