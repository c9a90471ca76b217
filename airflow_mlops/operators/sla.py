"""``check_champion_age``: the retraining SLA's champion-age check, after every run of the pipeline.

A teardown, like ``close_runs``: it runs whatever happened upstream (a failed run is exactly when
an old champion matters) and its outcome never changes the DAG run's state. It reads when the
champion took its alias (the ``mlops.promoted_at`` tag the promotion wrote), sends the age and the
limit as metrics, and when the champion is older than ``sla.max_champion_age_days`` tells the
``sla.notify`` notifiers. The judgement itself is :func:`airflow_mlops.alerts.champion_age`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_mlops import alerts
from airflow_mlops.observability import emit
from airflow_mlops.operators.base import MlflowBaseOperator
from airflow_mlops.record import tag

if TYPE_CHECKING:
    from airflow.sdk import Context


class CheckChampionAgeOperator(MlflowBaseOperator):
    """Sends ``mlops.sla.*`` and ``mlops.champion.*`` for the alias, and alerts when its version is too old."""

    ui_color = "#eeeeee"

    def __init__(
        self,
        *,
        model_name: str,
        alias: str,
        max_age_days: float,
        notify: Sequence[Mapping[str, Any]] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model_name = model_name
        self.alias = alias
        self.max_age_days = max_age_days
        self.notify = [dict(n) for n in notify]

    def execute(self, context: Context) -> dict[str, Any]:
        hook = self.mlflow_hook
        with hook.session():
            version = hook.alias_version(self.model_name, self.alias)
        promoted_at = (version.tags or {}).get(tag.PROMOTED_AT) if version is not None else None
        age = alerts.champion_age(
            self.model_name, str(version.version) if version is not None else None, promoted_at, self.max_age_days
        )
        result: dict[str, Any] = {
            "model_name": self.model_name,
            "version": age.version,
            "promoted_at": age.promoted_at,
            "age_days": age.age_days,
            "limit_days": age.limit_days,
            "too_old": age.too_old,
            "message": age.message,
            "notified": 0,
        }
        if age.version is None:
            self.log.info("Retraining SLA: %s", age.message)
            return result
        emit.ensure_configured()  # a task run by dag.test() without an executor may have no backend yet
        emit.champion_age(self.model_name, promoted_at)
        emit.champion_sla(self.model_name, age.limit_days * alerts.SECONDS_PER_DAY, age.too_old)
        if not age.too_old:
            self.log.info("Retraining SLA: %s", age.message)
            return result
        self.log.warning("Retraining SLA: %s", age.message)
        if self.notify:
            alert = alerts.alert_context(
                context,
                kind="champion_too_old",
                pipeline=self.dag_id,
                model=self.model_name,
                version=age.version,
                age_days=age.age_days,
                message=age.message,
            )
            result["notified"] = alerts.deliver(self.notify, alert)
        return result
