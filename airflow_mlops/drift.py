"""Data drift as pure functions: population stability index (PSI) and two-sample KS, per feature.

No Airflow, MLflow or DVC here, so the numbers can be property-tested and reused outside a
task. numpy, scipy and pandas are imported inside the functions: the operator module that
imports this one is loaded at every DAG parse.

The drift rule, per feature, is an OR of two tests that catch different failures:

- **PSI > psi_threshold**: the share of rows per bin moved. Bins are the reference's quantiles,
  so each holds about the same share of training rows and a shift anywhere in the range shows.
  PSI does not shrink with sample size, so it is the practical "how much" measure (0.1 is
  commonly read as a small change, 0.2 as a significant one).
- **KS p-value < ks_pvalue** (numeric features only): the two samples are unlikely to come
  from the same distribution. KS needs no binning, but its p-value shrinks with the number of
  rows, so on very large batches it flags shifts too small to matter; lower ``ks_pvalue``
  there rather than raising ``psi_threshold``, which does not touch the KS side of the rule.

The data drifts when at least ``min_drifted_features`` features drift.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from airflow_mlops.errors import DriftInputError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy
    import pandas

#: Share given to a bin that one sample leaves empty. Without it one empty bin makes PSI
#: infinite (log of zero), which says "different" but not "how different".
EPSILON = 1e-4


def _proportions(counts: numpy.ndarray) -> numpy.ndarray:
    import numpy as np

    total = counts.sum()
    shares = counts / total if total else np.zeros_like(counts, dtype=float)
    shares = np.clip(shares, EPSILON, None)
    normalised: numpy.ndarray = shares / shares.sum()
    return normalised


def _psi_from_counts(reference_counts: numpy.ndarray, current_counts: numpy.ndarray) -> float:
    import numpy as np

    ref = _proportions(reference_counts.astype(float))
    cur = _proportions(current_counts.astype(float))
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def quantile_edges(reference: numpy.ndarray, bins: int) -> numpy.ndarray:
    """Interior bin edges at the reference's quantiles, duplicates removed.

    A column with few distinct values (or a constant one) yields fewer edges than ``bins - 1``
    rather than empty zero-width bins; a constant column gets one edge, at its value.
    """
    import numpy as np

    finite = reference[np.isfinite(reference)]
    if finite.size == 0:
        no_edges: numpy.ndarray = np.array([], dtype=float)
        return no_edges
    # inverted_cdf puts every edge on an observed value; interpolated edges would sit between
    # the values of a discrete column and make bins no row can ever fall into.
    quantiles = np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)[1:-1], method="inverted_cdf")
    edges: numpy.ndarray = np.unique(quantiles)
    return edges


def _numeric_counts(values: numpy.ndarray, edges: numpy.ndarray) -> numpy.ndarray:
    import numpy as np

    missing = np.isnan(values)
    # side="left": bin i holds edges[i-1] < x <= edges[i]; -inf/+inf land in the outer bins.
    index = np.searchsorted(edges, values[~missing], side="left")
    counts = np.bincount(index, minlength=edges.size + 1).astype(float)
    with_missing: numpy.ndarray = np.append(counts, float(missing.sum()))  # NaN is a bin of its own
    return with_missing


def psi_numeric(reference: Any, current: Any, bins: int = 10) -> float:
    """PSI of ``current`` against ``reference`` over the reference's quantile bins plus a NaN bin.

    Missing values count as their own bin, so a feature that starts arriving empty drifts
    even if its remaining values look the same.
    """
    import numpy as np

    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    if ref.size == 0 or cur.size == 0:
        raise DriftInputError("PSI needs at least one row on each side")
    edges = quantile_edges(ref, bins)
    return _psi_from_counts(_numeric_counts(ref, edges), _numeric_counts(cur, edges))


def _category_labels(values: Any) -> list[str]:
    import pandas as pd

    series = pd.Series(values, dtype=object)
    # NaN, None and pd.NA are one "missing" category; everything else compares by its text,
    # so 1 and "1" read from different file formats are the same category.
    return ["<missing>" if pd.isna(v) else str(v) for v in series]


def psi_categorical(reference: Any, current: Any) -> float:
    """PSI over the union of categories; a category unseen in the reference gets share ``EPSILON`` there."""
    import numpy as np
    import pandas as pd

    ref = pd.Series(_category_labels(reference), dtype=object)
    cur = pd.Series(_category_labels(current), dtype=object)
    if ref.empty or cur.empty:
        raise DriftInputError("PSI needs at least one row on each side")
    categories = sorted(set(ref) | set(cur))
    ref_counts = ref.value_counts().reindex(categories, fill_value=0).to_numpy(dtype=float)
    cur_counts = cur.value_counts().reindex(categories, fill_value=0).to_numpy(dtype=float)
    return _psi_from_counts(np.asarray(ref_counts), np.asarray(cur_counts))


def ks_test(reference: Any, current: Any) -> tuple[float, float] | None:
    """Two-sample KS (statistic, p-value) on the non-missing values; None if a side has none."""
    import numpy as np
    from scipy.stats import ks_2samp

    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    ref, cur = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    if ref.size == 0 or cur.size == 0:
        return None
    result = ks_2samp(ref, cur)
    return float(result.statistic), float(result.pvalue)


def _is_numeric(series: pandas.Series) -> bool:
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return bool(is_numeric_dtype(series.dtype) and not is_bool_dtype(series.dtype))


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _mean(series: pandas.Series) -> float | None:
    import numpy as np

    values = series.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    return _finite_or_none(float(finite.mean())) if finite.size else None


def compare_feature(
    reference: pandas.Series,
    current: pandas.Series,
    *,
    psi_threshold: float,
    ks_pvalue: float,
    bins: int,
) -> dict[str, Any]:
    """One feature's drift record; see the module docstring for the rule."""
    numeric = _is_numeric(reference) and _is_numeric(current)
    result: dict[str, Any] = {
        "kind": "numeric" if numeric else "categorical",
        "ks_statistic": None,
        "ks_pvalue": None,
        "reference_missing": float(reference.isna().mean()),
        "current_missing": float(current.isna().mean()),
    }
    reasons: list[str] = []
    if numeric:
        result["psi"] = psi_numeric(reference.to_numpy(dtype=float), current.to_numpy(dtype=float), bins)
        result["reference_mean"] = _mean(reference)
        result["current_mean"] = _mean(current)
        ks = ks_test(reference.to_numpy(dtype=float), current.to_numpy(dtype=float))
        if ks is not None:
            result["ks_statistic"], result["ks_pvalue"] = ks
    else:
        result["psi"] = psi_categorical(reference, current)
    psi = result["psi"]
    psi_drift = psi > psi_threshold
    ks_drift = result["ks_pvalue"] is not None and result["ks_pvalue"] < ks_pvalue
    reasons.append(f"psi {psi:.4g} {'>' if psi_drift else '<='} {psi_threshold:g}")
    if result["ks_pvalue"] is not None:
        reasons.append(f"ks p-value {result['ks_pvalue']:.3g} {'<' if ks_drift else '>='} {ks_pvalue:g}")
    result["drifted"] = bool(psi_drift or ks_drift)
    result["reason"] = ("drifted: " if result["drifted"] else "stable: ") + "; ".join(reasons)
    return result


def compare(
    reference_df: pandas.DataFrame,
    current_df: pandas.DataFrame,
    features: Sequence[str],
    *,
    psi_threshold: float = 0.2,
    ks_pvalue: float = 0.01,
    bins: int = 10,
    min_drifted_features: int = 1,
) -> dict[str, Any]:
    """Compare ``current_df`` with ``reference_df`` feature by feature; the result is plain JSON.

    Returns ``{"features": {name: {kind, psi, ks_statistic, ks_pvalue, drifted, reason, ...}},
    "summary": {drifted, n_drifted, drifted_features, features_checked, reference_rows,
    current_rows, rule}}``, with ``drifted_features`` ordered by PSI, largest first.
    """
    if not features:
        raise DriftInputError("no features to compare")
    for label, frame in (("reference", reference_df), ("current", current_df)):
        missing = [f for f in features if f not in frame.columns]
        if missing:
            raise DriftInputError(
                f"feature(s) {', '.join(map(repr, missing))} missing from the {label} data "
                f"(its columns: {', '.join(map(str, frame.columns))})"
            )
        if len(frame) == 0:
            raise DriftInputError(f"the {label} data has no rows")
    results = {
        str(name): compare_feature(
            reference_df[name], current_df[name], psi_threshold=psi_threshold, ks_pvalue=ks_pvalue, bins=bins
        )
        for name in features
    }
    drifted = sorted((n for n, r in results.items() if r["drifted"]), key=lambda n: -results[n]["psi"])
    return {
        "features": results,
        "summary": {
            "drifted": len(drifted) >= min_drifted_features,
            "n_drifted": len(drifted),
            "drifted_features": drifted,
            "features_checked": len(results),
            "reference_rows": len(reference_df),
            "current_rows": len(current_df),
            "rule": (
                f"a feature drifts if psi > {psi_threshold:g} or (numeric) ks p-value < {ks_pvalue:g}; "
                f"the data drifts if at least {min_drifted_features} feature(s) drift"
            ),
            "psi_threshold": psi_threshold,
            "ks_pvalue": ks_pvalue,
            "bins": bins,
            "min_drifted_features": min_drifted_features,
        },
    }


def top_features(report: dict[str, Any], limit: int = 20) -> list[dict[str, Any]]:
    """The ``limit`` features with the largest PSI, flattened for XCom and asset-event extras."""
    ranked = sorted(report["features"].items(), key=lambda item: -item[1]["psi"])[:limit]
    return [
        {
            "feature": name,
            "kind": r["kind"],
            "psi": r["psi"],
            "ks_statistic": r["ks_statistic"],
            "ks_pvalue": r["ks_pvalue"],
            "drifted": r["drifted"],
        }
        for name, r in ranked
    ]
