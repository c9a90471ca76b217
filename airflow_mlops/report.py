"""Read one pipeline run's record back from MLflow and render it for people.

Everything here comes from what the tasks stored (params, tags, JSON artifacts, registry
aliases), not from XCom: the record must answer "what happened in this run" long after
Airflow's metadata has been cleaned up.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow_mlops.record import paths, tag
from airflow_mlops.record.deployment import DeploymentRecord, latest_deployment

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


_METRIC_ORDER = ("f1", "roc_auc", "accuracy", "precision", "recall", "log_loss", "r2", "rmse", "mae")


def _metric_line(metrics: dict[str, Any]) -> str:
    ordered = sorted(metrics, key=lambda m: (_METRIC_ORDER.index(m) if m in _METRIC_ORDER else len(_METRIC_ORDER), m))
    return "  ".join(f"{m} {_fmt(metrics[m])}" for m in ordered)


def _kv(values: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((values or {}).items())) or "-"


def _history_line(entry: dict[str, Any]) -> str:
    moved = f"{'v' + entry['from'] if entry.get('from') else 'nothing'} -> v{entry.get('to')}"
    forced = " (forced)" if entry.get("forced") else ""
    return f"{entry.get('at')}  {entry.get('action')}{forced} {moved} by {entry.get('actor')}: {entry.get('reason')}"


def _validation_line(validation: dict[str, Any]) -> str:
    success = validation.get("success")
    if success is None:
        return "not recorded"
    stats = validation.get("statistics") or {}
    counts = ""
    if "evaluated_expectations" in stats:
        counts = f": {stats.get('successful_expectations')}/{stats['evaluated_expectations']} expectations met"
    return ("PASSED" if success else "FAILED") + counts


def _approval_lines(approval: dict[str, Any]) -> list[str]:
    """Who signed off (or refused), when and why; ``not required`` when nobody had to."""
    decision = approval.get("decision")
    if not decision and not approval.get("approver"):
        return [str(approval.get("status") or "not required")]
    head = f"{decision or 'recorded'} by {approval.get('approver') or '-'}"
    if approval.get("at"):
        head += f" at {approval['at']}"
    return [head, f"reason: {approval.get('reason') or '-'}"]


def _deployment_lines(deployment: dict[str, Any] | None) -> list[str]:
    """The version's last rollout: where, how and what became of it (an endpoint rollback says so, and why)."""
    if not deployment:
        return ["never deployed by a deploy step"]
    where = f"{deployment.get('target') or '-'} endpoint {deployment.get('endpoint') or '-'}"
    if deployment.get("url"):
        where += f" at {deployment['url']}"
    decision = str(deployment.get("decision") or "recorded").upper()
    recorded_bake = deployment.get("bake")
    bake: dict[str, Any] = recorded_bake if isinstance(recorded_bake, dict) else {}
    return [
        f"{decision} to {where} ({deployment.get('strategy') or '-'}) at {deployment.get('at') or '-'}",
        f"by {deployment.get('by') or '-'}: {deployment.get('summary') or '-'}",
        *([f"bake: {bake['summary']}"] if bake.get("summary") else []),
        *([f"error: {deployment['error']}"] if deployment.get("error") else []),
        *[f"{key} {value}" for key, value in (deployment.get("other") or {}).items()],
    ]


def _contract_lines(contract: dict[str, Any]) -> list[str]:
    """The data contract as ``name  type`` lines, or where it is recorded when it was too long for a tag."""
    if not contract.get("recorded"):
        return ["not recorded"]
    columns = contract.get("columns") or []
    if columns:
        width = max(len(c["name"]) for c in columns)
        return [f"{len(columns)} column(s)", *(f"{c['name']:<{width}}  {c['type']}" for c in columns)]
    return [f"sha256 {contract.get('sha256') or '-'}", f"full contract: {contract.get('uri') or '-'}"]


def format_lineage(info: dict[str, Any]) -> str:
    """``airflow-mlops lineage`` for a terminal: one labelled block per link of the provenance chain."""
    on = " ".join(f"@{a}" for a in info["aliases"])
    lines = [f"{info['model_name']} v{info['version']}" + (f"  {on}" if on else "")]

    def row(label: str, *values: str) -> None:
        for i, value in enumerate(values or ("-",)):
            lines.append(f"  {label if i == 0 else '':<11} {value}")

    pipeline, data = info["pipeline"], info["data"]
    row(
        "registered",
        f"{info.get('created_at') or '-'} by {pipeline.get('dag_id') or '-'} / {pipeline.get('run_id') or '-'}",
    )
    if data.get("commit"):
        row(
            "data",
            f"{data.get('path')} @ {data.get('rev')} -> commit {data.get('commit')}",
            f"md5 {data.get('md5')}",
            f"repo {data.get('repo')}",
        )
    else:
        row("data", "not recorded")
    row("contract", *_contract_lines(info.get("contract") or {}))
    row("validation", _validation_line(info["validation"]))
    row("code", *([f"{k} {v}" for k, v in info["code"].items()] or ["not recorded"]))
    training = info["training"]
    estimator = f"{training.get('candidate') or '-'}: {training.get('estimator') or '-'}"
    row("training", f"{estimator} (MLflow run {training.get('run_id') or '-'})")
    row("params", _kv(training.get("params")), f"preprocessing {_kv(training.get('preprocessing'))}")
    test = info["metrics"].get("test") or {}
    train = {
        k.removeprefix("train_"): v for k, v in (info["metrics"].get("run") or {}).items() if k.startswith("train_")
    }
    row(
        "metrics",
        *([f"test  {_metric_line(test)}"] if test else []),
        *([f"train {_metric_line(train)}"] if train else []),
    )
    gate = info["gate"]
    if gate.get("decision"):
        against = f"vs champion v{gate['champion_version']}" if gate.get("champion_version") else "no champion yet"
        reasons = [f"{'ok' if o['passed'] else 'NO'}  {o['reason']}" for o in gate.get("outcomes") or []]
        row("gate", f"{gate.get('summary') or gate['decision'].upper()} ({against})", *reasons)
    else:
        row("gate", "not recorded")
    serving = info.get("serving") or {}
    row("serving", serving.get("summary") or "not checked (the pipeline ran no serving check)")
    row("approver", *_approval_lines(info["approval"]))
    promotion = info["promotion"]
    if promotion.get("promoted_at"):
        forced = " (forced)" if promotion.get("forced") else ""
        source = f"v{promotion['promoted_from']}" if promotion.get("promoted_from") else "nothing"
        row(
            "promoted",
            f"{promotion['promoted_at']} by {promotion.get('promoted_by')}{forced}, replacing {source}",
            f"reason: {promotion.get('reason') or '-'}",
        )
    # A version promoted again after a demotion keeps the old demotion tags; only a newer one counts.
    if promotion.get("demoted_at") and promotion["demoted_at"] >= (promotion.get("promoted_at") or ""):
        row("demoted", f"{promotion['demoted_at']} by {promotion.get('demoted_by') or '-'}")
    row("deployed", *_deployment_lines(info.get("deployment")))
    row("history", *([_history_line(e) for e in info["history"]] or ["no promotions recorded"]))
    link = info.get("environment")
    if link:
        lines += _environment_lines(link)
    return "\n".join(lines)


def _environment_lines(link: dict[str, Any]) -> list[str]:
    """The copy's link to its source environment, then the source version's own lineage, indented."""
    source, gate, data, approval = link["source"], link["gate"], link["data"], link["approval"]
    where = f"connection {source['conn_id']}, {source.get('registry_uri') or '-'}"
    lines = [
        f"  {'environment':<11} {link.get('environment')}: copied from {source['environment']} "
        f"{source['model_name']} v{source['version']} ({where}) at {link.get('copied_at')} by {link.get('copied_by')}"
    ]
    if gate.get("forced"):
        lines.append(f"  {'':<11} re-gate skipped (forced)")
    elif gate.get("decision"):
        against = f"vs champion v{gate['champion_version']}" if gate.get("champion_version") else "no champion yet"
        lines.append(f"  {'':<11} re-gate {gate.get('summary')} ({against})")
        lines.append(f"  {'':<11} on {data.get('path')} @ {data.get('rev')} -> commit {data.get('commit')}")
    if approval.get("decision"):
        lines.append(f"  {'':<11} {approval['decision']} by {approval.get('by')}: {approval.get('reason') or '-'}")
    if link.get("lineage"):
        lines.append(f"  {'from':<11} {source['environment']}:")
        lines += [f"    {line}" for line in format_lineage(link["lineage"]).splitlines()]
    elif link.get("unreachable"):
        lines.append(f"  {'from':<11} {source['environment']} not reachable: {link['unreachable']}")
    return lines
