"""View models of the ML view: what each page shows, shared by its HTML and JSON routes.

Functions from Airflow's metadata and the MLflow record to plain dicts for the templates.
MLflow comes in as the ``records.MlflowReader`` a route received from its dependency
(``records.mlflow_reader``), so a test hands in a reader of a store of its own. Everything
returned has credentials removed from URLs (``scrub``).
"""

from typing import Any

from markupsafe import Markup

from airflow_mlops.card.render import to_html_fragment, to_markdown
from airflow_mlops.errors import MlflowUnavailableError, NotFoundError
from airflow_mlops.governance.card import version_card
from airflow_mlops.plugins import metadata, records, render, urls
from airflow_mlops.plugins.deployments import deployments_view
from airflow_mlops.plugins.endpoints import EndpointReader


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


def _trend(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The selected candidate's first gate metric over recent runs, oldest first, with each run's data commit."""
    metric = next((r["metric"] for r in runs if r.get("metric")), None)
    points = [
        {
            "value": r["metrics"].get(metric) if metric else None,
            "decision": r.get("decision"),
            "label": r["run_id"],
            "data": r.get("data_commit"),
        }
        for r in reversed(runs)
    ]
    latest = next((p["value"] for p in reversed(points) if isinstance(p["value"], int | float)), None)
    return {"metric": metric, "points": points, "latest": latest}


def pipelines_view(session: Any, reader: records.MlflowReader, readable: set[str]) -> dict[str, Any]:
    dag_ids = metadata.mlops_dag_ids(session, readable)
    pipelines = metadata.pipelines(session, dag_ids)
    for pipeline in pipelines:
        pipeline["trend"] = _trend(pipeline["runs"])
    names = sorted({m for p in pipelines for m in p["models"]})
    view: dict[str, Any] = {"pipelines": pipelines, "aliases": {}, "mlflow_error": None, "mlflow_ui": None}
    if names:
        try:
            with reader.client() as client:
                view["aliases"] = records.champions(client, names)
            view["mlflow_ui"] = reader.ui_base()
        except MlflowUnavailableError as err:
            view["mlflow_error"] = str(err)
    return scrubbed(view)


def _gate_rows(
    verdict: dict[str, Any],
    champion_metrics: dict[str, Any],
    not_computable: tuple[dict[str, Any], dict[str, Any]] = ({}, {}),
) -> list[dict[str, Any]]:
    """One row per rule; ``not_computable`` (candidate's, champion's) names what stands where a number cannot."""
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
                "candidate_not_computable": not_computable[0].get(metric) if candidate is None else None,
                "champion_not_computable": not_computable[1].get(metric) if champion is None else None,
            }
        )
    return rows


def _candidate_rows(evaluation: dict[str, Any], trained: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = [
        {
            "name": c.get("candidate"),
            "metrics": c.get("metrics") or {},
            "not_computable": c.get("not_computable") or {},
            "mlflow_run_id": c.get("mlflow_run_id"),
            "experiment_id": c.get("experiment_id"),
            "note": c.get("estimator"),
        }
        for c in evaluation.get("candidates") or []
    ]
    rows += [
        {
            "name": d.get("candidate"),
            "metrics": {},
            "not_computable": {},
            "mlflow_run_id": d.get("mlflow_run_id"),
            "experiment_id": None,
            "note": f"dropped: {d.get('error')}",
            "dropped": True,
        }
        for d in evaluation.get("dropped") or []
    ]
    if not rows:  # evaluation did not run: show what training produced, without test metrics
        rows = [
            {
                "name": t.get("candidate"),
                "metrics": {},
                "not_computable": {},
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
                "not_computable": champion.get("not_computable") or {},
                "mlflow_run_id": champion.get("run_id"),
                "experiment_id": None,
                "note": "@champion when scored",
            }
        )
    return rows


def run_view(session: Any, reader: records.MlflowReader, dag_id: str, run_id: str) -> dict[str, Any]:
    if not metadata.is_mlops_dag(session, dag_id):
        raise NotFoundError(f"{dag_id} was not built by airflow-mlops (no 'mlops' tag).", title="Not an ML pipeline")
    run = metadata.dag_run(session, dag_id, run_id)
    if run is None:
        raise NotFoundError(f"{dag_id} has no run {run_id}.", title="Run not found")
    xcoms = run["xcoms"]

    def returned(task_id: str) -> dict[str, Any]:
        value = xcoms.get(task_id)
        return value if isinstance(value, dict) else {}

    hint = returned("validate_data").get("mlflow_run_id") or returned("evaluate").get("mlflow_run_id")
    record: dict[str, Any] = {}
    error = None
    try:
        with reader.client() as client:
            record = records.run_record(client, dag_id, run_id, hint=hint, model_names=run["models"])
    except MlflowUnavailableError as err:
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
        # A failed check returns nothing to XCom: its verdict is read from the MLflow record.
        "serving": record.get("serving") or returned("serving_check") or None,
        "gate_rows": _gate_rows(verdict or {}, champion_metrics, _not_computable(evaluation, verdict or {})),
        "n_test": evaluation.get("n_test"),
        "candidate_rows": _candidate_rows(evaluation, run["trained"]),
        "champion_row": bool(evaluation.get("champion")),
        "registered": registered,
        # Which steps reused an earlier run's result, and why the others ran (step caching).
        "cache": record.get("cache") or [],
        "aliases": record.get("aliases") or {},
        "mlflow_error": error,
        "mlflow_ui": reader.ui_base() if error is None else None,
    }
    return scrubbed(view)


def _not_computable(evaluation: dict[str, Any], verdict: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The judged candidate's and the champion's ``{metric: reason}`` of metrics that could not be computed."""
    judged: dict[str, Any] = next(
        (c for c in evaluation.get("candidates") or [] if c.get("candidate") == verdict.get("candidate")), {}
    )
    champion = evaluation.get("champion") or {}
    return dict(judged.get("not_computable") or {}), dict(champion.get("not_computable") or {})


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


def validation_view(session: Any, reader: records.MlflowReader, dag_id: str, run_id: str) -> dict[str, Any]:
    if not metadata.is_mlops_dag(session, dag_id):
        raise NotFoundError(f"{dag_id} was not built by airflow-mlops (no 'mlops' tag).", title="Not an ML pipeline")
    run = metadata.dag_run(session, dag_id, run_id)
    if run is None:
        raise NotFoundError(f"{dag_id} has no run {run_id}.", title="Run not found")
    digest = run["xcoms"].get("validate_data") if isinstance(run["xcoms"].get("validate_data"), dict) else None
    view: dict[str, Any] = {"dag_id": dag_id, "run_id": run_id, "digest": digest, "result": None}
    view.update({"mlflow_run_id": None, "experiment_id": None, "mlflow_error": None, "mlflow_ui": None})
    try:
        with reader.client() as client:
            found = records.validation_record(client, dag_id, run_id, hint=(digest or {}).get("mlflow_run_id"))
        view["mlflow_ui"] = reader.ui_base()
    except MlflowUnavailableError as err:
        found, view["mlflow_error"] = None, str(err)
    if found:
        view.update(found)
    return scrubbed(view)


def _model_dags(session: Any, readable: set[str], model_name: str) -> list[str]:
    dag_ids = metadata.dags_of_model(session, model_name, metadata.mlops_dag_ids(session, readable))
    if not dag_ids:
        raise NotFoundError(f"No ML pipeline you can read builds a model named {model_name}.", title="Model not found")
    return dag_ids


def model_view(
    session: Any,
    reader: records.MlflowReader,
    readable: set[str],
    model_name: str,
    endpoints: EndpointReader | None = None,
) -> dict[str, Any]:
    """The model's aliases, versions and history; with ``endpoints``, also where it is deployed.

    The deployments are built even when MLflow is down: a local endpoint serving the model is still
    found in its folder, without the versions' deploy records.
    """
    dag_ids = _model_dags(session, readable, model_name)
    view: dict[str, Any] = {"model_name": model_name, "dag_ids": dag_ids, "model": None, "mlflow_error": None}
    view["deployments"] = None
    try:
        with reader.client() as client:
            view["model"] = records.model_record(client, model_name)
        view["mlflow_ui"] = reader.ui_base()
    except NotFoundError:
        pass  # known to Airflow, not registered yet: the page says so
    except MlflowUnavailableError as err:
        view["mlflow_error"] = str(err)
    if endpoints is not None:
        versions, history = (view["model"] or {}).get("versions", []), (view["model"] or {}).get("history", [])
        view["deployments"] = deployments_view(model_name, versions, history, endpoints)
    return scrubbed(view)


def version_view(
    session: Any, reader: records.MlflowReader, readable: set[str], model_name: str, version: str
) -> dict[str, Any]:
    dag_ids = _model_dags(session, readable, model_name)
    try:
        with reader.client() as client:
            info = records.version_lineage(client, model_name, version)
            card, stored = version_card(client, model_name, version)
    except NotFoundError as err:
        raise NotFoundError(str(err), title="Version not found") from err
    view = scrubbed({"model_name": model_name, "dag_ids": dag_ids, "info": info, "mlflow_ui": reader.ui_base()})
    # The card's own templates escape every value (autoescape), so its HTML is markup, not text.
    view["card_html"] = Markup(to_html_fragment(card))
    view["card_stored"] = stored
    return view


def version_card_markdown(
    session: Any, reader: records.MlflowReader, readable: set[str], model_name: str, version: str
) -> str:
    """The version's model card as Markdown, for a repository."""
    _model_dags(session, readable, model_name)
    try:
        with reader.client() as client:
            card, _ = version_card(client, model_name, version)
    except NotFoundError as err:
        raise NotFoundError(str(err), title="Version not found") from err
    return to_markdown(card)


def mlflow_run_view(
    session: Any, reader: records.MlflowReader, readable: set[str], mlflow_run_id: str
) -> dict[str, Any]:
    with reader.client() as client:
        info = records.mlflow_run_record(client, mlflow_run_id)
    missing = NotFoundError(f"No run {mlflow_run_id} of an ML pipeline you can read.", title="MLflow run not found")
    if info is None or not info.get("dag_id"):
        raise missing
    if info["dag_id"] not in metadata.mlops_dag_ids(session, readable):
        raise missing
    return scrubbed({"info": info, "mlflow_ui": reader.ui_base()})
