"""Read one pipeline run's record back from MLflow and render it for people.

Everything here comes from what the tasks stored (params, tags, JSON artifacts, registry
aliases), not from XCom: the record must answer "what happened in this run" long after
Airflow's metadata has been cleaned up.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_mlops.hooks.mlflow import TAG_DAG_ID, TAG_ROLE, TAG_RUN_ID, MlflowHook


def _load_json(run_id: str, path: str) -> Any:
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    try:
        return json.loads(mlflow.artifacts.load_text(f"runs:/{run_id}/{path}"))
    except (MlflowException, OSError):
        return None


def pipeline_run_report(
    hook: MlflowHook,
    *,
    experiment: str,
    dag_id: str,
    run_id: str,
    model_name: str,
    alias: str = "champion",
    previous_alias: str = "previous",
) -> dict[str, Any]:
    with hook.session():
        client = hook.get_client()
        exp = client.get_experiment_by_name(experiment)
        parent = None
        if exp is not None:
            parent = hook.find_run(exp.experiment_id, {TAG_DAG_ID: dag_id, TAG_RUN_ID: run_id, TAG_ROLE: "pipeline"})
        report: dict[str, Any] = {"dag_id": dag_id, "run_id": run_id, "model_name": model_name}
        if parent is not None:
            params = parent.data.params
            report["data"] = {k.removeprefix("data."): v for k, v in params.items() if k.startswith("data.")}
            report["validation"] = _load_json(parent.info.run_id, "validation/result.json")
            report["evaluation"] = _load_json(parent.info.run_id, "evaluation/result.json")
            report["verdict"] = _load_json(parent.info.run_id, "gate/verdict.json")
            report["mlflow_run_id"] = parent.info.run_id
        registered = hook.find_model_version(model_name, {TAG_DAG_ID: dag_id, TAG_RUN_ID: run_id})
        report["registered_version"] = str(registered.version) if registered else None
        champion = hook.alias_version(model_name, alias)
        previous = hook.alias_version(model_name, previous_alias)
        report["aliases"] = {
            alias: str(champion.version) if champion else None,
            previous_alias: str(previous.version) if previous else None,
        }
    return report


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else ("-" if value is None else str(value))


def format_report(report: dict[str, Any], title: str = "") -> str:
    """A plain-text summary meant for a terminal: data, validation, candidates, verdict, registry."""
    lines = [title or f"Run {report['run_id']} of {report['dag_id']}", ""]
    data = report.get("data") or {}
    if data:
        lines.append(f"  data        {data.get('path')} @ {data.get('rev')} -> commit {str(data.get('commit'))[:12]}")
        lines.append(f"              md5 {data.get('md5')}")
    validation = report.get("validation")
    if validation:
        stats = validation["statistics"]
        status = "PASSED" if validation["success"] else "FAILED"
        lines.append(
            f"  validation  {status}: {stats['successful_expectations']}/{stats['evaluated_expectations']} "
            "expectations met"
        )
        for result in validation.get("results", []):
            if not result["success"]:
                column = result.get("kwargs", {}).get("column", "")
                lines.append(f"              x {result['type']} {column}: {result.get('unexpected_count')} bad rows")
    evaluation = report.get("evaluation")
    if evaluation:
        lines.append(f"  candidates  (scored on the same {evaluation['n_test']} test rows)")
        rows = [(c["candidate"], c["metrics"]) for c in evaluation["candidates"]]
        champion = evaluation.get("champion")
        if champion:
            rows.append((f"champion v{champion['version']}", champion["metrics"]))
        names = ["f1", "roc_auc", "accuracy", "precision", "recall", "r2", "rmse", "mae"]
        shown = [m for m in names if any(m in r[1] for r in rows)]
        lines.append("              " + f"{'':<14}" + "".join(f"{m:>10}" for m in shown))
        for name, metrics in rows:
            lines.append("              " + f"{name:<14}" + "".join(f"{_fmt(metrics.get(m)):>10}" for m in shown))
    verdict = report.get("verdict")
    if verdict:
        lines.append(f"  gate        {verdict['decision'].upper()} {verdict['candidate']}")
        for outcome in verdict["outcomes"]:
            lines.append(f"              {'ok ' if outcome['passed'] else 'NO '} {outcome['reason']}")
    registered = report.get("registered_version")
    lines.append(f"  registered  {report['model_name']} v{registered}" if registered else "  registered  nothing")
    aliases = report.get("aliases", {})
    lines.append("  aliases     " + ", ".join(f"@{k} -> {'v' + v if v else 'none'}" for k, v in aliases.items()))
    return "\n".join(lines)
