"""The ``AirflowPlugin`` behind the ML view, registered through the ``airflow.plugins`` entry point.

Airflow loads plugins in every process (the scheduler, the dag processor, every task's worker
process), while only the API server serves the pages. So this module builds nothing: the
FastAPI app, Airflow's security dependencies and the templates are imported on the first
request (see ``LazyApp``), not when a worker loads the plugin.

The plugin is registered through the entry point only, not also as a provider-info ``plugins``
item: provider plugins load only with ``[core] lazy_discover_providers = False``, and a plugin
registered both ways is reported as an import error.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from airflow_mlops.plugins.urls import URL_PREFIX

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class LazyApp:
    """An ASGI app that builds the real FastAPI app on its first request.

    Airflow mounts it like any sub-application. Anything it does not handle (lifespan events
    are not sent to mounted apps) never reaches it.
    """

    def __init__(self, factory: Callable[[], ASGIApp]) -> None:
        self._factory = factory
        self._app: ASGIApp | None = None
        self._lock = threading.Lock()

    @property
    def app(self) -> ASGIApp:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = self._factory()
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _create_app() -> ASGIApp:
    from airflow_mlops.plugins.app import create_app

    return create_app()


_HREF = URL_PREFIX.lstrip("/")  # relative: the UI resolves it against Airflow's <base href>


class MlopsUiPlugin(AirflowPlugin):
    """ML Pipelines in the navigation, an "ML run" tab on DAG runs and an "ML model" tab on DAGs."""

    name = "airflow_mlops"
    fastapi_apps = [{"app": LazyApp(_create_app), "url_prefix": URL_PREFIX, "name": "airflow-mlops ML view"}]
    external_views = [
        {
            "name": "ML Pipelines",
            "href": f"{_HREF}/pipelines",
            "destination": "nav",
            "url_route": "ml-pipelines",
            "icon": f"{_HREF}/static/icon.svg",
            "nav_top_level": True,
        },
        {
            "name": "ML run",
            "href": f"{_HREF}/dags/{{DAG_ID}}/runs/{{RUN_ID}}",
            "destination": "dag_run",
            "url_route": "ml-run",
        },
        {
            "name": "ML model",
            "href": f"{_HREF}/dags/{{DAG_ID}}/model",
            "destination": "dag",
            "url_route": "ml-model",
        },
    ]
