"""Promotion from one environment to the next: deep copy, re-gate, approval, compare-and-set, audit in both.

The ``promote --from dev --to prod`` command and the ``PromoteAcrossOperator`` task
both call :func:`promote_across`, so they leave the same record. The order is what keeps the
policy: both registries are reached before either is touched; the source version must have
passed its own gate; the target re-gates it on its own holdout data against its own champion;
the approval the target's policy asks for must be there; only then, under the target's lock
and only if its champion is still the one the re-gate compared against, is the version copied
in and the alias moved. A refusal at any step moves nothing and is recorded in both histories.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_mlops.errors import PromotionConflictError, PromotionRefusedError
from airflow_mlops.governance.copy_version import copied_tags, copy_version, downloaded_model, link_tags
from airflow_mlops.governance.environments import declared, policy_tag, reach, refuse_same_slot
from airflow_mlops.governance.history import append_history, now_iso
from airflow_mlops.governance.recheck import FORCE_HINT, recorded_gate
from airflow_mlops.governance.registry import aliases, resolve_ref
from airflow_mlops.record import paths, tag
from airflow_mlops.record.lineage import VersionLineage
from airflow_mlops.registry_lock import LockOwner, promotion_lock, registry_writer

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from airflow_mlops.governance.environments import Reached
    from airflow_mlops.spec.models_environments import EnvironmentSpec


def promote_across(
    environments: dict[str, EnvironmentSpec],
    source: str,
    target: str,
    *,
    ref: str = "champion",
    actor: str,
    reason: str = "",
    approval: Mapping[str, str] | None = None,
    force: bool = False,
    lock_owner: LockOwner | None = None,
) -> dict[str, Any]:
    """Copy ``source``'s version ``ref`` (a number or an alias) into ``target`` and make it champion there.

    ``approval`` is ``{decision, by, at, reason}``: a person's answer (the CLI's ``--approved-by``,
    the HITL task's record). ``force`` skips the source gate and the re-gate, never the approval
    nor the compare-and-set, and is recorded as forced.
    """
    src_spec, tgt_spec = declared(environments, source), declared(environments, target)
    if source == target:
        raise PromotionRefusedError(f"--from and --to both name environment {source!r}")
    # Both registries answer before either is read: a dead or wrong target moves nothing anywhere.
    src, tgt = reach(source, src_spec), reach(target, tgt_spec)
    refuse_same_slot(src, tgt)
    with src.hook.session():
        src_client = src.client()
        mv = resolve_ref(src_client, src.model_name, ref)
        version = str(mv.version)
        recorded = None if force else _source_gate(src, mv)
        source_run = _run_or_none(src_client, mv)
        with downloaded_model(src_client, src.model_name, version) as model_dir, tgt.hook.session():
            outcome = _into_target(
                src, tgt, mv, model_dir, recorded, source_run=source_run, actor=actor, reason=reason,
                approval=approval, force=force, lock_owner=lock_owner,
            )  # fmt: skip
    if outcome.get("refused"):
        _record_in_source(src, version, f"refused into {target}: {outcome['refused']}", actor, "refused", force)
        raise outcome["error"]
    moved = outcome["moved"]
    _record_in_source(
        src,
        version,
        f"copied to {target} as {tgt.model_name} v{moved['version']}, @{tgt_spec.alias} there; {outcome['why']}",
        actor,
        "export",
        force,
        exported=f"{tgt.model_name} v{moved['version']} at {moved.get('at') or now_iso()}",
        target=target,
    )
    return {**moved, "source": {"environment": source, "model_name": src.model_name, "version": version}, **outcome}


def _source_gate(src: Reached, mv: ModelVersion) -> dict[str, Any]:
    """The gate the source version passed, as recorded by its pipeline; a refusal when it passed none."""
    tags = mv.tags or {}
    if tags.get(tag.GATE_DECISION) != "promote":
        raise PromotionRefusedError(
            f"version {mv.version} of {src.model_name} in {src.describe()} has no passing gate on record "
            f"(mlops.gate.decision is {tags.get(tag.GATE_DECISION)!r}); {FORCE_HINT}"
        )
    return recorded_gate(src.client(), src.model_name, mv)


def _run_or_none(client: Any, mv: ModelVersion) -> Any:
    from mlflow.exceptions import MlflowException

    run_id = (mv.tags or {}).get(tag.TRAINING_RUN_ID) or mv.run_id
    try:
        return client.get_run(run_id) if run_id else None
    except MlflowException:
        return None


def _into_target(
    src: Reached,
    tgt: Reached,
    mv: ModelVersion,
    model_dir: Any,
    recorded: dict[str, Any] | None,
    *,
    source_run: Any,
    actor: str,
    reason: str,
    approval: Mapping[str, str] | None,
    force: bool,
    lock_owner: LockOwner | None,
) -> dict[str, Any]:
    from airflow_mlops.governance.regate import regate

    client = tgt.client()
    spec = tgt.spec
    version = str(mv.version)
    exists = _model_exists(client, tgt.model_name)
    champion = aliases(client, tgt.model_name).get(spec.alias) if exists else None
    label = f"{src.name} {src.model_name} v{version}"
    check: dict[str, Any] | None = None
    if recorded is not None:
        contract = VersionLineage.from_tags(dict(mv.tags or {})).contract.document
        contract_target = contract.get("target") if isinstance(contract, dict) else None
        check = regate(
            tgt, recorded, model_dir, candidate=label, champion_version=champion, contract_target=contract_target
        )
        verdict = check["verdict"]
        if verdict["decision"] != "promote":
            message = (
                f"the re-gate in {tgt.describe()} refuses {label} over @{spec.alias} {_v(champion)}: "
                f"{verdict['summary']}"
            )
            return _refused(client, tgt, exists, version, champion, actor, message, force, check)
    decision = (approval or {}).get("decision")
    if decision == "rejected":
        answer = approval or {}
        message = f"{label} was rejected by {answer.get('by')}: {answer.get('reason') or 'no reason given'}"
        return _refused(client, tgt, exists, version, champion, actor, message, force, check)
    if spec.policy.require_approval and decision != "approved":
        message = (
            f"environment {tgt.name!r} requires an approval to promote {label}; pass --approved-by USER --reason TEXT "
            "(a task asks through Airflow's HITL)"
        )
        return _refused(client, tgt, exists, version, champion, actor, message, force, check)
    why = _why(check, approval, force)
    # The copy carries the gate it was judged by, so the next hop (staging -> prod) can re-apply it.
    gate_files: dict[str, Any] = {}
    if recorded is not None:
        gate_files = {paths.GATE_RULES: recorded["rules"], paths.EVALUATION_RESULT: recorded["evaluation"]}
    with promotion_lock(client, tgt.model_name, holder=actor, owner=lock_owner):
        return _copy_and_move(
            src, tgt, mv, model_dir, check, source_run, champion, actor, reason, approval, force, why, gate_files
        )


def _copy_and_move(
    src: Reached,
    tgt: Reached,
    mv: ModelVersion,
    model_dir: Any,
    check: dict[str, Any] | None,
    source_run: Any,
    champion: str | None,
    actor: str,
    reason: str,
    approval: Mapping[str, str] | None,
    force: bool,
    why: str,
    gate_files: dict[str, Any],
) -> dict[str, Any]:
    """Under the target's lock: still the champion the re-gate saw? Then copy the version in and move the alias."""
    from airflow_mlops.governance.promotion import promote_locked

    client = tgt.client()
    spec = tgt.spec
    exists = _model_exists(client, tgt.model_name)
    current = aliases(client, tgt.model_name).get(spec.alias) if exists else None
    label = f"{src.name} {src.model_name} v{mv.version}"
    if current != champion:
        message = (
            f"@{spec.alias} of {tgt.model_name} in environment {tgt.name!r} moved to {_v(current)} after the re-gate "
            f"compared {label} against {_v(champion)}; refusing to promote it blindly"
        )
        refused = _refused(client, tgt, exists, str(mv.version), current, actor, message, force, check, locked=True)
        refused["error"] = PromotionConflictError(message)
        return refused
    if not exists:
        client.create_registered_model(tgt.model_name)
    registry_writer(client).set_registered_model_tag(tgt.model_name, tag.ENV_POLICY, policy_tag(tgt.name, spec))
    now = now_iso()
    tags = {
        **copied_tags(mv),
        **link_tags(src, mv, target=tgt.name, actor=actor, at=now),
        **_target_tags(check, approval, force),
    }
    new_version = copy_version(
        tgt, model_dir, source_run=source_run, tags=tag.clip_all(tags), description=f"{label}: {why}",
        gate_files=gate_files,
    )  # fmt: skip
    moved = promote_locked(
        client, tgt.model_name, new_version, expected_champion=current, alias=spec.alias,
        previous_alias=spec.previous_alias, actor=actor, reason=f"{reason}; {label}: {why}".lstrip("; "),
        forced=force, on_conflict="refuse", approval=approval,
    )  # fmt: skip
    return {"moved": moved, "check": check, "why": why, "environment": tgt.name}


def _target_tags(check: dict[str, Any] | None, approval: Mapping[str, str] | None, force: bool) -> dict[str, str]:
    tags = {tag.ENV_GATE_FORCED: str(force).lower()}
    if check is not None:
        verdict = check["verdict"]
        verdict_json = json.dumps(verdict, sort_keys=True)
        tags |= {
            tag.ENV_GATE_DECISION: str(verdict["decision"]),
            tag.ENV_GATE_SUMMARY: str(verdict["summary"]),
            tag.ENV_GATE_VERDICT: verdict_json if len(verdict_json) <= tag.VALUE_MAX_CHARS else str(verdict["summary"]),
            tag.ENV_GATE_CHAMPION_VERSION: str(verdict.get("champion_version") or ""),
            **tag.prefixed(tag.ENV_DATA_PREFIX, check["data"]),
        }
    tags |= tag.prefixed(tag.ENV_APPROVAL_PREFIX, dict(approval or {}))
    return tags


def _why(check: dict[str, Any] | None, approval: Mapping[str, str] | None, force: bool) -> str:
    parts = [
        f"re-gate on {check['n_test']} holdout rows: {check['verdict']['summary']}" if check else "forced: no gate"
    ]
    if approval and approval.get("decision") == "approved":
        parts.append(f"approved by {approval.get('by')}")
    return "; ".join(parts)


def _refused(
    client: Any,
    tgt: Reached,
    exists: bool,
    version: str,
    current: str | None,
    actor: str,
    message: str,
    force: bool,
    check: dict[str, Any] | None,
    *,
    locked: bool = False,
) -> dict[str, Any]:
    """Record a refusal in the target's history (when it has the model yet); the caller records it in the source.

    ``locked``: the caller holds the target's lock already (the history is read-modify-write).
    """
    if exists:
        with contextlib.nullcontext() if locked else promotion_lock(client, tgt.model_name, holder=actor):
            append_history(
                client, tgt.model_name, action="refused", actor=actor, from_version=current, to_version=None,
                reason=message, forced=force,
            )  # fmt: skip
    return {"refused": message, "error": PromotionRefusedError(message), "check": check}


def _record_in_source(
    src: Reached,
    version: str,
    message: str,
    actor: str,
    action: str,
    force: bool,
    *,
    exported: str | None = None,
    target: str | None = None,
) -> None:
    """The source's side of the audit: one history entry, and on an export a tag on the version."""
    with src.hook.session():
        client = src.client()
        with promotion_lock(client, src.model_name, holder=actor):
            append_history(
                client, src.model_name, action=action, actor=actor, from_version=version, to_version=None,
                reason=message, forced=force,
            )  # fmt: skip
            if exported and target:
                registry_writer(client).set_model_version_tag(
                    src.model_name, version, tag.exported_tag(target), exported
                )


def _model_exists(client: Any, model_name: str) -> bool:
    from airflow_mlops.errors import NotFoundError
    from airflow_mlops.governance.registry import registered_model

    try:
        registered_model(client, model_name)
    except NotFoundError:
        return False
    return True


def _v(version: str | None) -> str:
    return f"v{version}" if version else "nothing"
