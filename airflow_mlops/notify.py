"""Notifications configured in YAML, delivered through Airflow's own notifiers.

The notifier class is imported when a run finishes, not when the DAG is parsed: a provider's
notifier module can pull in its hook and client libraries, which every parse would pay for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context


class ConfiguredNotifier(BaseNotifier):
    """Builds the configured notifier on first use and hands it the callback context."""

    template_fields = ()

    def __init__(self, notifier: str, params: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.notifier = notifier
        self.params = dict(params or {})

    def get_template_env(self, dag: Any = None) -> jinja2.Environment:
        # DAG callbacks can receive a SerializedDAG (dag.test() in Airflow 3.3 does), which has
        # no template environment; rendering then crashes inside BaseNotifier. Fall back to
        # Airflow's sandboxed environment, as BaseNotifier does when there is no DAG at all.
        if dag is not None and not hasattr(dag, "get_template_env"):
            dag = None
        return super().get_template_env(dag=dag)

    def _target(self) -> BaseNotifier:
        module_name, _, class_name = self.notifier.rpartition(".")
        target = getattr(importlib.import_module(module_name), class_name)(**self.params)
        if not isinstance(target, BaseNotifier):
            raise TypeError(f"{self.notifier} is not an Airflow notifier (a BaseNotifier subclass)")
        return target

    def notify(self, context: Context) -> None:
        target = self._target()
        # Render the target's own templated fields with an environment that always exists,
        # then deliver; calling target(context) would hit the SerializedDAG problem above.
        target.render_template_fields(context, jinja_env=self.get_template_env(context.get("dag")))
        target.notify(context)
