"""The gate a version's own pipeline run recorded, re-applied to today's champion.

A promotion by hand is judged by the rules and the test snapshot the pipeline used, read back
from its MLflow run, not by a copy of them: the "same gates" are the recorded ones.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_mlops.errors import PromotionRefusedError
from airflow_mlops.governance.registry import model_version
from airflow_mlops.record import paths, tag

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

FORCE_HINT = "promote it with --force --reason TEXT if a person has checked it"


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
    """The model of a version, loaded by its flavor (ml/flavors.py), and its input columns.

    Downloaded through ``client`` rather than ``models:/`` URIs, which MLflow resolves against
    its process-global registry URI whatever client is in hand.
    """
    import mlflow.artifacts
    from mlflow.models import Model

    from airflow_mlops.errors import ConfigurationError
    from airflow_mlops.ml.flavors import load_predictor
    from airflow_mlops.ml.scoring import input_columns

    uri = client.get_model_version_download_uri(model_name, str(version))
    with tempfile.TemporaryDirectory(prefix="mlops-model-") as tmp, warnings.catch_warnings():
        # skops looks every restored function up in every imported module; Airflow's deprecated
        # module shims answer each lookup with a warning, thousands of lines on a terminal.
        warnings.simplefilter("ignore")
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp, tracking_uri=client.tracking_uri)
        model = load_predictor(local)
        signature = Model.load(local).signature
    try:
        inputs: list[str] | None = input_columns(signature, model, uri)[0]
    except ConfigurationError:
        inputs = None
    return model, inputs


def recorded_gate(client: MlflowClient, model_name: str, mv: ModelVersion) -> dict[str, Any]:
    """The rules and test snapshot the version's own pipeline run used, or a refusal naming --force."""
    parent = pipeline_run_of(client, mv)
    if parent is None and (mv.tags or {}).get(tag.ENV_SOURCE_VERSION) and mv.run_id:
        # A copy from another environment: its pipeline run lives there; the copy's own run carries the gate.
        parent = str(mv.run_id)
    rules = download_json(client, parent, paths.GATE_RULES) if parent else None
    evaluation = download_json(client, parent, paths.EVALUATION_RESULT) if parent else None
    missing = [
        what
        for what, present in (
            ("its pipeline run", parent),
            (paths.GATE_RULES, rules),
            (f"{paths.EVALUATION_RESULT} with a test snapshot", evaluation and evaluation.get("test_uri")),
        )
        if not present
    ]
    if missing:
        raise PromotionRefusedError(
            f"version {mv.version} of {model_name} has no recorded gate to re-apply (no {missing[0]}; registered by "
            f"hand or by an older pipeline); {FORCE_HINT}"
        )
    # Cross-validated figures belong to the candidate, not to the rows it is judged on: read, never re-scored.
    run_metrics = client.get_run(mv.run_id).data.metrics if mv.run_id else {}
    cv = {name: value for name, value in run_metrics.items() if name.startswith("cv_")}
    return {"pipeline_run_id": parent, "rules": rules, "evaluation": evaluation, "cv_metrics": cv}


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

    version = str(version)
    recorded = recorded_gate(client, model_name, model_version(client, model_name, version))
    evaluation = recorded["evaluation"]
    try:
        test = artifacts.read_parquet(evaluation["test_uri"])
    except (OSError, ValueError) as err:
        raise PromotionRefusedError(
            f"the test snapshot {evaluation['test_uri']} of version {version} cannot be read ({type(err).__name__}); "
            f"{FORCE_HINT}"
        ) from err
    model, inputs = load_version_model(client, model_name, version)
    champion = None
    if champion_version is not None:
        champion = _load_champion(client, model_name, champion_version, f"version {version}'s test rows")
    judged = judge(
        recorded,
        test,
        (model, inputs),
        champion,
        candidate=f"v{version}",
        champion_version=champion_version,
        rows=f"{evaluation['test_uri']} (the test rows of version {version})",
    )
    return {**judged, "test_uri": evaluation["test_uri"], "pipeline_run_id": recorded["pipeline_run_id"]}


def _load_champion(client: MlflowClient, model_name: str, version: str, rows: str) -> Any:
    try:
        return load_version_model(client, model_name, version)[0]
    except Exception as err:
        raise PromotionRefusedError(
            f"the current champion v{version} cannot be loaded to be scored on {rows} ({type(err).__name__}: {err}); "
            f"{FORCE_HINT}"
        ) from err


def judge(
    recorded: dict[str, Any],
    test: Any,
    candidate_model: tuple[Any, list[str] | None],
    champion: Any,
    *,
    candidate: str,
    champion_version: str | None,
    rows: str,
    target: str | None = None,
) -> dict[str, Any]:
    """The recorded rules (``recorded_gate``) applied to both models scored on the rows of ``test``.

    ``target`` names the label column; without it, it is the one column the candidate does not
    take as input. ``rows`` says in messages which rows these are.
    """
    from airflow_mlops.errors import ConfigurationError
    from airflow_mlops.gates.decision import decide
    from airflow_mlops.gates.metrics import slice_specs
    from airflow_mlops.gates.rules import rules_from_spec
    from airflow_mlops.ml.scoring import gate_metrics

    rules, evaluation = recorded["rules"], recorded["evaluation"]
    problem = rules.get("problem", "classification")
    average = evaluation.get("average", "macro")
    slices = slice_specs(rules.get("rules", []))
    model, inputs = candidate_model
    if target is None:
        leftover = [c for c in test.columns if inputs is not None and c not in inputs]
        if len(leftover) != 1:
            raise PromotionRefusedError(
                f"cannot tell the label column of {rows} from the signature of {candidate}; {FORCE_HINT}"
            )
        target = leftover[0]
    if target not in test.columns:
        raise PromotionRefusedError(f"{rows} have no label column {target!r}; {FORCE_HINT}")
    features, labels = test.drop(columns=[target]), test[target]
    if inputs is not None:
        missing = [c for c in inputs if c not in features.columns]
        if missing:
            raise PromotionRefusedError(f"{rows} lack input column(s) {missing} of {candidate}; {FORCE_HINT}")
        features = features[inputs]
    try:
        candidate_metrics, too_small, candidate_missing = gate_metrics(
            model, features, labels, problem, slices, average
        )
    except (ConfigurationError, KeyError, ValueError) as err:  # e.g. a column or slice the rows do not have
        raise PromotionRefusedError(f"{candidate} cannot be scored on {rows}: {err}; {FORCE_HINT}") from err
    champion_metrics, champion_missing = None, None
    if champion is not None:
        try:
            champion_metrics, _, champion_missing = gate_metrics(champion, features, labels, problem, slices, average)
        except Exception as err:
            raise PromotionRefusedError(
                f"the current champion v{champion_version} cannot be scored on {rows} "
                f"({type(err).__name__}: {err}); {FORCE_HINT}"
            ) from err
    verdict = decide(
        candidate=candidate,
        candidate_metrics={**recorded.get("cv_metrics", {}), **candidate_metrics},
        champion_metrics=champion_metrics,
        champion_version=champion_version,
        rules=rules_from_spec(rules.get("rules", [])),
        problem=problem,
        first_run_policy=rules.get("first_run", "promote"),
        n_test=len(test),
        min_test_rows=int(rules.get("min_test_rows", 0)),
        candidate_not_computable=candidate_missing,
        champion_not_computable=champion_missing,
        averaging=evaluation.get("averaging"),
    )
    return {
        "verdict": verdict.to_dict(),
        "candidate_metrics": candidate_metrics,
        "champion_metrics": champion_metrics,
        "slices_too_small": too_small,
        "n_test": len(test),
    }
