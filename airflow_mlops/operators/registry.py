"""Register the gate's winner with its provenance, then move the champion alias safely."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowSkipException

from airflow_mlops.governance.promotion import promote_version
from airflow_mlops.links import ModelVersionLink
from airflow_mlops.operators.base import MlflowOperatorMixin, MlopsBaseOperator, run_identity
from airflow_mlops.record import tag
from airflow_mlops.record.lineage import lineage_tags
from airflow_mlops.registry_lock import LockOwner

if TYPE_CHECKING:
    from airflow.sdk import Context
    from mlflow import MlflowClient


def register_version(
    client: MlflowClient, model_name: str, model_uri: str, tags: dict[str, str], description: str
) -> str:
    """Create a version of ``model_name`` from ``model_uri`` with its tags and description; its number.

    For a ``models:/<model id>`` URI, what ``log_model`` returns, this is what
    ``mlflow.register_model`` does, with the description written by the same call rather than
    by a second one. Any other URI goes through ``mlflow.register_model``.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    model_id = _logged_model_id(model_uri)
    if model_id is None:
        version = str(mlflow.register_model(model_uri, model_name, tags=tags).version)
        client.update_model_version(model_name, version, description=description)
        return version
    try:
        client.create_registered_model(model_name)
    except MlflowException as err:
        if err.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise
    created = client.create_model_version(model_name, model_uri, tags=tags, description=description, model_id=model_id)
    return str(created.version)


def _logged_model_id(model_uri: str) -> str | None:
    """The id in ``models:/<model id>``; None for any other URI (a registered version, an alias, runs:/)."""
    rest = model_uri.removeprefix("models:/")
    return rest if rest != model_uri and rest and "/" not in rest and "@" not in rest else None


class RegisterModelOperator(MlflowOperatorMixin, MlopsBaseOperator):
    """Create a model version for the gate's winner, carrying lineage tags.

    Only winners are registered, so the registry holds what may be served. Registration is
    keyed by (dag_id, run_id): a retry finds the version it already created.
    """

    operator_extra_links = (ModelVersionLink(),)
    template_fields: Sequence[str] = ("gate", "data", "validation", "approval")

    def __init__(
        self,
        *,
        gate: Any,
        data: Any,
        validation: Any,
        model_name: str,
        approval: Any = None,
        lineage: dict[str, str] | None = None,
        mlflow_conn_id: str = "mlflow_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.gate = gate
        self.data = data
        self.validation = validation
        self.approval = approval
        self.model_name = model_name
        self.lineage = lineage or {}
        self.mlflow_conn_id = mlflow_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        verdict = self.gate["verdict"]
        if verdict["decision"] != "promote":
            raise AirflowSkipException(f"gate rejected the challenger, nothing to register: {verdict['summary']}")
        dag_id, run_id = run_identity(context)
        candidate = self.gate["candidate"]
        hook = self.mlflow_hook
        with hook.session():
            existing = hook.find_model_version(self.model_name, {tag.DAG_ID: dag_id, tag.RUN_ID: run_id})
            if existing is not None:
                self.log.info("Version %s was already registered by this run; reusing it", existing.version)
                version = str(existing.version)
            else:
                tags = lineage_tags(
                    dag_id=dag_id,
                    run_id=run_id,
                    data=self.data,
                    validation=self.validation,
                    gate=self.gate,
                    lineage=self.lineage,
                    # Who signed off, when a person had to (approval: manual); rejections never get here.
                    approval=self.approval,
                )
                description = tag.clip(f"{dag_id} {run_id}: {verdict['summary']}")
                version = register_version(
                    hook.get_client(), self.model_name, candidate["model_uri"], tags, description
                )
                self.log.info("Registered %s version %s from %s", self.model_name, version, candidate["model_uri"])
        return {
            "model_name": self.model_name,
            "version": version,
            "model_uri": f"models:/{self.model_name}/{version}",
            "source_run_id": candidate["mlflow_run_id"],
            "url": hook.model_version_url(self.model_name, version),
        }


class PromoteModelOperator(MlflowOperatorMixin, MlopsBaseOperator):
    """Move ``@champion`` to the new version and keep the old one as ``@previous``.

    The move is compare-and-set, under the model's promotion lock, against the champion the
    gate measured: if anything moved the alias since, promoting would skip the comparison the
    gate made, so it refuses (``on_conflict="refuse"``) or re-applies the gate against the new
    champion (``"reevaluate"``).
    """

    template_fields: Sequence[str] = ("registered", "gate")

    def __init__(
        self,
        *,
        registered: Any,
        gate: Any,
        model_name: str,
        alias: str = "champion",
        previous_alias: str = "previous",
        on_conflict: str = "refuse",
        mlflow_conn_id: str = "mlflow_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.on_conflict = on_conflict
        self.registered = registered
        self.gate = gate
        self.model_name = model_name
        self.alias = alias
        self.previous_alias = previous_alias
        self.mlflow_conn_id = mlflow_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        dag_id, run_id = run_identity(context)
        new_version = str(self.registered["version"])
        expected = (self.gate.get("champion") or {}).get("version")
        hook = self.mlflow_hook
        with hook.session():
            # The CLI's `promote` goes through the same function, so both leave the same audit trail.
            moved = promote_version(
                hook.get_client(),
                self.model_name,
                new_version,
                expected_champion=expected,
                alias=self.alias,
                previous_alias=self.previous_alias,
                actor=f"airflow:{dag_id}/{run_id}",
                reason=self.gate["verdict"]["summary"],
                on_conflict=self.on_conflict,
                lock_owner=_lock_owner(context),
            )
        if not moved["changed"]:
            self.log.info("@%s already points at version %s", self.alias, new_version)
            return self._result(new_version, expected, context)
        self.log.info(
            "@%s of %s: %s -> %s (@%s = %s)",
            self.alias,
            self.model_name,
            moved["previous"],
            new_version,
            self.previous_alias,
            moved["previous"],
        )
        return self._result(new_version, moved["previous"], context)

    def _result(self, version: str, previous: str | None, context: Context) -> dict[str, Any]:
        result = {
            "model_name": self.model_name,
            "alias": self.alias,
            "version": version,
            "previous": previous,
        }
        for asset in self.outlets:
            context["outlet_events"][asset].extra = dict(result)
        return result


def _lock_owner(context: Context) -> LockOwner | None:
    """This task instance and try, so a retry can take over a lock its killed try left behind."""
    ti = context.get("ti")
    parts = [getattr(ti, name, None) for name in ("dag_id", "run_id", "task_id")]
    try_number = getattr(ti, "try_number", None)
    if not all(parts) or not isinstance(try_number, int):
        return None  # not a real task instance (a test harness): wait out the lease as before
    return LockOwner(f"airflow:{'/'.join(map(str, parts))}/{getattr(ti, 'map_index', -1)}", try_number)
