"""Champion/challenger governance: one implementation for the pipeline and for people on call.

The ``promote`` task and the ``promote``/``rollback``/``lineage`` commands all move or read
``@champion`` through these functions, so a forced promotion at 3 a.m. leaves the same audit
trail (version tags plus a history on the registered model) as a scheduled one, and the
"same gates" the CLI applies are the rules the pipeline recorded, not a copy of them.

Functions take an ``MlflowClient`` so they can be pointed at any store; mlflow itself is
imported only inside functions, because the promote operator imports this module at DAG
parse time.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_mlops.exceptions import MlopsError, PromotionConflictError
from airflow_mlops.record import paths, tag
from airflow_mlops.record.lineage import VersionLineage
from airflow_mlops.registry_lock import LockOwner, promotion_lock, registry_writer

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel

HISTORY_TAG = tag.PROMOTION_HISTORY
HISTORY_MAX_ENTRIES = 50
# The history is one registered-model tag, bounded by that column's size as well as by count.
HISTORY_MAX_CHARS = tag.VALUE_MAX_CHARS

RULES_ARTIFACT = paths.GATE_RULES
EVALUATION_ARTIFACT = paths.EVALUATION_RESULT

_FORCE_HINT = "promote it with --force --reason TEXT if a person has checked it"


class GovernanceError(MlopsError):
    """A governance request that cannot be carried out as asked; the message says why."""


class NotFoundError(GovernanceError):
    """The registered model, version or alias named does not exist."""


class PromotionRefusedError(GovernanceError):
    """The promotion or rollback was refused; ``@champion`` was not touched."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _is_missing(err: Exception) -> bool:
    return getattr(err, "error_code", None) in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND")


def registered_model(client: MlflowClient, model_name: str) -> RegisteredModel:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(model_name)
    except MlflowException as err:
        if _is_missing(err):
            raise NotFoundError(f"no registered model named {model_name!r}") from err
        raise


def model_version(client: MlflowClient, model_name: str, version: str) -> ModelVersion:
    _check_version_number(version)
    registered_model(client, model_name)
    return _existing_version(client, model_name, version)


def _check_version_number(version: str) -> None:
    if not str(version).isdigit():
        raise NotFoundError(f"version must be a number, got {version!r}")


def _existing_version(client: MlflowClient, model_name: str, version: str) -> ModelVersion:
    """The version of a model known to exist."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version(model_name, str(version))
    except MlflowException as err:
        if _is_missing(err):
            raise NotFoundError(f"{model_name} has no version {version}") from err
        raise


def resolve_ref(client: MlflowClient, model_name: str, ref: str) -> ModelVersion:
    """``ref`` is a version number or an alias name."""
    if ref.isdigit():
        return model_version(client, model_name, ref)
    version = aliases(client, model_name).get(ref)
    if version is None:
        raise NotFoundError(f"{model_name} has no alias @{ref}")
    return model_version(client, model_name, version)


def aliases(client: MlflowClient, model_name: str) -> dict[str, str]:
    """Every alias of the model as ``{alias: version}``, read fresh from the registry."""
    return _alias_map(registered_model(client, model_name))


def _alias_map(model: RegisteredModel) -> dict[str, str]:
    return {str(k): str(v) for k, v in (model.aliases or {}).items()}


def read_history(client: MlflowClient, model_name: str) -> list[dict[str, Any]]:
    """The promotion history kept on the registered model, oldest first.

    It lives on the model, not on a version, so it survives alias moves and version deletion.
    An unreadable value (edited by hand) reads as empty, and the next event replaces it,
    rather than blocking every promotion of the model.
    """
    raw = (registered_model(client, model_name).tags or {}).get(HISTORY_TAG)
    if not raw:
        return []
    try:
        entries = json.loads(raw)
    except ValueError:
        return []
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def bounded_history(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest entries that fit: at most ``HISTORY_MAX_ENTRIES`` and ``HISTORY_MAX_CHARS`` of JSON."""
    kept = entries[-HISTORY_MAX_ENTRIES:]
    while kept and len(_dump_history(kept)) > HISTORY_MAX_CHARS:
        kept = kept[1:]
    return kept


def _dump_history(entries: list[dict[str, Any]]) -> str:
    return json.dumps(entries, separators=(",", ":"))


def append_history(
    client: MlflowClient,
    model_name: str,
    *,
    action: str,
    actor: str,
    from_version: str | None,
    to_version: str | None,
    reason: str,
    forced: bool,
    at: str | None = None,
) -> dict[str, Any]:
    """Record one event (read-modify-write; promotions and rollbacks call it under the promotion lock)."""
    entry = {
        "at": at or now_iso(),
        "actor": tag.clip(actor, tag.FIELD_MAX_CHARS),
        "action": action,
        "from": from_version,
        "to": to_version,
        "reason": tag.clip(reason, tag.FIELD_MAX_CHARS),
        "forced": forced,
    }
    history = bounded_history([*read_history(client, model_name), entry])
    registry_writer(client).set_registered_model_tag(model_name, HISTORY_TAG, _dump_history(history))
    return entry


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
) -> dict[str, Any]:
    """Compare-and-set ``@alias`` from ``expected_champion`` to ``version``, under the model's lock.

    Whoever decided the promotion decided it against ``expected_champion``. If the alias moved
    since, that decision is about a different model: with ``on_conflict="refuse"`` the
    promotion is refused (and the refusal recorded) instead of overwriting someone else's
    move; with ``"reevaluate"`` the version's recorded gate is re-applied against the new
    champion and decides. The lock (see registry_lock) makes read, compare and write one step.
    """
    with promotion_lock(client, model_name, holder=actor, owner=lock_owner, wait_seconds=lock_wait_seconds):
        return _promote_locked(
            client, model_name, str(version), expected_champion=expected_champion, alias=alias,
            previous_alias=previous_alias, actor=actor, reason=reason, forced=forced, on_conflict=on_conflict,
        )  # fmt: skip


def _promote_locked(
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
) -> dict[str, Any]:
    # One read of the model (it exists, it is no prompt, its aliases) serves the whole move.
    _check_version_number(version)
    current_aliases = _alias_map(registered_model(client, model_name))
    _existing_version(client, model_name, version)
    current = current_aliases.get(alias)
    if current == version:
        return {
            "model_name": model_name,
            "alias": alias,
            "version": version,
            "previous": current_aliases.get(previous_alias),
            "changed": False,
        }
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
        append_history(
            client,
            model_name,
            action="refused",
            actor=actor,
            from_version=current,
            to_version=version,
            reason=message,
            forced=forced,
        )
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
) -> dict[str, Any]:
    """Put ``@previous`` (or ``to_version``) back as champion; the displaced champion becomes ``@previous``.

    Rollback skips the gate because it restores a version that already held the alias. An
    explicit target that never did would be an ungated promotion with no "forced" mark, so
    it is refused and the user is sent to ``promote``.
    """
    with promotion_lock(client, model_name, holder=actor):
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
    _check_version_number(target)
    mv = _existing_version(client, model_name, target)  # the model itself was just read, with its aliases
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


def download_json(client: MlflowClient, run_id: str, path: str) -> Any:
    """A JSON artifact of a run through ``client`` (not MLflow's global tracking URI), or None."""
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory(prefix="mlops-") as tmp:
        try:
            local = client.download_artifacts(run_id, path, tmp)
            return json.loads(Path(local).read_text())
        except (MlflowException, OSError, ValueError):
            return None


def pipeline_run_of(client: MlflowClient, mv: ModelVersion) -> str | None:
    """The parent MLflow run of the DAG run that produced ``mv``: where its gate inputs are recorded."""
    from mlflow.exceptions import MlflowException

    tags = mv.tags or {}
    training_run_id = tags.get(tag.TRAINING_RUN_ID) or mv.run_id
    if not training_run_id:
        return None
    try:
        run = client.get_run(training_run_id)
    except MlflowException:
        return None
    parent = run.data.tags.get("mlflow.parentRunId")
    return str(parent) if parent else None


def load_version_model(client: MlflowClient, model_name: str, version: str) -> tuple[Any, list[str] | None]:
    """The sklearn model of a version and its signature's input columns.

    Downloaded through ``client`` rather than ``models:/`` URIs, which MLflow resolves against
    its process-global registry URI whatever client is in hand.
    """
    import mlflow.artifacts
    import mlflow.sklearn
    from mlflow.models import Model

    uri = client.get_model_version_download_uri(model_name, str(version))
    with tempfile.TemporaryDirectory(prefix="mlops-model-") as tmp, warnings.catch_warnings():
        # skops looks every restored function up in every imported module; Airflow's deprecated
        # module shims answer each lookup with a warning, thousands of lines on a terminal.
        warnings.simplefilter("ignore")
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp, tracking_uri=client.tracking_uri)
        model = mlflow.sklearn.load_model(local)
        signature = Model.load(local).signature
    inputs = list(signature.inputs.input_names()) if signature is not None and signature.inputs else None
    return model, inputs


def recorded_gate(client: MlflowClient, model_name: str, mv: ModelVersion) -> dict[str, Any]:
    """The rules and test snapshot the version's own pipeline run used, or a refusal naming --force."""
    parent = pipeline_run_of(client, mv)
    rules = download_json(client, parent, RULES_ARTIFACT) if parent else None
    evaluation = download_json(client, parent, EVALUATION_ARTIFACT) if parent else None
    missing = [
        what
        for what, present in (
            ("its pipeline run", parent),
            (RULES_ARTIFACT, rules),
            (f"{EVALUATION_ARTIFACT} with a test snapshot", evaluation and evaluation.get("test_uri")),
        )
        if not present
    ]
    if missing:
        raise PromotionRefusedError(
            f"version {mv.version} of {model_name} has no recorded gate to re-apply (no {missing[0]}; registered by "
            f"hand or by an older pipeline); {_FORCE_HINT}"
        )
    return {"pipeline_run_id": parent, "rules": rules, "evaluation": evaluation}


def recheck_gate(
    client: MlflowClient, model_name: str, version: str, *, champion_version: str | None
) -> dict[str, Any]:
    """Re-apply the version's recorded gate against ``champion_version`` on its recorded test rows.

    The pipeline's verdict was about the champion of that day; a promotion by hand replaces
    today's champion, so both models are scored again on the same recorded snapshot and the
    recorded rules decide. Models are scored the way ``evaluate`` scored them, slices included,
    so a per-slice rule is judged on the same slices rather than finding none.
    """
    from airflow_mlops import artifacts
    from airflow_mlops.exceptions import ConfigurationError
    from airflow_mlops.gates.decision import decide
    from airflow_mlops.gates.metrics import slice_specs
    from airflow_mlops.gates.rules import rules_from_spec
    from airflow_mlops.ml.scoring import gate_metrics

    version = str(version)
    recorded = recorded_gate(client, model_name, model_version(client, model_name, version))
    rules, evaluation = recorded["rules"], recorded["evaluation"]
    problem = rules.get("problem", "classification")
    slices = slice_specs(rules.get("rules", []))
    try:
        test = artifacts.read_parquet(evaluation["test_uri"])
    except (OSError, ValueError) as err:
        raise PromotionRefusedError(
            f"the test snapshot {evaluation['test_uri']} of version {version} cannot be read ({type(err).__name__}); "
            f"{_FORCE_HINT}"
        ) from err
    model, inputs = load_version_model(client, model_name, version)
    leftover = [c for c in test.columns if inputs is not None and c not in inputs]
    if len(leftover) != 1:
        raise PromotionRefusedError(
            f"cannot tell the label column of {evaluation['test_uri']} from the signature of version {version}; "
            f"{_FORCE_HINT}"
        )
    target = leftover[0]
    features, labels = test.drop(columns=[target]), test[target]
    try:
        candidate_metrics, too_small = gate_metrics(model, features, labels, problem, slices)
    except ConfigurationError as err:  # a slice column the recorded test rows no longer have
        raise PromotionRefusedError(f"version {version} cannot be re-checked: {err}; {_FORCE_HINT}") from err
    champion_metrics = None
    if champion_version is not None:
        try:
            champion, _ = load_version_model(client, model_name, champion_version)
            champion_metrics, _ = gate_metrics(champion, features, labels, problem, slices)
        except Exception as err:
            raise PromotionRefusedError(
                f"the current champion v{champion_version} cannot be scored on version {version}'s test rows "
                f"({type(err).__name__}: {err}); {_FORCE_HINT}"
            ) from err
    verdict = decide(
        candidate=f"v{version}",
        candidate_metrics=candidate_metrics,
        champion_metrics=champion_metrics,
        champion_version=champion_version,
        rules=rules_from_spec(rules.get("rules", [])),
        problem=problem,
        first_run_policy=rules.get("first_run", "promote"),
        n_test=len(test),
        min_test_rows=int(rules.get("min_test_rows", 0)),
    )
    return {
        "verdict": verdict.to_dict(),
        "candidate_metrics": candidate_metrics,
        "champion_metrics": champion_metrics,
        "slices_too_small": too_small,
        "n_test": len(test),
        "test_uri": evaluation["test_uri"],
        "pipeline_run_id": recorded["pipeline_run_id"],
    }


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
        raise PromotionRefusedError(f"{message}; {_FORCE_HINT}")
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


def _refuse(client: MlflowClient, model_name: str, version: str, current: str | None, actor: str, why: str) -> None:
    append_history(
        client,
        model_name,
        action="refused",
        actor=actor,
        from_version=current,
        to_version=version,
        reason=why,
        forced=False,
    )


def _timestamp(millis: Any) -> str | None:
    if not millis:
        return None
    return datetime.fromtimestamp(int(millis) / 1000, UTC).isoformat(timespec="seconds")


def lineage(client: MlflowClient, model_name: str, ref: str) -> dict[str, Any]:
    """Everything recorded about where a version came from and how it reached its aliases.

    Read from the registry and the training run only, so it still answers after Airflow's
    metadata has been cleaned up. Missing facts (a version registered by hand) are None.
    """
    from mlflow.exceptions import MlflowException

    mv = resolve_ref(client, model_name, ref)
    version = str(mv.version)
    tags: dict[str, str] = dict(mv.tags or {})
    model_aliases = aliases(client, model_name)
    recorded = VersionLineage.from_tags(tags, source_run_id=mv.run_id)
    training_run_id = recorded.training.run_id
    run_params: dict[str, str] | None = None
    run_metrics: dict[str, float] | None = None
    if training_run_id:
        try:
            run = client.get_run(training_run_id)
            run_params, run_metrics = dict(run.data.params), dict(run.data.metrics)
        except MlflowException:
            pass
    gate, promotion, approval = recorded.gate, recorded.promotion, recorded.approval
    return {
        "model_name": model_name,
        "version": version,
        "ref": ref,
        "aliases": sorted(a for a, v in model_aliases.items() if v == version),
        "model_aliases": model_aliases,
        "created_at": _timestamp(mv.creation_timestamp),
        "source": mv.source,
        "pipeline": {"dag_id": recorded.dag_id, "run_id": recorded.run_id},
        "data": recorded.data.model_dump(),
        "validation": recorded.validation.model_dump(),
        "code": recorded.code,
        "training": {**recorded.training.model_dump(), "run_id": training_run_id, "run_params": run_params},
        "metrics": {"test": recorded.metrics, "run": run_metrics},
        "gate": {
            "decision": gate.decision,
            "summary": gate.summary,
            "champion_version": gate.champion_version,
            "outcomes": gate.verdict.get("outcomes") if isinstance(gate.verdict, dict) else None,
        },
        # Written by the approve task (approval: manual) and copied onto the version by register.
        "approval": {
            "status": approval.get("decision") or ("recorded" if approval else "not required"),
            "decision": approval.get("decision"),
            "approver": approval.get("by"),
            "at": approval.get("at"),
            "reason": approval.get("reason"),
            "tags": approval,
        },
        "promotion": promotion.model_dump(),
        "history": [e for e in read_history(client, model_name) if version in (e.get("from"), e.get("to"))],
    }


# --- plumbing shared by the promote, rollback and lineage commands ---------------------------


@contextlib.contextmanager
def open_client(conn_id: str = "mlflow_default", tracking_uri: str | None = None) -> Iterator[MlflowClient]:
    """The client an on-call command uses: the Airflow connection, unless a URI is given."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # stderr is for the one-line error
    if tracking_uri:
        from mlflow import MlflowClient

        yield MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        return
    from airflow_mlops.hooks.mlflow import MlflowHook

    # Outside a task, Airflow 3 looks connections up in env vars and secrets backends only; the
    # metadata database is consulted in "server" processes. `airflow connections get` marks
    # itself the same way, so a connection added with `airflow connections add` resolves here too.
    os.environ.setdefault("_AIRFLOW_PROCESS_CONTEXT", "server")
    hook = MlflowHook(conn_id)
    with hook.session():
        yield hook.get_client()


def cli_actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli:unknown"


def run_cli(command: str, action: Callable[[], int]) -> int:
    """Run a command; an expected failure becomes one line on stderr and exit code 1, not a traceback."""
    from airflow.sdk.exceptions import AirflowException
    from mlflow.exceptions import MlflowException

    try:
        return action()
    except (AirflowException, MlflowException) as err:
        message = " ".join(str(getattr(err, "message", None) or err).split())
        print(f"airflow-mlops {command}: error: {message}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # `lineage ... | head`: the reader left; say nothing more and let Python exit quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
