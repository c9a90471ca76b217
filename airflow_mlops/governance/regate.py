"""The source version's recorded gate, applied again on the target environment's own holdout data.

A model that passed its gate in development passed it on development's rows, against
development's champion. Before it goes live elsewhere it is scored on that environment's
holdout data (a DVC pin of its own) next to that environment's champion, and the same rules
decide: "the same gate" is the rules the source pipeline recorded, not a copy of them.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_mlops.errors import PromotionRefusedError
from airflow_mlops.governance.recheck import FORCE_HINT, judge, load_version_model

if TYPE_CHECKING:
    from airflow_mlops.governance.environments import Reached


def load_model_dir(model_dir: Path) -> tuple[Any, list[str] | None]:
    """A downloaded model by its flavor (ml/flavors.py), and its input columns."""
    from mlflow.models import Model

    from airflow_mlops.errors import ConfigurationError
    from airflow_mlops.ml.flavors import load_predictor
    from airflow_mlops.ml.scoring import input_columns

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skops' lookups wake Airflow's deprecated shims (see recheck.py)
        model = load_predictor(str(model_dir))
    try:
        inputs: list[str] | None = input_columns(Model.load(str(model_dir)).signature, model, str(model_dir))[0]
    except ConfigurationError:
        inputs = None
    return model, inputs


def regate(
    target: Reached,
    recorded: dict[str, Any],
    model_dir: Path,
    *,
    candidate: str,
    champion_version: str | None,
    contract_target: str | None,
) -> dict[str, Any]:
    """The verdict of ``recorded`` (``recorded_gate``) on the target's holdout data, against its champion."""
    from airflow_mlops.hooks.dvc import DvcHook

    holdout = target.spec.holdout
    if holdout is None:
        raise PromotionRefusedError(
            f"{target.describe()} declares no holdout data, so nothing can be re-gated for it; add "
            f"environments.{target.name}.holdout: {{path: ..., rev: ...}}, or {FORCE_HINT}"
        )
    hook = DvcHook(holdout.dvc_conn_id)
    ref = hook.resolve(holdout.path, holdout.rev)
    frame = hook.read_dataframe(ref)
    champion = None
    if champion_version is not None:
        try:
            champion = load_version_model(target.client(), target.model_name, champion_version)[0]
        except Exception as err:
            raise PromotionRefusedError(
                f"the champion v{champion_version} of {target.describe()} cannot be loaded "
                f"({type(err).__name__}: {err}); {FORCE_HINT}"
            ) from err
    rows = f"the holdout data of environment {target.name!r} ({holdout.path} @ {holdout.rev})"
    judged = judge(
        recorded,
        frame,
        load_model_dir(model_dir),
        champion,
        candidate=candidate,
        champion_version=champion_version,
        rows=rows,
        target=holdout.target or contract_target,
    )
    data = {key: str(value) for key, value in ref.items() if key in ("repo", "path", "rev", "commit", "md5")}
    return {**judged, "data": data}
