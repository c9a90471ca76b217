"""Reading columns of a frame that may repeat a name (a frame built in memory can; a file read by pandas cannot)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def present_columns(frame: pd.DataFrame) -> list[str]:
    """The frame's column names as text, each once, in order."""
    return list(dict.fromkeys(str(c) for c in frame.columns.tolist()))  # tolist: iterating an Arrow index is slow


def float_block(frame: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    """The columns ``names`` as one float64 array (NaN for missing), the first of a repeated name.

    Two rules (infinity, and the leakage screen) read every number column at once. Selecting them
    with ``frame[names]`` first copies a sub-frame; when every column is a number the whole frame
    converts directly and the wanted columns are picked out of the array, which costs less.
    """
    import numpy as np
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    block: np.ndarray
    if not frame.columns.is_unique:
        block = np.column_stack([column_of(frame, name).to_numpy(dtype="float64", na_value=np.nan) for name in names])
    elif all(is_numeric_dtype(d) or is_bool_dtype(d) for d in frame.dtypes.tolist()):
        position = {str(name): i for i, name in enumerate(frame.columns.tolist())}
        whole = frame.to_numpy(dtype="float64", na_value=np.nan)
        block = np.ascontiguousarray(whole[:, [position[name] for name in names]])
    else:
        block = frame[list(names)].to_numpy(dtype="float64", na_value=np.nan)
    return block


def column_of(frame: pd.DataFrame, name: str) -> pd.Series:
    """The column ``name``; the first of them if the frame repeats it, so checks never get a frame back."""
    if frame.columns.is_unique:
        return frame[name]
    return frame.loc[:, frame.columns == name].iloc[:, 0]


def numeric_share(series: pd.Series) -> tuple[float, pd.Series]:
    """Of a text column's non-blank values: the share that parse as numbers, and those that do not."""
    import pandas as pd

    values = series.dropna()
    values = values[values.astype(str).str.strip() != ""]
    if values.empty:
        return 0.0, values
    bad = values[pd.to_numeric(values, errors="coerce").isna()]
    return 1 - len(bad) / len(values), bad
