"""MLflow's scoring JSON to the Open Inference Protocol (KServe's "v2") and back.

KServe serves an MLflow model with MLServer, which speaks the v2 protocol at
``/v2/models/<name>/infer``. A frame goes as one input per column, with the request-level
content type ``pd`` so MLServer rebuilds a pandas DataFrame with the same column names before
calling the model's ``predict``: the model sees what MLflow's own scoring server would give it.
The answer's outputs become MLflow's ``{"predictions": ...}``.
"""

from __future__ import annotations

import json
from typing import Any


class InferenceFormatError(ValueError):
    """A request that cannot be written in the v2 protocol, or an answer that is not one."""


def v2_request(body: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """A v2 inference request from MLflow's ``dataframe_split``/``dataframe_records`` (or a v2 request, as given)."""
    payload = json.loads(body) if isinstance(body, bytes | str) else body
    if not isinstance(payload, dict):
        raise InferenceFormatError("a prediction request is a JSON object")
    inputs = payload.get("inputs")
    if isinstance(inputs, list) and inputs and all(isinstance(i, dict) and "datatype" in i for i in inputs):
        return payload  # already the v2 protocol
    if "dataframe_split" in payload:
        split = payload["dataframe_split"]
        columns, rows = list(split.get("columns") or []), list(split.get("data") or [])
    elif "dataframe_records" in payload:
        records = list(payload["dataframe_records"])
        columns = list(records[0]) if records else []
        rows = [[record.get(column) for column in columns] for record in records]
    else:
        raise InferenceFormatError(
            f"cannot send {sorted(payload)} to KServe's v2 protocol; send a DataFrame, dataframe_split, "
            "dataframe_records or a v2 request ({'inputs': [{'name', 'shape', 'datatype', 'data'}]})"
        )
    if not columns:
        raise InferenceFormatError("a frame to predict needs named columns")
    return {
        "parameters": {"content_type": "pd"},
        "inputs": [_column(column, [row[index] for row in rows]) for index, column in enumerate(columns)],
    }


def _column(name: Any, values: list[Any]) -> dict[str, Any]:
    tensor: dict[str, Any] = {"name": str(name), "shape": [len(values)], "datatype": _datatype(values)}
    if tensor["datatype"] == "BYTES":
        tensor["parameters"] = {"content_type": "str"}
        values = [None if value is None else str(value) for value in values]
    tensor["data"] = values
    return tensor


def _datatype(values: list[Any]) -> str:
    present = [value for value in values if value is not None]
    if any(isinstance(value, str) for value in present):
        return "BYTES"
    if present and all(isinstance(value, bool) for value in present):
        return "BOOL"
    if all(isinstance(value, int) and not isinstance(value, bool) for value in present):
        return "INT64"
    return "FP64"


def predictions(answer: Any) -> Any:
    """MLflow's predictions from a v2 answer: one output's data, or ``{name: data}`` for several."""
    outputs = answer.get("outputs") if isinstance(answer, dict) else None
    if not isinstance(outputs, list) or not outputs or not all(isinstance(o, dict) and "data" in o for o in outputs):
        raise InferenceFormatError(f"not a v2 inference answer (no outputs with data): {str(answer)[:200]}")
    if len(outputs) == 1:
        return outputs[0]["data"]
    return {str(output.get("name")): output["data"] for output in outputs}
