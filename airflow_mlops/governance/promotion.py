"""Moving ``@champion``: the compare-and-set promotion, a person's request for one, and rollback.

Every move happens under the model's promotion lock (see registry_lock), leaves audit tags on
the versions involved and one entry in the promotion history, and so does every refusal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_mlops.errors import PromotionConflictError, PromotionRefusedError
from airflow_mlops.governance.history import append_history, now_iso, read_history
from airflow_mlops.governance.recheck import FORCE_HINT, recheck_gate
from airflow_mlops.governance.registry import (
    alias_map,
    aliases,
    check_version_number,
    existing_version,
    model_version,
    registered_model,
)
from airflow_mlops.observability import emit
from airflow_mlops.record import tag
from airflow_mlops.registry_lock import LockOwner, promotion_lock, registry_writer

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion


def _label(version: str | None) -> str:
    return f"v{version}" if version else "nothing"


def promote_version(
    client: MlflowClient,
    model_name: str,
    version: str,
    *,
    expected_champion: str | None,
    alias: str = "champion",
    previous_alias: str = "previous",
    actor: str,
    reason: str,
    forced: bool = False,
    on_conflict: str = "refuse",
    lock_owner: LockOwner | None = None,
    lock_wait_seconds: float = 300,
    approval: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Compare-and-set ``@alias`` from ``expected_champion`` to ``version``, under the model's lock.

    Whoever decided the promotion decided it against ``expected_champion``. If the alias moved
    since, that decision is about a different model: with ``on_conflict="refuse"`` the
    promotion is refused (and the refusal recorded) instead of overwriting someone else's
    move; with ``"reevaluate"`` the version's recorded gate is re-applied against the new
    champion and decides. The lock (see registry_lock) makes read, compare and write one step.
    """
    with promotion_lock(client, model_name, holder=actor, owner=lock_owner, wait_seconds=lock_wait_seconds):
        return promote_locked(
            client, model_name, str(version), expected_champion=expected_champion, alias=alias,
            previous_alias=previous_alias, actor=actor, reason=reason, forced=forced, on_conflict=on_conflict,
            approval=approval,
        )  # fmt: skip


def promote_locked(
    client: MlflowClient,
    model_name: str,
    version: str,
    *,
    expected_champion: str | None,
    alias: str,
    previous_alias: str,
    actor: str,
    reason: str,
    forced: bool,
    on_conflict: str,
    approval: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``promote_version`` for a caller that holds the model's promotion lock already."""
    # One read of the model (it exists, it is no prompt, its aliases, its policy) serves the whole move.
    check_version_number(version)
    model = registered_model(client, model_name)
    current_aliases = alias_map(model)
    existing_version(client, model_name, version)
    current = current_aliases.get(alias)
    if current == version:
        return {
            "model_name": model_name,
            "alias": alias,
            "version": version,
            "previous": current_aliases.get(previous_alias),
            "changed": False,
        }
    _check_environment_policy(client, model_name, dict(model.tags or {}), version, current, actor, approval, forced)
    if current != expected_champion and on_conflict == "reevaluate" and not forced:
        verdict = recheck_gate(client, model_name, version, champion_version=current)["verdict"]
        if verdict["decision"] == "promote":
            reason = f"{reason}; re-evaluated against @{alias} {_label(current)} after it moved: {verdict['summary']}"
            expected_champion = current
        else:
            message = (
                f"@{alias} of {model_name} moved to {_label(current)} after the gate compared against "
                f"{_label(expected_champion)}; re-evaluated against it: {verdict['summary']}"
            )
            append_history(
                client, model_name, action="refused", actor=actor, from_version=current, to_version=version,
                reason=message, forced=forced,
            )  # fmt: skip
            raise PromotionConflictError(message)
    if current != expected_champion:
        message = (
            f"@{alias} of {model_name} is {_label(current)}, not {_label(expected_champion)} as when this promotion "
            f"was decided; refusing to promote version {version} blindly"
        )
        _refuse(client, model_name, version, current, actor, message, forced=forced)
        raise PromotionConflictError(message)
    return _move_alias(
        client,
        model_name,
        version,
        current,
        current_aliases,
        alias=alias,
        previous_alias=previous_alias,
        actor=actor,
        reason=reason,
        forced=forced,
        action="promote",
    )


def _check_environment_policy(
    client: MlflowClient,
    model_name: str,
    model_tags: dict[str, str],
    version: str,
    current: str | None,
    actor: str,
    approval: Mapping[str, str] | None,
    forced: bool,
) -> None:
    """An environment's model (``mlops.env.policy``) takes a new champion only with the approval its policy asks for.

    Every path that moves the alias comes through here (the pipeline's task, ``promote``, a
    promotion across environments), so none of them, ``--force`` included, skips the approval.
    """
    from airflow_mlops.governance.environments import policy_of

    policy = policy_of(model_tags)
    if not policy or not policy.get("require_approval"):
        return
    if (approval or {}).get("decision") == "approved":
        return
    message = (
        f"{model_name} is the model of environment {policy.get('environment')!r}, whose policy requires an approval; "
        f"promote into it with `airflow-mlops promote --from SOURCE --to {policy.get('environment')} "
        "--approved-by USER --reason TEXT`"
    )
    _refuse(client, model_name, version, current, actor, message, forced=forced)
    raise PromotionRefusedError(message)


def _move_alias(
    client: MlflowClient,
    model_name: str,
    version: str,
    current: str | None,
    current_aliases: dict[str, str],
    *,
    alias: str,
    previous_alias: str,
    actor: str,
    reason: str,
    forced: bool,
    action: str,
) -> dict[str, Any]:
    now = now_iso()
    # Callers read the model (and its aliases) under the lock just before.
    writer = registry_writer(client)
    if current is not None:
        writer.set_registered_model_alias(model_name, previous_alias, current)
        writer.set_model_version_tag(model_name, current, tag.DEMOTED_AT, now)
        writer.set_model_version_tag(model_name, current, tag.DEMOTED_BY, actor)
    elif current_aliases.get(previous_alias) == version:
        # No champion to keep, and @previous naming the new champion would make rollback a no-op.
        writer.delete_registered_model_alias(model_name, previous_alias)
    writer.set_registered_model_alias(model_name, alias, version)
    audit = {
        tag.PROMOTED_AT: now,
        tag.PROMOTED_BY: actor,
        tag.PROMOTED_FROM: current or "",
        tag.PROMOTION_REASON: tag.clip(reason),
        tag.PROMOTION_FORCED: str(forced).lower(),
        tag.PROMOTION_ACTION: action,
    }
    for key, value in audit.items():
        writer.set_model_version_tag(model_name, version, key, value)
    emit.alias_moved(model_name, action, now)
    append_history(
        client,
        model_name,
        action=action,
        actor=actor,
        from_version=current,
        to_version=version,
        reason=reason,
        forced=forced,
        at=now,
    )
    return {
        "model_name": model_name,
        "alias": alias,
        "version": version,
        "previous": current,
        "changed": True,
        "at": now,
        "action": action,
        "forced": forced,
    }


def _was_champion(client: MlflowClient, model_name: str, mv: ModelVersion) -> bool:
    if (mv.tags or {}).get(tag.PROMOTED_AT):
        return True
    version = str(mv.version)
    return any(
        e.get("to") == version and e.get("action") in ("promote", "rollback") for e in read_history(client, model_name)
    )


def rollback(
    client: MlflowClient,
    model_name: str,
    *,
    to_version: str | None = None,
    alias: str = "champion",
    previous_alias: str = "previous",
    actor: str,
    reason: str,
    expected_champion: str | None = None,
    lock_owner: LockOwner | None = None,
) -> dict[str, Any]:
    """Put ``@previous`` (or ``to_version``) back as champion; the displaced champion becomes ``@previous``.

    Rollback skips the gate because it restores a version that already held the alias. An
    explicit target that never did would be an ungated promotion with no "forced" mark, so
    it is refused and the user is sent to ``promote``. ``expected_champion`` makes it a
    compare-and-set (the ``deploy`` task's rollback): refused when ``@alias`` no longer names it.
    """
    with promotion_lock(client, model_name, holder=actor, owner=lock_owner):
        if expected_champion is not None:
            current = aliases(client, model_name).get(alias)
            if current != str(expected_champion):
                message = (
                    f"@{alias} of {model_name} is {_label(current)}, not v{expected_champion} as when this rollback "
                    "was decided; refusing to roll back over someone else's move"
                )
                append_history(
                    client, model_name, action="refused", actor=actor, from_version=current, to_version=to_version,
                    reason=message, forced=False,
                )  # fmt: skip
                raise PromotionConflictError(message)
        return _rollback_locked(
            client, model_name, to_version=to_version, alias=alias, previous_alias=previous_alias, actor=actor,
            reason=reason,
        )  # fmt: skip


def _rollback_locked(
    client: MlflowClient,
    model_name: str,
    *,
    to_version: str | None,
    alias: str,
    previous_alias: str,
    actor: str,
    reason: str,
) -> dict[str, Any]:
    current_aliases = aliases(client, model_name)
    current = current_aliases.get(alias)
    previous = current_aliases.get(previous_alias)
    target = str(to_version) if to_version is not None else previous
    if target is None:
        raise PromotionRefusedError(
            f"{model_name} has no @{previous_alias} to roll back to; name the version with --to VERSION"
        )
    check_version_number(target)
    mv = existing_version(client, model_name, target)  # the model itself was just read, with its aliases
    if target == current:
        raise PromotionRefusedError(f"version {target} of {model_name} is already @{alias}; nothing to roll back")
    if target != previous and not _was_champion(client, model_name, mv):
        raise PromotionRefusedError(
            f"version {target} of {model_name} has never been @{alias}, so there is nothing to restore; "
            f"use `airflow-mlops promote {model_name} {target}` to put it through the gate"
        )
    return _move_alias(
        client,
        model_name,
        target,
        current,
        current_aliases,
        alias=alias,
        previous_alias=previous_alias,
        actor=actor,
        reason=reason or f"rollback to v{target}",
        forced=False,
        action="rollback",
    )


def request_promotion(
    client: MlflowClient,
    model_name: str,
    version: str,
    *,
    force: bool = False,
    alias: str = "champion",
    previous_alias: str = "previous",
    actor: str,
    reason: str = "",
) -> dict[str, Any]:
    """A person asks for ``version`` to become champion: the gate decides unless ``force``.

    Refusals are recorded in the history as well as reported, so the record shows who tried
    to push what past the gate. ``force`` skips the gate, never the compare-and-set.
    """
    version = str(version)
    model_version(client, model_name, version)
    current = aliases(client, model_name).get(alias)
    common: dict[str, Any] = {"alias": alias, "previous_alias": previous_alias, "actor": actor}
    if current == version or force:
        return promote_version(
            client, model_name, version, expected_champion=current, reason=reason, forced=force, **common
        )
    try:
        check = recheck_gate(client, model_name, version, champion_version=current)
    except PromotionRefusedError as err:
        _refuse(client, model_name, version, current, actor, str(err))
        raise
    verdict = check["verdict"]
    if verdict["decision"] != "promote":
        message = f"the gate refuses version {version} over @{alias} {_label(current)}: {verdict['summary']}"
        _refuse(client, model_name, version, current, actor, message)
        raise PromotionRefusedError(f"{message}; {FORCE_HINT}")
    gate_reason = f"gate re-check: {verdict['summary']}"
    result = promote_version(
        client,
        model_name,
        version,
        expected_champion=current,
        reason=f"{reason}; {gate_reason}" if reason else gate_reason,
        **common,
    )
    return {**result, "check": check}


def _refuse(
    client: MlflowClient,
    model_name: str,
    version: str,
    current: str | None,
    actor: str,
    why: str,
    *,
    forced: bool = False,
) -> None:
    """Record a refused promotion in the history, so the audit shows attempts as well as moves."""
    append_history(
        client,
        model_name,
        action="refused",
        actor=actor,
        from_version=current,
        to_version=version,
        reason=why,
        forced=forced,
    )
