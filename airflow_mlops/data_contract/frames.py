"""Reading columns of a frame that may repeat a name (a frame built in memory can; a file read by pandas cannot)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING

from airflow_mlops.data_contract.types import column_types

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from airflow_mlops.data_contract.vocabulary import LogicalType

_NUMBER_KINDS = frozenset({"integer", "float", "boolean"})


class FrameView:
    """A frame with what the rules read about it (names, logical types, numbers) computed once per check.

    Every rule asks about every column: built per call, ``frame.columns.tolist()``, ``frame.dtypes``
    and the float conversion cost tens to hundreds of microseconds each, and made the contract check
    most of ``prepare_data``'s time over a plain script (issue #13). The view is read-only and lives
    for one check; a rule given a bare frame builds its own.
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._shares: dict[str, tuple[float, pd.Series]] = {}

    @classmethod
    def of(cls, frame: pd.DataFrame | FrameView) -> FrameView:
        return frame if isinstance(frame, FrameView) else cls(frame)

    def __len__(self) -> int:
        return len(self.frame)

    @cached_property
    def names(self) -> list[str]:
        """Every column name as text, a repeated one as often as it repeats."""
        return [str(c) for c in self.frame.columns.tolist()]  # tolist: iterating an Arrow index is slow

    @cached_property
    def present(self) -> list[str]:
        """The column names, each once, in order."""
        return list(dict.fromkeys(self.names))

    @cached_property
    def kinds(self) -> dict[str, LogicalType]:
        return column_types(self.frame)

    @cached_property
    def unique(self) -> bool:
        return bool(self.frame.columns.is_unique)

    def column(self, name: str) -> pd.Series:
        return column_of(self.frame, name)

    def numeric_share(self, name: str) -> tuple[float, pd.Series]:
        """:func:`numeric_share` of a column, once for the two rules that ask (ids, numbers stored as text)."""
        if name not in self._shares:
            self._shares[name] = numeric_share(self.column(name))
        return self._shares[name]

    def float_block(self, names: Sequence[str]) -> np.ndarray:
        """:func:`float_block` of ``names``; an all-number frame is converted once for every rule that asks."""
        import numpy as np

        if self._numbers is None:
            return float_block(self.frame, names)
        position = {name: i for i, name in enumerate(self.names)}
        block: np.ndarray = np.ascontiguousarray(self._numbers[:, [position[name] for name in names]])
        return block

    @cached_property
    def _numbers(self) -> np.ndarray | None:
        import numpy as np

        if not self.unique or any(kind not in _NUMBER_KINDS for kind in self.kinds.values()):
            return None
        numbers: np.ndarray = self.frame.to_numpy(dtype="float64", na_value=np.nan)
        return numbers


def present_columns(frame: pd.DataFrame | FrameView) -> list[str]:
    """The frame's column names as text, each once, in order."""
    return FrameView.of(frame).present


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
    """Of a text column's non-blank values: the share that parse as numbers, and those that do not.

    Each distinct value is stripped and parsed once, and the answers spread back to the rows by
    their codes: parsing row by row took 1.3 s per million rows and column, twice per column (the
    id and the numbers-as-text rules), most of ``prepare_data`` on a frame with text columns
    (issue #22), where a categorical column holds a handful of distinct values. Whether a value
    parses does not depend on its neighbours, so the share and the rows returned are the same.
    """
    import pandas as pd

    values = series.dropna()
    codes, uniques = pd.factorize(values)
    distinct = pd.Series(uniques)
    blank = (distinct.astype(str).str.strip() == "").to_numpy()
    unparsed = pd.to_numeric(distinct, errors="coerce").isna().to_numpy() & ~blank
    kept = ~blank[codes]
    counted = int(kept.sum())
    if not counted:
        return 0.0, values[kept]
    bad = values[unparsed[codes]]
    return 1 - len(bad) / counted, bad
