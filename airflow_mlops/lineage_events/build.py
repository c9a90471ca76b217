"""What each task read and wrote, as OpenLineage datasets and facets: pure functions of the task contracts.

OpenLineage has no ML facets yet, so the ML record rides on standard facets where one fits (a data
version, the validation's assertions, row counts, a split's columns) and on five facets of the project's
own where none does (the DVC pin, the candidate, the gate verdict, the alias move, the step cache), whose JSON schema is
published in docs/openlineage/. A facet is plain JSON here, exactly as it appears in the event minus
``_producer`` and ``_schemaURL``; :mod:`.emit` turns it into the OpenLineage client's classes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_mlops.record import lineage_names as names

if TYPE_CHECKING:
    from airflow_mlops.contracts import (
        DataDigest,
        DataRef,
        DriftDigest,
        Evaluation,
        GateResult,
        OutcomeRecord,
        PreparedDataset,
        Promotion,
        Registration,
        ScoringResult,
        TrainedCandidate,
    )

Facets = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: ``facets`` describe it, ``io_facets`` this run's reading (or writing) of it."""

    namespace: str
    name: str
    facets: Facets = field(default_factory=dict)
    io_facets: Facets = field(default_factory=dict)


@dataclass(frozen=True)
class LineageSpec:
    inputs: tuple[DatasetSpec, ...] = ()
    outputs: tuple[DatasetSpec, ...] = ()
    run_facets: Facets = field(default_factory=dict)


def _at(uri: str, facets: Facets | None = None, io_facets: Facets | None = None) -> DatasetSpec:
    namespace, name = names.dataset_of(uri)
    return DatasetSpec(namespace, name, facets or {}, io_facets or {})


# --- data ----------------------------------------------------------------------------------------


def data_dataset(dvc_conn_id: str, ref: DataRef | DataDigest, io_facets: Facets | None = None) -> DatasetSpec:
    """A DVC-tracked file at one version: the md5 DVC stores is the version, the commit pins where it was read.

    Two commits that leave the file's bytes unchanged are one version of the dataset.
    """
    pin = {key: ref.get(key) for key in ("repo", "path", "rev", "commit", "md5") if ref.get(key) is not None}
    facets: Facets = {names.DATA_VERSION_FACET: pin}
    if ref.get("md5"):
        facets[names.VERSION_FACET] = {"datasetVersion": str(ref["md5"])}
    return _at(names.data_uri(dvc_conn_id, str(ref["path"])), facets, io_facets)


def data_version(dvc_conn_id: str, ref: DataRef) -> LineageSpec:
    """``resolve_data``: the data version every later task reads."""
    return LineageSpec(outputs=(data_dataset(dvc_conn_id, ref),))


def assertions(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One assertion per expectation of a Great Expectations result: its type, column, outcome and arguments."""
    found = []
    for item in result.get("results", []):
        kwargs = dict(item.get("kwargs") or {})
        column = kwargs.pop("column", None)
        kwargs.pop("batch_id", None)
        assertion: dict[str, Any] = {"assertion": str(item.get("type")), "success": bool(item.get("success"))}
        if column is not None:
            assertion["column"] = str(column)
        if kwargs:
            assertion["params"] = kwargs
        found.append(assertion)
    return found


def validation(
    dvc_conn_id: str, ref: DataRef, result: Mapping[str, Any], rows: int, cache: Mapping[str, Any] | None = None
) -> LineageSpec:
    """``validate_data``: the data it read (or reused the result for), each expectation's outcome, the rows."""
    checked: Facets = {
        names.ASSERTIONS_FACET: {"assertions": assertions(result)},
        names.QUALITY_METRICS_FACET: {"rowCount": rows, "columnMetrics": {}},
    }
    return LineageSpec(inputs=(data_dataset(dvc_conn_id, ref, checked),), run_facets=step_cache(cache))


def _split(uri: str, columns: Sequence[str] = (), rows: int | None = None) -> DatasetSpec:
    facets: Facets = {names.SCHEMA_FACET: {"fields": [{"name": c} for c in columns]}} if columns else {}
    written = {names.OUTPUT_STATISTICS_FACET: {"rowCount": rows}} if rows is not None else {}
    return _at(uri, facets, written)


def step_cache(outcome: Mapping[str, Any] | None) -> Facets:
    """The run facet saying whether the step reused an earlier run's result (``CacheOutcome.to_json``)."""
    if not outcome:
        return {}
    facet: dict[str, Any] = {k: outcome[k] for k in ("step", "hit", "key", "reason")}
    if outcome.get("source_dag_run"):
        facet["reusedFromDagRun"] = outcome["source_dag_run"]
    if outcome.get("source_run_id"):
        facet["reusedFromMlflowRun"] = outcome["source_run_id"]
    return {names.STEP_CACHE_FACET: facet}


def preparation(dvc_conn_id: str, prepared: PreparedDataset, cache: Mapping[str, Any] | None = None) -> LineageSpec:
    """``prepare_data``: the data version in, the train and test splits out, with their columns and rows."""
    columns = [*prepared["features"], prepared["target"]]
    return LineageSpec(
        inputs=(data_dataset(dvc_conn_id, prepared["data"]),),
        outputs=(
            _split(prepared["train_uri"], columns, prepared["n_train"]),
            _split(prepared["test_uri"], columns, prepared["n_test"]),
        ),
        run_facets=step_cache(cache),
    )


# --- training and evaluation -----------------------------------------------------------------------


def _candidate_facet(trained: TrainedCandidate) -> dict[str, Any]:
    facet: dict[str, Any] = {
        "candidate": trained["candidate"],
        "estimator": trained["estimator"],
        "mlflowRunId": trained["mlflow_run_id"],
    }
    if trained.get("model_uri"):
        facet["modelUri"] = trained["model_uri"]
    if trained.get("dropped"):
        facet["dropped"] = True
        facet["error"] = str(trained.get("error") or "")
    return facet


def _logged_model(trained: TrainedCandidate) -> DatasetSpec | None:
    model_id = trained.get("model_id")
    if not model_id or trained.get("dropped"):
        return None
    return _at(names.logged_model_uri(str(model_id)), {names.CANDIDATE_FACET: _candidate_facet(trained)})


def training(
    trained: TrainedCandidate, prepared: PreparedDataset, cache: Mapping[str, Any] | None = None
) -> LineageSpec:
    """``train[candidate]``: the train split it read, the model it logged (or reused), and which candidate it was."""
    model = _logged_model(trained)
    return LineageSpec(
        inputs=(_split(prepared["train_uri"]),),
        outputs=(model,) if model else (),
        run_facets={names.CANDIDATE_FACET: _candidate_facet(trained), **step_cache(cache)},
    )


def _model_version(model_name: str, version: str, facets: Facets | None = None) -> DatasetSpec:
    return _at(names.model_uri(model_name), {names.VERSION_FACET: {"datasetVersion": str(version)}, **(facets or {})})


def evaluation(result: Evaluation, caches: Mapping[str, Mapping[str, Any]] | None = None) -> LineageSpec:
    """``evaluate``: the test split, and every candidate's model and the champion scored on it.

    ``caches``: each model's step cache outcome by its label (``evaluate.<candidate>``,
    ``evaluate.champion``). Scores are reused model by model, so the outcome is an input facet of
    that model's dataset (how this run read it), not a run facet.
    """
    caches = caches or {}
    models = []
    for candidate in result["candidates"]:
        model = _logged_model(candidate)
        if model is not None:
            models.append(_read_with(model, caches.get(f"evaluate.{candidate['candidate']}")))
    champion = result["champion"]
    if champion is not None:
        version = _model_version(result["model_name"], champion["version"])
        models.append(_read_with(version, caches.get("evaluate.champion")))
    return LineageSpec(inputs=(_split(result["test_uri"]), *models))


def _read_with(dataset: DatasetSpec, cache: Mapping[str, Any] | None) -> DatasetSpec:
    if not cache:
        return dataset
    return DatasetSpec(dataset.namespace, dataset.name, dataset.facets, {**dataset.io_facets, **step_cache(cache)})


# --- registry --------------------------------------------------------------------------------------


def _rule(outcome: OutcomeRecord) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "rule": outcome["rule"],
        "metric": outcome["metric"],
        "kind": outcome["kind"],
        "passed": outcome["passed"],
        "reason": outcome["reason"],
    }
    for key, value in (
        ("candidateValue", outcome["candidate_value"]),
        ("championValue", outcome["champion_value"]),
        ("threshold", outcome["threshold"]),
    ):
        if value is not None:
            rule[key] = value
    return rule


def gate_verdict_facet(gate: GateResult) -> dict[str, Any]:
    """The gate's verdict on the version: decision, the champion it was measured against, every rule."""
    verdict = gate["verdict"]
    facet: dict[str, Any] = {
        "decision": verdict["decision"],
        "candidate": verdict["candidate"],
        "firstRun": verdict["first_run"],
        "nTest": verdict["n_test"],
        "summary": verdict["summary"],
        "rules": [_rule(o) for o in verdict["outcomes"]],
    }
    if verdict["champion_version"] is not None:
        facet["championVersion"] = verdict["champion_version"]
    if verdict.get("averaging"):
        facet["averaging"] = verdict.get("averaging")
    return facet


def registration(registered: Registration, gate: GateResult) -> LineageSpec:
    """``register``: the winner's logged model in, the new version of the registered model out, with its verdict."""
    winner = _logged_model(gate["candidate"])
    version = _model_version(
        registered["model_name"], registered["version"], {names.GATE_VERDICT_FACET: gate_verdict_facet(gate)}
    )
    return LineageSpec(inputs=(winner,) if winner else (), outputs=(version,))


def promotion(promoted: Promotion, gate: GateResult) -> LineageSpec:
    """``promote``: the version that now holds the alias, with the verdict that let it and where the alias was."""
    alias: dict[str, Any] = {"alias": promoted["alias"], "version": promoted["version"]}
    if promoted["previous"] is not None:
        alias["previousVersion"] = promoted["previous"]
    facets = {names.GATE_VERDICT_FACET: gate_verdict_facet(gate), names.MODEL_ALIAS_FACET: alias}
    return LineageSpec(outputs=(_model_version(promoted["model_name"], promoted["version"], facets),))


# --- batch scoring and drift -------------------------------------------------------------------------


def scoring(dvc_conn_id: str, ref: DataRef, result: ScoringResult) -> LineageSpec:
    """``score``: the data version and the model version in, the predictions file out with its row count."""
    return LineageSpec(
        inputs=(data_dataset(dvc_conn_id, ref), _model_version(result["model_name"], result["model_version"])),
        outputs=(_split(result["uri"], rows=result["rows"]),),
    )


def drift(dvc_conn_id: str, digest: DriftDigest) -> LineageSpec:
    """``check_drift``: the champion's training data, the new data and the champion in; the drift dataset out."""
    model = digest["model"]
    return LineageSpec(
        inputs=(
            data_dataset(dvc_conn_id, digest["reference"]),
            data_dataset(dvc_conn_id, digest["current"]),
            _model_version(model["name"], model["version"]),
        ),
        outputs=(_at(names.drift_uri(model["name"])),),
    )
