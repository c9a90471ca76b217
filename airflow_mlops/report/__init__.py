"""Read one pipeline run's record back from MLflow and render it for people.

Everything here comes from what the tasks stored (params, tags, JSON artifacts, registry
aliases), not from XCom: the record must answer "what happened in this run" long after
Airflow's metadata has been cleaned up.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow_mlops.record import paths, tag
from airflow_mlops.record.cache import CacheOutcome
from airflow_mlops.record.deployment import DeploymentRecord, latest_deployment
from airflow_mlops.spec.models_cache import CACHEABLE_STEPS

if TYPE_CHECKING:
    from airflow_mlops.hooks.mlflow import MlflowHook


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
            parent = hook.find_run(exp.experiment_id, tag.identity(dag_id, run_id, tag.ROLE_PIPELINE))
        report: dict[str, Any] = {"dag_id": dag_id, "run_id": run_id, "model_name": model_name}
        if parent is not None:
            params = parent.data.params
            report["data"] = {k.removeprefix("data."): v for k, v in params.items() if k.startswith("data.")}
            report["validation"] = _load_json(parent.info.run_id, paths.VALIDATION_RESULT)
            report["evaluation"] = _load_json(parent.info.run_id, paths.EVALUATION_RESULT)
            report["verdict"] = _load_json(parent.info.run_id, paths.GATE_VERDICT)
            report["serving"] = _load_json(parent.info.run_id, paths.SERVING_VERDICT)
            approval = {
                k.removeprefix(tag.APPROVAL_PREFIX): v
                for k, v in parent.data.tags.items()
                if k.startswith(tag.APPROVAL_PREFIX)
            }
            if approval:
                report["approval"] = {
                    "decision": approval.get("decision"),
                    "approver": approval.get("by"),
                    "at": approval.get("at"),
                    "reason": approval.get("reason"),
                }
            report["cache"] = cache_outcomes(parent.data.tags)
            report["mlflow_run_id"] = parent.info.run_id
        registered = hook.find_model_version(model_name, {tag.DAG_ID: dag_id, tag.RUN_ID: run_id})
        report["registered_version"] = str(registered.version) if registered else None
        report["registered_run_id"] = registered.run_id if registered else None
        champion = hook.alias_version(model_name, alias)
        previous = hook.alias_version(model_name, previous_alias)
        report["aliases"] = {
            alias: str(champion.version) if champion else None,
            previous_alias: str(previous.version) if previous else None,
        }
        report["deployment"] = _deployment(registered, [v for v in (champion, previous) if v is not None])
    return report


def _deployment(registered: Any, standing: list[Any]) -> dict[str, Any] | None:
    """This run's rollout; else the newest one of @champion or @previous, which still decides what serves."""
    record = DeploymentRecord.from_tags(str(registered.version), registered.tags or {}) if registered else None
    this_run = record is not None
    if record is None:
        record = latest_deployment((str(v.version), v.tags or {}) for v in standing)
    if record is None:
        return None  # the pipeline has no deploy step (or never deployed)
    return {**record.model_dump(), "serving_version": record.serving_version, "this_run": this_run}


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
    lines += cache_lines(report.get("cache"))
    evaluation = report.get("evaluation")
    if evaluation:
        lines.append(f"  candidates  (scored on the same {evaluation['n_test']} test rows)")
        lines += _candidate_lines(evaluation)
    lines += _decision_lines(report)
    registered = report.get("registered_version")
    lines.append(f"  registered  {report['model_name']} v{registered}" if registered else "  registered  nothing")
    if registered:
        lines.append(
            f"  model card  airflow-mlops card {report['model_name']}/{registered}  "
            f"(runs:/{report.get('registered_run_id')}/{paths.MODEL_CARD_MARKDOWN}, and on the version's page)"
        )
    aliases = report.get("aliases", {})
    lines.append("  aliases     " + ", ".join(f"@{k} -> {'v' + v if v else 'none'}" for k, v in aliases.items()))
    lines += deployment_lines(report)
    return "\n".join(lines)


def cache_outcomes(tags: dict[str, str]) -> list[dict[str, Any]]:
    """Each step's cache outcome the run recorded (record/cache.py), in the order the steps ran."""
    found = [CacheOutcome.from_json(value) for key, value in tags.items() if key.startswith(tag.CACHE_OUTCOME_PREFIX)]
    order = {step: i for i, step in enumerate(CACHEABLE_STEPS)}
    found.sort(key=lambda o: (order.get(o.step.split(".", 1)[0], len(order)), o.step))
    return [{"step": o.step, "hit": o.hit, "summary": o.summary()} for o in found]


def cache_lines(outcomes: Any) -> list[str]:
    """Which steps reused an earlier run's result and which ran, with the reason; nothing when none was asked."""
    if not outcomes:
        return []
    width = max(len(o["step"]) for o in outcomes)
    return [f"  {'cache' if i == 0 else '':<11} {o['step']:<{width}}  {o['summary']}" for i, o in enumerate(outcomes)]


def deployment_lines(report: dict[str, Any]) -> list[str]:
    """Where this run's new champion was deployed and how its smoke check went; or, when it deployed
    nothing, why not and which version keeps serving. Nothing for a pipeline without a deploy step."""
    deployment = report.get("deployment")
    if not deployment:
        return []
    serving = deployment.get("serving_version")
    where = f"{deployment.get('target') or '-'}, endpoint {deployment.get('endpoint') or '-'}"
    if not deployment.get("this_run"):
        kept = f"v{serving} keeps serving" if serving else "the endpoint serves nothing"
        return [
            f"  deployment  UNCHANGED: this run deployed nothing ({_nothing_deployed(report)}); {kept}",
            f"              endpoint  {deployment.get('endpoint') or '-'} on {deployment.get('target') or '-'} "
            f"at {deployment.get('url') or '-'}",
            f"              since     {deployment.get('at') or '-'} by {deployment.get('by') or '-'}",
        ]
    decision = str(deployment.get("decision")).replace("_", " ").upper()
    lines = [
        f"  deployment  {decision} v{deployment['version']} to {where} ({deployment.get('strategy') or '-'})",
        f"              url       {deployment.get('url') or '-'}",
        f"              smoke     {_smoke_line(deployment.get('smoke'))}",
    ]
    bake = deployment.get("bake")
    if isinstance(bake, dict) and bake.get("summary"):
        lines.append(f"              bake      {bake['summary']}")
    if deployment.get("error"):
        lines.append(f"              error     {deployment['error']}")
    if deployment.get("decision") == tag.DeployDecision.ROLLED_BACK:
        lines.append(f"              rollback  {deployment.get('summary') or '-'}")
    elif deployment.get("decision") == tag.DeployDecision.FAILED:
        lines.append(f"              failed    {deployment.get('summary') or '-'}")
    lines.append(f"              serving   {'v' + serving if serving else 'nothing (the endpoint was stopped)'}")
    return lines


def _nothing_deployed(report: dict[str, Any]) -> str:
    registered, verdict = report.get("registered_version"), report.get("verdict") or {}
    if registered:
        return f"no rollout was recorded for v{registered}; see the deploy task's log"
    if verdict.get("decision") == "unchanged":
        return "nothing changed: the champion already serves this model"
    if verdict.get("decision") and verdict["decision"] != "promote":
        return f"the gate decided {verdict['decision'].upper()}"
    if (report.get("approval") or {}).get("decision") == "rejected":
        return "the approval was rejected"
    return "no new version was registered"


def _smoke_line(smoke: Any) -> str:
    """``PASS: 20/20 requests answered, p95 8.1 ms (limits: ...)`` and what breached, from the recorded verdict."""
    smoke = smoke if isinstance(smoke, dict) else {}
    requests, failed, p95 = smoke.get("requests"), smoke.get("failed"), smoke.get("p95_ms")
    if not isinstance(requests, int) or not isinstance(failed, int):
        return "not recorded"
    limits = smoke.get("limits") or {}
    timed = f"p95 {p95:.1f} ms" if isinstance(p95, int | float) else "no answer timed"
    text = (
        f"{str(smoke.get('decision') or '-').upper()}: {requests - failed}/{requests} requests answered, {timed} "
        f"(limits: error rate <= {_limit(limits.get('max_error_rate'))}, p95 <= {_limit(limits.get('max_p95_ms'))} ms)"
    )
    breaches = smoke.get("breaches") or []
    return text + (f"; breached: {'; '.join(map(str, breaches))}" if breaches else "")


def _limit(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else "-"


def _candidate_lines(evaluation: dict[str, Any]) -> list[str]:
    """One row per scored model; a metric that could not be computed reads ``n/c``, its reason below."""
    scored = [(c["candidate"], c) for c in evaluation["candidates"]]
    champion = evaluation.get("champion")
    if champion:
        scored.append((f"champion v{champion['version']}", champion))
    names = ["f1", "roc_auc", "accuracy", "precision", "recall", "r2", "rmse", "mae"]
    shown = [m for m in names if any(m in r["metrics"] or m in (r.get("not_computable") or {}) for _, r in scored)]
    lines = ["              " + f"{'':<14}" + "".join(f"{m:>10}" for m in shown)]
    notes = []
    for name, row in scored:
        missing = row.get("not_computable") or {}
        cells = ["n/c" if m in missing else _fmt(row["metrics"].get(m)) for m in shown]
        lines.append("              " + f"{name:<14}" + "".join(f"{cell:>10}" for cell in cells))
        notes += [
            f"              n/c {name} {metric}: not computable: {why}" for metric, why in sorted(missing.items())
        ]
    for dropped in evaluation.get("dropped") or []:
        notes.append(f"              dropped {dropped['candidate']}: {dropped['error']}")
    return lines + notes


def _decision_lines(report: dict[str, Any]) -> list[str]:
    """The gate's verdict with its reasons and, when a person had to sign off, their answer."""
    lines = []
    verdict = report.get("verdict")
    if verdict:
        lines.append(f"  gate        {verdict['decision'].upper()} {verdict['candidate']}")
        if verdict["decision"] == "unchanged":
            lines.append(f"              {verdict['summary'].split(': ', 1)[-1]}")
        for outcome in verdict["outcomes"]:
            lines.append(f"              {'ok ' if outcome['passed'] else 'NO '} {outcome['reason']}")
    lines += serving_lines(report.get("serving"))
    if report.get("approval"):
        for i, line in enumerate(_approval_lines(report["approval"])):
            lines.append(f"  {'approval' if i == 0 else '':<11} {line}")
    return lines


def serving_lines(serving: Any, label: str = "serving") -> list[str]:
    """The serving check's verdict and each check's reason; nothing when the run had no serving check."""
    if not isinstance(serving, dict) or not serving.get("decision"):
        return []
    lines = [f"  {label:<11} {str(serving['decision']).upper()} {serving.get('model_uri') or ''}".rstrip()]
    for outcome in serving.get("outcomes") or []:
        lines.append(f"              {'ok ' if outcome.get('passed') else 'NO '} {outcome.get('reason')}")
    return lines


def _approval_lines(approval: dict[str, Any]) -> list[str]:
    """Who signed off (or refused), when and why; ``not required`` when nobody had to."""
    decision = approval.get("decision")
    if not decision and not approval.get("approver"):
        return [str(approval.get("status") or "not required")]
    head = f"{decision or 'recorded'} by {approval.get('approver') or '-'}"
    if approval.get("at"):
        head += f" at {approval['at']}"
    return [head, f"reason: {approval.get('reason') or '-'}"]
