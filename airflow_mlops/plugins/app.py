"""The FastAPI app of the ML view, mounted by Airflow's API server at ``/mlops``.

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
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from airflow_mlops import governance
from airflow_mlops.plugins import metadata, records, render, urls

log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'self'; "
    "base-uri 'none'; form-action 'none'"
)


class NotFoundError(Exception):
    """Shown as a 404 page (or JSON under ``/api``); the message names only what the user asked for."""

    def __init__(self, title: str, message: str) -> None:
        super().__init__(message)
        self.title = title
        self.message = message


def readable_dag_ids(user: GetUserDep) -> set[str]:
    """The DAG ids the auth manager lets this user read (Airflow's own per-DAG filter)."""
    return set(get_auth_manager().get_authorized_dag_ids(user=user, method="GET"))


ReadableDags = Annotated[set[str], Depends(readable_dag_ids)]
CAN_READ_DAG_RUNS = Depends(requires_access_dag("GET", DagAccessEntity.RUN))
CAN_READ_DAG = Depends(requires_access_dag("GET"))


def scrubbed(view: dict[str, Any]) -> dict[str, Any]:
    """A view model ready to render or return: see ``scrub``."""
    result: dict[str, Any] = scrub(view)
    return result


def scrub(value: Any) -> Any:
    """``value`` with ``user:password@`` removed from every URL-looking string, at any depth."""
    if isinstance(value, str):
        return urls.without_userinfo(value) if "://" in value and "@" in value else value
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def _page(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("mlflow_error", None)
    context.setdefault("mlflow_ui", None)
    html = render.render(template, root=request.scope.get("root_path", ""), **scrub(context))
    return HTMLResponse(html, status_code=status_code)


# --- view models: what a page shows, shared by its HTML and JSON routes ------------------------------


def _trend(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The selected candidate's value of the first gate metric over recent runs, oldest first."""
    metric = next((r["metric"] for r in runs if r.get("metric")), None)
    points = [
        {
            "value": r["metrics"].get(metric) if metric else None,
            "decision": r.get("decision"),
            "label": r["run_id"],
        }
        for r in reversed(runs)
    ]
    latest = next((p["value"] for p in reversed(points) if isinstance(p["value"], int | float)), None)
    return {"metric": metric, "points": points, "latest": latest}


def pipelines_view(session: Any, readable: set[str]) -> dict[str, Any]:
    dag_ids = metadata.mlops_dag_ids(session, readable)
    pipelines = metadata.pipelines(session, dag_ids)
    for pipeline in pipelines:
        pipeline["trend"] = _trend(pipeline["runs"])
    names = sorted({m for p in pipelines for m in p["models"]})
    reader = records.MlflowReader()
    view: dict[str, Any] = {"pipelines": pipelines, "aliases": {}, "mlflow_error": None, "mlflow_ui": None}
    if names:
        try:
            with reader.client() as client:
                view["aliases"] = records.champions(client, names)
            view["mlflow_ui"] = reader.ui_base()
        except records.MlflowUnavailableError as err:
            view["mlflow_error"] = str(err)
    return scrubbed(view)


def _gate_rows(verdict: dict[str, Any], champion_metrics: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for outcome in verdict.get("outcomes") or []:
        metric = outcome.get("metric")
        champion = outcome.get("champion_value")
        if champion is None and metric:
            champion = champion_metrics.get(metric)
        candidate = outcome.get("candidate_value")
        reference = champion if champion is not None else outcome.get("threshold")
        rows.append(
            {
                "rule": outcome.get("rule"),
                "metric": metric,
                "kind": outcome.get("kind"),
                "candidate": candidate,
                "champion": champion,
                "threshold": outcome.get("threshold"),
                "delta": render.delta(candidate, reference),
                "passed": bool(outcome.get("passed")),
                "reason": outcome.get("reason"),
            }
        )
    return rows


def _candidate_rows(evaluation: dict[str, Any], trained: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = [
        {
            "name": c.get("candidate"),
            "metrics": c.get("metrics") or {},
            "mlflow_run_id": c.get("mlflow_run_id"),
            "experiment_id": c.get("experiment_id"),
            "note": c.get("estimator"),
        }
        for c in evaluation.get("candidates") or []
    ]
    if not rows:  # evaluation did not run: show what training produced, without test metrics
        rows = [
            {
                "name": t.get("candidate"),
                "metrics": {},
                "mlflow_run_id": t.get("mlflow_run_id"),
                "experiment_id": t.get("experiment_id"),
                "note": t.get("estimator"),
            }
            for t in trained
        ]
    champion = evaluation.get("champion")
    if champion:
        rows.append(
            {
                "name": f"champion v{champion.get('version')}",
                "metrics": champion.get("metrics") or {},
                "mlflow_run_id": champion.get("run_id"),
                "experiment_id": None,
                "note": "@champion when scored",
            }
        )
    return rows


def run_view(session: Any, dag_id: str, run_id: str) -> dict[str, Any]:
    if not metadata.is_mlops_dag(session, dag_id):
        raise NotFoundError("Not an ML pipeline", f"{dag_id} was not built by airflow-mlops (no 'mlops' tag).")
    run = metadata.dag_run(session, dag_id, run_id)
    if run is None:
        raise NotFoundError("Run not found", f"{dag_id} has no run {run_id}.")
    xcoms = run["xcoms"]

    def returned(task_id: str) -> dict[str, Any]:
        value = xcoms.get(task_id)
        return value if isinstance(value, dict) else {}

    hint = returned("validate_data").get("mlflow_run_id") or returned("evaluate").get("mlflow_run_id")
    reader = records.MlflowReader()
    record: dict[str, Any] = {}
    error = None
    try:
        with reader.client() as client:
            record = records.run_record(client, dag_id, run_id, hint=hint, model_names=run["models"])
    except records.MlflowUnavailableError as err:
        error = str(err)
    evaluation = record.get("evaluation") or returned("evaluate")
    verdict = record.get("verdict") or returned("gate").get("verdict")
    champion_metrics = (evaluation.get("champion") or {}).get("metrics") or {}
    validation = returned("validate_data") or _validation_digest(record.get("validation"))
    registered = record.get("registered") or (
        [{"model_name": returned("register")["model_name"], "version": str(returned("register")["version"])}]
        if returned("register").get("version")
        else []
    )
    view = {
        "dag_id": dag_id,
        "run_id": run_id,
        "run": run["summary"],
        "tasks": run["tasks"],
        "models": run["models"],
        "mlflow_run_id": record.get("mlflow_run_id") or hint,
        "experiment_id": record.get("experiment_id"),
        "data": record.get("data") or returned("resolve_data") or None,
        "validation": validation or None,
        "verdict": verdict or None,
        "gate_rows": _gate_rows(verdict or {}, champion_metrics),
        "n_test": evaluation.get("n_test"),
        "candidate_rows": _candidate_rows(evaluation, run["trained"]),
        "champion_row": bool(evaluation.get("champion")),
        "registered": registered,
        "aliases": record.get("aliases") or {},
        "mlflow_error": error,
        "mlflow_ui": reader.ui_base() if error is None else None,
    }
    return scrubbed(view)


def _validation_digest(result: Any) -> dict[str, Any] | None:
    """The XCom-style summary of a full GX result, for runs whose XCom is gone."""
    if not isinstance(result, dict):
        return None
    failed = [
        {"type": r.get("type"), "column": (r.get("kwargs") or {}).get("column"), "reason": None}
        for r in result.get("results") or []
        if not r.get("success")
    ]
    return {"success": result.get("success"), "statistics": result.get("statistics") or {}, "failed": failed}


def validation_view(session: Any, dag_id: str, run_id: str) -> dict[str, Any]:
    if not metadata.is_mlops_dag(session, dag_id):
        raise NotFoundError("Not an ML pipeline", f"{dag_id} was not built by airflow-mlops (no 'mlops' tag).")
    run = metadata.dag_run(session, dag_id, run_id)
    if run is None:
        raise NotFoundError("Run not found", f"{dag_id} has no run {run_id}.")
    digest = run["xcoms"].get("validate_data") if isinstance(run["xcoms"].get("validate_data"), dict) else None
    reader = records.MlflowReader()
    view: dict[str, Any] = {"dag_id": dag_id, "run_id": run_id, "digest": digest, "result": None}
    view.update({"mlflow_run_id": None, "experiment_id": None, "mlflow_error": None, "mlflow_ui": None})
    try:
        with reader.client() as client:
            found = records.validation_record(client, dag_id, run_id, hint=(digest or {}).get("mlflow_run_id"))
        view["mlflow_ui"] = reader.ui_base()
    except records.MlflowUnavailableError as err:
        found, view["mlflow_error"] = None, str(err)
    if found:
        view.update(found)
    return scrubbed(view)


def _model_dags(session: Any, readable: set[str], model_name: str) -> list[str]:
    dag_ids = metadata.dags_of_model(session, model_name, metadata.mlops_dag_ids(session, readable))
    if not dag_ids:
        raise NotFoundError("Model not found", f"No ML pipeline you can read builds a model named {model_name}.")
    return dag_ids


def model_view(session: Any, readable: set[str], model_name: str) -> dict[str, Any]:
    dag_ids = _model_dags(session, readable, model_name)
    reader = records.MlflowReader()
    view: dict[str, Any] = {"model_name": model_name, "dag_ids": dag_ids, "model": None, "mlflow_error": None}
    try:
        with reader.client() as client:
            view["model"] = records.model_record(client, model_name)
        view["mlflow_ui"] = reader.ui_base()
    except governance.NotFoundError:
        pass  # known to Airflow, not registered yet: the page says so
    except records.MlflowUnavailableError as err:
        view["mlflow_error"] = str(err)
    return scrubbed(view)


def version_view(session: Any, readable: set[str], model_name: str, version: str) -> dict[str, Any]:
    dag_ids = _model_dags(session, readable, model_name)
    reader = records.MlflowReader()
    try:
        with reader.client() as client:
            info = records.version_lineage(client, model_name, version)
    except governance.NotFoundError as err:
        raise NotFoundError("Version not found", str(err)) from err
    return scrubbed({"model_name": model_name, "dag_ids": dag_ids, "info": info, "mlflow_ui": reader.ui_base()})


def mlflow_run_view(session: Any, readable: set[str], mlflow_run_id: str) -> dict[str, Any]:
    reader = records.MlflowReader()
    with reader.client() as client:
        info = records.mlflow_run_record(client, mlflow_run_id)
    missing = NotFoundError("MLflow run not found", f"No run {mlflow_run_id} of an ML pipeline you can read.")
    if info is None or not info.get("dag_id"):
        raise missing
    if info["dag_id"] not in metadata.mlops_dag_ids(session, readable):
        raise missing
    return scrubbed({"info": info, "mlflow_ui": reader.ui_base()})


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

    @app.exception_handler(records.MlflowUnavailableError)
    async def mlflow_unavailable(request: Request, exc: records.MlflowUnavailableError) -> Response:
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
        raise NotFoundError("Not found", "No such file.")
    headers = {"Cache-Control": "private, max-age=300"}
    return Response(content, media_type=render.STATIC_TYPES[name], headers=headers)


@pages.get("/pipelines", response_class=HTMLResponse)
def pipelines_page(request: Request, session: SessionDep, readable: ReadableDags) -> HTMLResponse:
    return _page(request, "pipelines.html", title="ML Pipelines", **pipelines_view(session, readable))


# Declared before the run page: ``{run_id:path}`` would otherwise swallow "/validation".
@pages.get("/dags/{dag_id}/runs/{run_id:path}/validation", dependencies=[CAN_READ_DAG_RUNS])
def validation_page(request: Request, dag_id: str, run_id: str, session: SessionDep) -> HTMLResponse:
    view = validation_view(session, dag_id, run_id)
    return _page(request, "validation.html", title=f"Validation of {run_id}", **view)


@pages.get("/dags/{dag_id}/runs/{run_id:path}", dependencies=[CAN_READ_DAG_RUNS])
def run_page(request: Request, dag_id: str, run_id: str, session: SessionDep) -> HTMLResponse:
    return _page(request, "run.html", title=f"{dag_id} {run_id}", **run_view(session, dag_id, run_id))


@pages.get("/dags/{dag_id}/model", dependencies=[CAN_READ_DAG])
def dag_model_page(request: Request, dag_id: str, session: SessionDep, readable: ReadableDags) -> HTMLResponse:
    if not metadata.is_mlops_dag(session, dag_id):
        raise NotFoundError("Not an ML pipeline", f"{dag_id} was not built by airflow-mlops (no 'mlops' tag).")
    models = metadata.models_by_dag(session, [dag_id]).get(dag_id, [])
    if len(models) == 1:
        view = model_view(session, readable, models[0])
        return _page(request, "model.html", title=f"Model {models[0]}", **view)
    return _page(request, "choose_model.html", title=f"Models of {dag_id}", dag_id=dag_id, models=models)


@pages.get("/models/{model_name}", response_class=HTMLResponse)
def model_page(request: Request, model_name: str, session: SessionDep, readable: ReadableDags) -> HTMLResponse:
    view = model_view(session, readable, model_name)
    return _page(request, "model.html", title=f"Model {model_name}", **view)


@pages.get("/models/{model_name}/versions/{version}", response_class=HTMLResponse)
def version_page(
    request: Request, model_name: str, version: str, session: SessionDep, readable: ReadableDags
) -> HTMLResponse:
    view = version_view(session, readable, model_name, version)
    return _page(request, "version.html", title=f"{model_name} v{version}", **view)


@pages.get("/mlflow-runs/{mlflow_run_id}", response_class=HTMLResponse)
def mlflow_run_page(request: Request, mlflow_run_id: str, session: SessionDep, readable: ReadableDags) -> HTMLResponse:
    view = mlflow_run_view(session, readable, mlflow_run_id)
    return _page(request, "mlflow_run.html", title=f"MLflow run {mlflow_run_id}", **view)


api = APIRouter(prefix="/api")


@api.get("/pipelines")
def pipelines_json(session: SessionDep, readable: ReadableDags) -> dict[str, Any]:
    return pipelines_view(session, readable)


@api.get("/dags/{dag_id}/runs/{run_id:path}", dependencies=[CAN_READ_DAG_RUNS])
def run_json(dag_id: str, run_id: str, session: SessionDep) -> dict[str, Any]:
    return run_view(session, dag_id, run_id)


@api.get("/models/{model_name}")
def model_json(model_name: str, session: SessionDep, readable: ReadableDags) -> dict[str, Any]:
    return model_view(session, readable, model_name)
