"""The page of one model across its declared environments: which version is champion where, since when, from where.

The environments are the ones ``airflow-mlops promote --from --to`` reads (``settings.
environments_file``), and each is read through its own Airflow connection, like a promotion
does, never with a credential on the page. The page fails soft per environment: one that cannot
be reached is a row saying so, naming its connection and the reason, and the others still show.
It only reads.
"""

from __future__ import annotations

from typing import Any

from airflow_mlops.errors import PipelineConfigError
from airflow_mlops.governance.across_view import environments_overview
from airflow_mlops.plugins import records, urls
from airflow_mlops.plugins.views import scrubbed


def environments_source() -> str | None:
    """The file that declares the environments, as a FastAPI dependency (a test hands in its own)."""
    from airflow_mlops import settings

    return settings.environments_file()


def environments_view(source: str | None, reader_conn_id: str = records.DEFAULT_CONN_ID) -> dict[str, Any]:
    """Each declared environment with its champion, when and by whom it moved, and the version it was copied from.

    ``reader_conn_id`` is the connection the rest of the ML view reads: a source version in that
    registry links to its own page here; one in another registry links to that registry's MLflow UI.
    """
    from airflow_mlops.spec.environments_file import load_environments

    view: dict[str, Any] = {"source": source, "error": None, "environments": []}
    if source is None:
        view["error"] = (
            "No environments are declared: set [mlops] environments_file (or $AIRFLOW_MLOPS_ENVIRONMENTS), "
            "or declare them under 'environments:' in the dags folder's defaults.yaml (docs/environments.md)."
        )
        return view
    try:
        declared = load_environments(source)
    except (PipelineConfigError, OSError) as err:
        view["error"] = f"The environments in {source} cannot be read: {err}"
        return scrubbed(view)
    with records.fast_reads():
        rows = environments_overview(declared)
    for row in rows:
        champion = row.get("champion")
        if champion:
            champion["mlflow_ui"] = _mlflow_ui(row["uri"], row["model_name"], champion["version"])
            if row["conn_id"] == reader_conn_id:
                champion["page"] = urls.model_version_path(row["model_name"], champion["version"])
            if champion.get("source"):
                champion["source"] |= _source_links(champion["source"], declared, reader_conn_id)
    view["environments"] = rows
    return scrubbed(view)


def _source_links(source: dict[str, Any], declared: dict[str, Any], reader_conn_id: str) -> dict[str, Any]:
    """Where the page links the version a champion was copied from: its row, its page here, its MLflow UI."""
    name, model, version = source.get("environment"), source.get("model_name"), source.get("version")
    links: dict[str, Any] = {"row": name if name in declared else None, "page": None, "mlflow_ui": None}
    if model and version:
        links["mlflow_ui"] = _mlflow_ui(source.get("registry_uri"), model, version)
        if source.get("conn_id") == reader_conn_id:
            links["page"] = urls.model_version_path(model, version)
    return links


def _mlflow_ui(uri: str | None, model: str, version: str) -> str | None:
    """The version in the MLflow UI of a tracking server; a sqlite or file store has no UI to link to."""
    if not uri or not uri.startswith(("http://", "https://")):
        return None
    return urls.mlflow_ui_model_version(urls.without_userinfo(uri), model, version)
