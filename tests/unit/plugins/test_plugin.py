"""The plugin's registration and its cost in processes that never serve a page."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from airflow_mlops.plugins.plugin import LazyApp, MlopsUiPlugin
from airflow_mlops.plugins.urls import URL_PREFIX

RESERVED_PREFIXES = ["/api/v2", "/ui", "/execution", "/auth", "/pluginsv2"]  # airflow/api_fastapi/app.py


def test_registered_through_the_airflow_plugins_entry_point() -> None:
    [entry] = [e for e in entry_points(group="airflow.plugins") if e.name == "airflow_mlops"]
    assert entry.load() is MlopsUiPlugin


def test_not_also_registered_as_a_provider_plugin() -> None:
    """Registered both ways, Airflow would skip the second and report it as an import error."""
    from airflow_mlops.get_provider_info import get_provider_info

    assert "plugins" not in get_provider_info()


def test_app_is_mounted_outside_airflows_reserved_prefixes() -> None:
    [app] = MlopsUiPlugin.fastapi_apps
    assert app["url_prefix"] == URL_PREFIX
    assert not any(URL_PREFIX.startswith(p) for p in RESERVED_PREFIXES)
    assert isinstance(app["app"], LazyApp)


def test_external_views() -> None:
    views = {v["destination"]: v for v in MlopsUiPlugin.external_views}
    assert set(views) == {"nav", "dag_run", "dag"}
    assert views["nav"]["name"] == "ML Pipelines"
    assert views["dag_run"]["href"] == "mlops/dags/{DAG_ID}/runs/{RUN_ID}"
    assert views["dag"]["href"] == "mlops/dags/{DAG_ID}/model"
    for view in views.values():
        # Relative: the UI resolves it against its <base href>, so a base_url path prefix is kept.
        assert not view["href"].startswith(("/", "http"))
        assert view["url_route"]  # rendered inside the UI (iframe), not as an outside link


def test_lazy_app_builds_the_real_app_once() -> None:
    import asyncio

    built: list[int] = []
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])

    def factory() -> Any:
        built.append(1)
        return inner

    lazy = LazyApp(factory)
    assert built == []
    for path in ("/a", "/b"):
        asyncio.run(lazy({"type": "http", "path": path}, None, None))  # type: ignore[arg-type]
    assert built == [1] and seen == ["/a", "/b"]
