"""Demo data from the copy scikit-learn ships: nothing is downloaded at run time."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def breast_cancer_frame() -> pd.DataFrame:
    """The Wisconsin breast cancer data with snake_case column names and a ``target`` column."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
    return frame


def diabetes_frame() -> pd.DataFrame:
    """The diabetes progression data (regression): ten scaled features and a ``target`` column."""
    from sklearn.datasets import load_diabetes

    frame: pd.DataFrame = load_diabetes(as_frame=True).frame
    return frame


def wine_frame() -> pd.DataFrame:
    """The wine cultivar data (three classes) with column names usable as identifiers and a ``target`` column."""
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    frame.columns = [str(c).replace("/", "_") for c in frame.columns]
    return frame


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    return str(frame.to_csv(index=False)).encode()


def data_versions() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two versions of the data: v1 a first labelled batch, v2 after more labels arrived.

    A fixed shuffle makes both versions, and therefore the demo's numbers, repeatable.
    """
    frame = breast_cancer_frame().sample(frac=1.0, random_state=7).reset_index(drop=True)
    return frame.iloc[:380].reset_index(drop=True), frame
