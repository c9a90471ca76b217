"""Reading columns of a frame that may repeat a name (a frame built in memory can; a file read by pandas cannot)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def present_columns(frame: pd.DataFrame) -> list[str]:
    """The frame's column names as text, each once, in order."""
    return list(dict.fromkeys(str(c) for c in frame.columns))


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
