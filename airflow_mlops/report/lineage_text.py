"""``airflow-mlops lineage`` for a terminal: a registered version's provenance chain, one labelled block a link.

Apart from the run report (``airflow_mlops.report``) because it reads a version's lineage record,
not a pipeline run's; it shares the run report's line formats, so a figure reads the same in both.
"""

from __future__ import annotations

from typing import Any

from airflow_mlops.report import _approval_lines, _fmt

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
