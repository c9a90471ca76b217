"""A registered version's model card, read back from the registry for the CLI and the ML view."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_mlops.card.model import ModelCard, build_card
from airflow_mlops.governance.recheck import download_json
from airflow_mlops.governance.registry import resolve_ref
from airflow_mlops.record import paths
from airflow_mlops.record.lineage import VersionLineage

if TYPE_CHECKING:
    from mlflow import MlflowClient


def version_card(client: MlflowClient, model_name: str, ref: str) -> tuple[ModelCard, bool]:
    """The card ``register`` stored for ``model_name`` ``ref`` (a version or an alias), and True.

    A version registered without one (by hand, or before cards existed) gets a card rebuilt from
    its tags, without the YAML's ``card:`` section, and False.
    """
    mv = resolve_ref(client, model_name, ref)
    stored = download_json(client, mv.run_id, paths.MODEL_CARD_DATA) if mv.run_id else None
    if isinstance(stored, dict):
        try:
            return ModelCard.model_validate(stored), True
        except ValueError:
            pass  # edited or from another release: the tags still tell the story
    recorded = VersionLineage.from_tags(dict(mv.tags or {}), source_run_id=mv.run_id)
    return build_card(model_name, str(mv.version), recorded), False
