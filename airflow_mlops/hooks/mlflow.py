"""MLflow access through an Airflow connection.

The tracking URI always comes from the connection: MLflow 3 otherwise defaults to
``sqlite:///mlflow.db`` in the worker's current directory, which differs per worker and
silently splits the registry. Credentials are read by name and handed to MLflow only for
the duration of a call, never logged, never written to XCom.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from airflow.sdk import BaseHook

from airflow_mlops.errors import ConfigurationError
from airflow_mlops.hooks.mlflow_reach import check_server, check_sqlite_store, http_bounds
from airflow_mlops.hooks.mlflow_runs import MlflowRunsMixin, tag_clauses
from airflow_mlops.hooks.mlflow_runs import filter_literal as filter_literal  # the UI plugin's searches use it

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from airflow_mlops.contracts import PipelineRecord


class MlflowHook(MlflowRunsMixin, BaseHook):
    """Talks to one MLflow tracking server and model registry described by a connection.

    Connection fields: host (+ schema/port) for an ``http(s)`` server, or the extra
    ``tracking_uri`` for anything else (``sqlite:///...``, ``databricks``); optional extras
    ``registry_uri`` and ``artifact_location`` (where new experiments keep artifacts when
    there is no server to proxy them), ``http_max_retries`` and ``http_timeout`` (MLflow's client
    retries, bounded by default: see mlflow_reach.py) and ``create_store`` (true: a missing
    ``sqlite:///`` file may be created). Login and password become MLflow basic-auth credentials.
    """

    conn_name_attr = "mlflow_conn_id"
    default_conn_name = "mlflow_default"
    conn_type = "mlflow"
    hook_name = "MLflow"

    def __init__(self, mlflow_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.mlflow_conn_id = mlflow_conn_id

    @cached_property
    def _settings(self) -> dict[str, str | None]:
        conn = self.get_connection(self.mlflow_conn_id)
        extra = conn.extra_dejson or {}
        tracking_uri = extra.get("tracking_uri")
        if not tracking_uri:
            if not conn.host:
                raise ConfigurationError(
                    f"connection {self.mlflow_conn_id!r} has neither a host nor an extra 'tracking_uri'; "
                    'set one, e.g. AIRFLOW_CONN_MLFLOW_DEFAULT=\'{"conn_type": "mlflow", '
                    '"extra": {"tracking_uri": "http://127.0.0.1:5000"}}\''
                )
            tracking_uri = _server_uri(conn.host, conn.schema, conn.port)
        return {
            "tracking_uri": str(tracking_uri),
            "registry_uri": str(extra["registry_uri"]) if extra.get("registry_uri") else None,
            "artifact_location": str(extra["artifact_location"]) if extra.get("artifact_location") else None,
            **{key: _text(extra.get(key)) for key in ("http_max_retries", "http_timeout", "create_store")},
            "username": conn.login or None,
            "password": conn.password or None,
        }

    @property
    def tracking_uri(self) -> str:
        return str(self._settings["tracking_uri"])

    @property
    def known_tracking_uri(self) -> str | None:
        """The tracking URI if the connection was read already, else None: safe in an error path."""
        read = self.__dict__.get("_settings")
        return str(read["tracking_uri"]) if read else None

    @property
    def registry_uri(self) -> str:
        return str(self._settings["registry_uri"] or self.tracking_uri)

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Point MLflow's fluent API at this connection and lend it the credentials.

        The tracking URI is MLflow process state and stays set after the block, which is
        harmless in a task process that talks to one server. Credentials are different:
        MLflow reads them from the environment, so they exist only inside the block and the
        previous values are restored afterwards.
        """
        import mlflow

        credentials = {
            "MLFLOW_TRACKING_USERNAME": self._settings["username"],
            "MLFLOW_TRACKING_PASSWORD": self._settings["password"],
        }
        # MLflow's own HTTP retries are bounded for the block (mlflow_reach.py): Airflow's backoff retries.
        bounds = http_bounds(self._settings)
        with temporary_env({**{k: v for k, v in credentials.items() if v}, **bounds}):
            mlflow.set_tracking_uri(self.tracking_uri)
            mlflow.set_registry_uri(self.registry_uri)
            yield

    def get_client(self, *, preflight: bool = True) -> MlflowClient:
        """A client for this connection; first (once per hook) :meth:`check_reachable` unless told not to."""
        from mlflow import MlflowClient

        if preflight:
            self.check_reachable()
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)

    def check_reachable(self) -> None:
        """Once per hook: the store exists (sqlite) or the server answers (http), else a clear error.

        An unreachable server raises TransientError naming this connection and the URI, in seconds
        rather than after MLflow's minutes of retries; a missing sqlite file raises
        ConfigurationError unless the connection's extra says ``"create_store": true``.
        """
        if self.__dict__.get("_reachable"):
            return
        who = f"connection {self.mlflow_conn_id!r}"
        create_store = str(self._settings["create_store"]).lower() in ("true", "1", "yes")
        for uri in dict.fromkeys((self.tracking_uri, self.registry_uri)):
            check_sqlite_store(uri, who, create_store=create_store)
        check_server(self.tracking_uri, who, username=self._settings["username"], password=self._settings["password"])
        self.__dict__["_reachable"] = True

    def get_or_create_experiment(self, name: str) -> str:
        client = self.get_client()
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            if experiment.lifecycle_stage == "deleted":
                client.restore_experiment(experiment.experiment_id)
            return str(experiment.experiment_id)
        # Without a server, MLflow would put artifacts under ./mlruns of whichever directory
        # the worker happens to run in; the connection can pin them to a shared root.
        location = self._settings["artifact_location"]
        artifact_location = f"{str(location).rstrip('/')}/{name}" if location else None
        try:
            return str(client.create_experiment(name, artifact_location=artifact_location))
        except Exception:
            # Another task created it between our read and our create.
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
            return str(experiment.experiment_id)

    def pipeline_record(
        self, experiment: str, dag_id: str, run_id: str, known: PipelineRecord | None = None
    ) -> PipelineRecord:
        """This DAG run's experiment and pipeline run: ``known`` when it names them, else found (or made).

        ``known`` comes with an upstream task's result (``PreparedDataset.record``); one for another
        experiment or DAG run is ignored.
        """
        if known and (known["experiment"], known["dag_id"], known["run_id"]) == (experiment, dag_id, run_id):
            return known
        experiment_id = self.get_or_create_experiment(experiment)
        return {
            "experiment": experiment,
            "experiment_id": experiment_id,
            "pipeline_run_id": self.get_or_create_pipeline_run(experiment_id, dag_id, run_id),
            "dag_id": dag_id,
            "run_id": run_id,
        }

    def alias_version(self, model_name: str, alias: str) -> ModelVersion | None:
        """The version an alias points at, or None if the model or alias does not exist yet."""
        from mlflow.exceptions import MlflowException

        try:
            return self.get_client().get_model_version_by_alias(model_name, alias)
        except MlflowException as err:
            if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
                return None
            raise

    def model_signature_inputs(self, model_uri: str) -> list[dict[str, Any]] | None:
        """The input columns of a logged model's signature (``[{"name", "type", "required"}]``), or None.

        The data contract of the next run is checked against these: the columns the champion
        was trained on. A model logged without a signature has nothing to compare.
        """
        from mlflow.models import get_model_info

        signature = get_model_info(model_uri).signature
        if signature is None or signature.inputs is None:
            return None
        return [dict(spec) for spec in signature.inputs.to_dict()]

    def find_model_version(self, model_name: str, tags: Mapping[str, str]) -> ModelVersion | None:
        """A version already registered for these tags (idempotent registration on retry)."""
        versions = self.get_client().search_model_versions(model_version_filter(model_name, tags))
        return max(versions, key=lambda v: int(v.version)) if versions else None

    def register_version(self, model_name: str, model_uri: str, tags: Mapping[str, str], description: str) -> str:
        """Create a version of ``model_name`` from ``model_uri`` with its tags and description; its number.

        For a ``models:/<model id>`` URI, what ``log_model`` returns, this is what
        ``mlflow.register_model`` does, with the description written by the same call rather than
        by a second one. Any other URI goes through ``mlflow.register_model`` (inside :meth:`session`).
        """
        import mlflow
        from mlflow.exceptions import MlflowException

        client = self.get_client()
        model_id = logged_model_id(model_uri)
        if model_id is None:
            version = str(mlflow.register_model(model_uri, model_name, tags=dict(tags)).version)
            client.update_model_version(model_name, version, description=description)
            return version
        try:
            client.create_registered_model(model_name)
        except MlflowException as err:
            if err.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise
        created = client.create_model_version(
            model_name, model_uri, tags=dict(tags), description=description, model_id=model_id
        )
        return str(created.version)

    def model_version_url(self, model_name: str, version: str) -> str | None:
        base = self._ui_base()
        return f"{base}/#/models/{model_name}/versions/{version}" if base else None

    def run_url(self, experiment_id: str, run_id: str) -> str | None:
        base = self._ui_base()
        return f"{base}/#/experiments/{experiment_id}/runs/{run_id}" if base else None

    def _ui_base(self) -> str | None:
        uri = self.tracking_uri
        return uri.rstrip("/") if uri.startswith(("http://", "https://")) else None

    def test_connection(self) -> tuple[bool, str]:
        """One request with the connection's credentials; no retries, so a dead server answers in seconds.

        MLflow's client otherwise retries a refused connection 7 times with exponential backoff
        (about 4 minutes), far longer than the UI's "Test" button waits.
        """
        try:
            tracking_uri = self.tracking_uri
        except ConfigurationError as err:
            return False, str(err)
        try:
            with self.session(), temporary_env(_TEST_CONNECTION_HTTP_SETTINGS):
                self.get_client().search_experiments(max_results=1)
        except Exception as err:
            return False, f"cannot reach MLflow at {tracking_uri}: {type(err).__name__}"
        return True, f"connected to MLflow at {tracking_uri}"


_TEST_CONNECTION_HTTP_SETTINGS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


@contextlib.contextmanager
def temporary_env(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set environment variables for a block, then restore the previous values (or their absence)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update({key: str(value) for key, value in values.items()})
    try:
        yield
    finally:
        for key, previous in saved.items():
            if previous is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = previous


def _text(value: object) -> str | None:
    return None if value in (None, "") else str(value)


def _server_uri(host: str, schema: str | None, port: int | None) -> str:
    """``host`` (with or without scheme, path or trailing slash) plus ``schema`` and ``port`` as one URL."""
    host = host.strip().rstrip("/")
    if "://" not in host:
        host = f"{schema or 'http'}://{host}"
    if port:
        parts = urlsplit(host)
        if parts.port is None:  # an explicit port in the host URL wins over the port field
            host = urlunsplit(parts._replace(netloc=f"{parts.netloc}:{port}"))
    return host


def model_version_filter(model_name: str, tags: Mapping[str, str] | None = None) -> str:
    """A ``search_model_versions`` filter for one model's versions carrying all of ``tags``."""
    return " and ".join([f"name = {filter_literal(model_name)}", *tag_clauses(tags or {})])


def logged_model_id(model_uri: str) -> str | None:
    """The id in ``models:/<model id>``; None for any other URI (a registered version, an alias, runs:/)."""
    rest = model_uri.removeprefix("models:/")
    return rest if rest != model_uri and rest and "/" not in rest and "@" not in rest else None
