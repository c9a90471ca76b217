"""The requests a serving check sends: the pinned test rows, single rows to time, and malformed ones.

Bodies use MLflow's ``dataframe_split`` JSON (columns, then rows), the format the scoring server
documents. Floats are written by Python's ``json`` (shortest repr, exact round trip), not by
``DataFrame.to_json``, which keeps 10 significant digits: the server must see the very numbers
``evaluate`` scored, or a parity difference would be ours, not the server's.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def frame_body(frame: pd.DataFrame) -> bytes:
    """``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}`` of ``frame`` (index dropped)."""
    split = {"columns": [str(c) for c in frame.columns], "data": frame.to_numpy(dtype=object).tolist()}
    return json.dumps({"dataframe_split": split}, default=_plain).encode()


def scoring_body(inputs: Any) -> bytes:
    """What MLflow's deployments ``predict`` is given, as scoring JSON: a DataFrame as ``dataframe_split``
    (exact floats), a dict or JSON text as given."""
    if isinstance(inputs, bytes):
        return inputs
    if isinstance(inputs, str):
        return inputs.encode()
    if isinstance(inputs, dict):
        return json.dumps(inputs).encode()
    return frame_body(inputs)


def _plain(value: Any) -> Any:
    """A numpy or pandas scalar as the JSON value it stands for (dates as ISO text)."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)


def single_row_bodies(frame: pd.DataFrame, count: int) -> list[bytes]:
    """``count`` one-row requests, cycling over the rows of ``frame``."""
    return [frame_body(frame.iloc[[i % len(frame)]]) for i in range(count)]


def malformed_bodies(frame: pd.DataFrame, probes: list[str]) -> dict[str, bytes]:
    """One malformed request per probe, each built from valid rows with exactly one defect.

    - ``missing_column``: the rows without their first column;
    - ``wrong_type``: the first numeric column holding text (the first column when none is numeric,
      holding a nested object);
    - ``empty_batch``: the columns and no rows.
    """
    from pandas.api.types import is_numeric_dtype

    rows = frame.head(5)
    bodies: dict[str, bytes] = {}
    for probe in probes:
        if probe == "missing_column":
            bodies[probe] = frame_body(rows.drop(columns=[rows.columns[0]]))
        elif probe == "wrong_type":
            numeric = [c for c in rows.columns if is_numeric_dtype(rows[c])]
            column = numeric[0] if numeric else rows.columns[0]
            bad: Any = "not a number" if numeric else {"not": "a scalar"}
            broken = rows.astype({column: object})
            broken[column] = [bad] * len(broken)
            bodies[probe] = frame_body(broken)
        elif probe == "empty_batch":
            bodies[probe] = frame_body(rows.head(0))
        else:
            raise ValueError(f"unknown malformed request {probe!r}")
    return bodies


def offline_predictions(predictions: Any, rows: int) -> dict[str, Any]:
    """What ``evaluate`` records for the serving check: the first ``rows`` of the predictions it scored.

    They are the gate's own predictions on the test rows, taken as they are rather than asked of the
    model again, so the parity check compares the server with exactly what was gated.
    """
    import numpy as np

    head = np.asarray(predictions)[:rows]
    return {"rows": len(head), "predictions": head.tolist()}


def predictions_of(body: bytes) -> list[Any] | None:
    """The ``predictions`` list of a scoring server's answer; None when the body holds none."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    predictions = parsed.get("predictions") if isinstance(parsed, dict) else None
    return predictions if isinstance(predictions, list) else None
