"""check_champion_age against a real sqlite MLflow registry, its metrics over a real UDP socket.

The too-old path with a notifier that works runs for real in tests/integration/test_sla.py; here:
no champion, a champion within its limit, and a notifier that fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_mlops.errors import AlertDeliveryError
from airflow_mlops.record import tag
from tests.statsd_capture import StatsdListener

from .conftest import context

CONN = "mlflow_sla"
USER_CODE = Path(__file__).resolve().parents[2] / "fixtures" / "user_code"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A sqlite MLflow store behind the connection ``mlflow_sla``, and a client on it."""
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("champion-age")
    uri = f"sqlite:///{root}/mlflow.db"
    extra = {"tracking_uri": uri, "artifact_location": str(root / "mlruns"), "create_store": True}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", json.dumps({"conn_type": "mlflow", "extra": extra}))
        patch.syspath_prepend(str(USER_CODE))
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        yield client


def _champion(client: Any, model: str, promoted: datetime, tmp_path: Path) -> str:
    client.create_registered_model(model)
    version = client.create_model_version(model, source=str(tmp_path))
    client.set_registered_model_alias(model, "champion", version.version)
    client.set_model_version_tag(model, version.version, tag.PROMOTED_AT, promoted.isoformat())
    return str(version.version)


def _check(model: str, notify: list[dict[str, Any]]) -> Any:
    from airflow_mlops.operators.sla import CheckChampionAgeOperator

    op = CheckChampionAgeOperator(
        task_id="check_champion_age", model_name=model, alias="champion", max_age_days=30, notify=notify,
        mlflow_conn_id=CONN,
    )  # fmt: skip
    return op.execute(context("sla_dag", "r1"))


def test_no_champion_sends_nothing_and_tells_nobody(registry: Any, listener: StatsdListener, tmp_path: Path) -> None:
    told = tmp_path / "told.jsonl"
    result = _check("unknown_model", [{"notifier": "acme_ml.notify.FileNotifier", "params": {"path": str(told)}}])
    assert (result["version"], result["too_old"], result["notified"]) == (None, False, 0)
    assert listener.named("airflow.mlops.") == {}
    assert not told.exists()


def test_a_champion_within_its_limit_is_measured_and_nobody_is_told(
    registry: Any, listener: StatsdListener, tmp_path: Path
) -> None:
    version = _champion(registry, "fresh_model", datetime.now(UTC) - timedelta(days=2), tmp_path)
    told = tmp_path / "told.jsonl"
    result = _check("fresh_model", [{"notifier": "acme_ml.notify.FileNotifier", "params": {"path": str(told)}}])
    assert (result["version"], result["too_old"], result["notified"]) == (version, False, 0)
    assert result["age_days"] == pytest.approx(2, abs=0.01)
    sent = listener.named("airflow.mlops.")
    assert sent["airflow.mlops.sla.champion_too_old.fresh_model"] == 0.0
    assert sent["airflow.mlops.sla.champion_age_limit_seconds.fresh_model"] == 30 * 86_400
    assert sent["airflow.mlops.champion.age_seconds.fresh_model"] == pytest.approx(2 * 86_400, abs=600)
    assert not told.exists()


def test_a_failing_notifier_fails_the_check_naming_it_after_the_metrics(
    registry: Any, listener: StatsdListener, tmp_path: Path
) -> None:
    _champion(registry, "stale_model", datetime.now(UTC) - timedelta(days=45), tmp_path)
    with pytest.raises(AlertDeliveryError) as caught:
        _check("stale_model", [{"notifier": "acme_ml.notify.NoSuchNotifier", "params": {}}])
    assert caught.value.targets == ["acme_ml.notify.NoSuchNotifier"]
    assert listener.named("airflow.mlops.sla.champion_too_old") == {
        "airflow.mlops.sla.champion_too_old.stale_model": 1.0
    }
