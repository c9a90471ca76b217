"""The FastAPI app of the ML view, mounted by Airflow's API server at ``/mlops``: routes, access, errors.

What a page shows is built in ``views.py``; this module decides who may ask for it and how it
is answered (an HTML page or JSON under ``/api``). MLflow reaches the views through the
``records.mlflow_reader`` dependency and the local target's endpoints through
``endpoints.endpoint_reader``, so a test overrides them instead of patching modules.

Authentication and authorisation are Airflow's own, not a copy: a plugin app gets neither
automatically (Airflow mounts it as a plain sub-application), so

- every route depends on ``requires_authenticated()`` from ``airflow.api_fastapi.core_api.security``
  (the JWT from the ``Authorization: Bearer`` header or the UI's ``_token`` cookie, checked by
  the configured auth manager): anonymous requests get 401, a forged token 403;
- pages about one DAG's runs also depend on ``requires_access_dag("GET", DagAccessEntity.RUN)``,
  the check Airflow's own DAG-run endpoints make;
- lists, model pages and MLflow runs are limited to DAGs the auth manager says the user may read
  (``get_authorized_dag_ids``), and something outside them answers 404, not 403, so its
  existence does not leak.

Values on the pages are escaped (``render.py``); credentials in URLs are removed before
anything is rendered or returned (``scrub``), and connections are never read beyond the
MLflow hook's own use. Responses carry a Content-Security-Policy that allows no script and
nothing from another origin.

This module imports Airflow's API server modules, so it is imported only inside the API
server, on the first request (``plugin.LazyApp``).
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag, requires_authenticated
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response

from airflow_mlops.errors import MlflowUnavailableError, NotFoundError
from airflow_mlops.plugins import endpoints, environments, metadata, records, render, urls, views
from airflow_mlops.plugins.views import scrub

log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'self'; "
    "base-uri 'none'; form-action 'none'"
)


def readable_dag_ids(user: GetUserDep) -> set[str]:
    """The DAG ids the auth manager lets this user read (Airflow's own per-DAG filter)."""
    return set(get_auth_manager().get_authorized_dag_ids(user=user, method="GET"))


ReadableDags = Annotated[set[str], Depends(readable_dag_ids)]
CAN_READ_DAG_RUNS = Depends(requires_access_dag("GET", DagAccessEntity.RUN))
CAN_READ_DAG = Depends(requires_access_dag("GET"))
# MLflow as a dependency: one reader per request, and tests swap in a reader of their own store.
Reader = Annotated[records.MlflowReader, Depends(records.mlflow_reader)]
# The local target's endpoint folder, the same way: it only reads, and tests hand in a folder of their own.
Endpoints = Annotated[endpoints.EndpointReader, Depends(endpoints.endpoint_reader)]
# The file declaring the environments, the same way: a test hands in a file of its own.
EnvironmentsFile = Annotated[str | None, Depends(environments.environments_source)]


def _page(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("mlflow_error", None)
    context.setdefault("mlflow_ui", None)
    html = render.render(template, root=request.scope.get("root_path", ""), **scrub(context))
    return HTMLResponse(html, status_code=status_code)


# --- the app ---------------------------------------------------------------------------------------


def create_app() -> FastAPI:
    app = FastAPI(
        title="airflow-mlops ML view",
        description="Pages and JSON about airflow-mlops pipelines; every route requires an Airflow login.",
        dependencies=[Depends(requires_authenticated())],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> Response:
        if "/api/" in request.url.path:
            return JSONResponse({"detail": exc.message}, status_code=404)
        return _page(request, "error.html", status_code=404, title=exc.title, message=exc.message)

    @app.exception_handler(MlflowUnavailableError)
    async def mlflow_unavailable(request: Request, exc: MlflowUnavailableError) -> Response:
        if "/api/" in request.url.path:
            return JSONResponse({"detail": str(exc)}, status_code=503)
        return _page(request, "error.html", status_code=503, title="MLflow unavailable", message=str(exc))

    app.include_router(pages)
    app.include_router(api)
    return app


pages = APIRouter()


@pages.get("/", include_in_schema=False)
def index(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{request.scope.get('root_path', '')}{urls.pipelines_path()}")


@pages.get("/static/{name}")
def static(name: str) -> Response:
    content = render.static_file(name)
    if content is None:
        raise NotFoundError("No such file.", title="Not found")
    headers = {"Cache-Control": "private, max-age=300"}
    return Response(content, media_type=render.STATIC_TYPES[name], headers=headers)


@pages.get("/pipelines", response_class=HTMLResponse)
def pipelines_page(request: Request, session: SessionDep, reader: Reader, readable: ReadableDags) -> HTMLResponse:
    view = views.pipelines_view(session, reader, readable)
    return _page(request, "pipelines.html", title="ML Pipelines", **view)


# Declared before the run page: ``{run_id:path}`` would otherwise swallow "/validation".
@pages.get("/dags/{dag_id}/runs/{run_id:path}/validation", dependencies=[CAN_READ_DAG_RUNS])
def validation_page(request: Request, dag_id: str, run_id: str, session: SessionDep, reader: Reader) -> HTMLResponse:
    view = views.validation_view(session, reader, dag_id, run_id)
    return _page(request, "validation.html", title=f"Validation of {run_id}", **view)


@pages.get("/dags/{dag_id}/runs/{run_id:path}", dependencies=[CAN_READ_DAG_RUNS])
def run_page(request: Request, dag_id: str, run_id: str, session: SessionDep, reader: Reader) -> HTMLResponse:
    view = views.run_view(session, reader, dag_id, run_id)
    return _page(request, "run.html", title=f"{dag_id} {run_id}", **view)


@pages.get("/dags/{dag_id}/model", dependencies=[CAN_READ_DAG])
def dag_model_page(
    request: Request, dag_id: str, session: SessionDep, reader: Reader, readable: ReadableDags, live: Endpoints
) -> HTMLResponse:
    if not metadata.is_mlops_dag(session, dag_id):
        raise NotFoundError(f"{dag_id} was not built by airflow-mlops (no 'mlops' tag).", title="Not an ML pipeline")
    models = metadata.models_by_dag(session, [dag_id]).get(dag_id, [])
    if len(models) == 1:
        view = views.model_view(session, reader, readable, models[0], live)
        return _page(request, "model.html", title=f"Model {models[0]}", **view)
    return _page(request, "choose_model.html", title=f"Models of {dag_id}", dag_id=dag_id, models=models)


@pages.get("/models/{model_name}", response_class=HTMLResponse)
def model_page(
    request: Request, model_name: str, session: SessionDep, reader: Reader, readable: ReadableDags, live: Endpoints
) -> HTMLResponse:
    view = views.model_view(session, reader, readable, model_name, live)
    return _page(request, "model.html", title=f"Model {model_name}", **view)


@pages.get("/models/{model_name}/versions/{version}", response_class=HTMLResponse)
def version_page(
    request: Request, model_name: str, version: str, session: SessionDep, reader: Reader, readable: ReadableDags
) -> HTMLResponse:
    view = views.version_view(session, reader, readable, model_name, version)
    return _page(request, "version.html", title=f"{model_name} v{version}", **view)


@pages.get("/models/{model_name}/versions/{version}/model_card.md", response_class=PlainTextResponse)
def version_card_page(
    model_name: str, version: str, session: SessionDep, reader: Reader, readable: ReadableDags
) -> PlainTextResponse:
    text = views.version_card_markdown(session, reader, readable, model_name, version)
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")


@pages.get("/mlflow-runs/{mlflow_run_id}", response_class=HTMLResponse)
def mlflow_run_page(
    request: Request, mlflow_run_id: str, session: SessionDep, reader: Reader, readable: ReadableDags
) -> HTMLResponse:
    view = views.mlflow_run_view(session, reader, readable, mlflow_run_id)
    return _page(request, "mlflow_run.html", title=f"MLflow run {mlflow_run_id}", **view)


@pages.get("/environments", response_class=HTMLResponse)
def environments_page(request: Request, source: EnvironmentsFile) -> HTMLResponse:
    view = environments.environments_view(source)
    return _page(request, "environments.html", title="Across environments", **view)


api = APIRouter(prefix="/api")


@api.get("/environments")
def environments_json(source: EnvironmentsFile) -> dict[str, Any]:
    return environments.environments_view(source)


@api.get("/pipelines")
def pipelines_json(session: SessionDep, reader: Reader, readable: ReadableDags) -> dict[str, Any]:
    return views.pipelines_view(session, reader, readable)


@api.get("/dags/{dag_id}/runs/{run_id:path}", dependencies=[CAN_READ_DAG_RUNS])
def run_json(dag_id: str, run_id: str, session: SessionDep, reader: Reader) -> dict[str, Any]:
    return views.run_view(session, reader, dag_id, run_id)


@api.get("/models/{model_name}")
def model_json(
    model_name: str, session: SessionDep, reader: Reader, readable: ReadableDags, live: Endpoints
) -> dict[str, Any]:
    return views.model_view(session, reader, readable, model_name, live)
