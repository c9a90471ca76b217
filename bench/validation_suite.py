"""The validation-throughput workload: a seeded numeric frame, 20 GX rules and the same rules in pandas.

Every rule passes on the generated data, so both sides do the full work (no early exits) and
the per-rule outcomes can be compared to prove they checked the same thing.
"""

from __future__ import annotations

from typing import Any

SEED = 20240601
N_COLUMNS = 20
SET = [0, 1, 2]


def make_frame(rows: int) -> Any:
    """``rows`` x 20: c00-c09 normal floats, c10-c14 ints 0-99, c15-c17 codes 0-2, c18 a unique id,
    c19 floats with 5% missing."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(SEED)
    data: dict[str, Any] = {}
    for i in range(10):
        data[f"c{i:02d}"] = rng.normal(0.0, 1.0, rows)
    for i in range(10, 15):
        data[f"c{i:02d}"] = rng.integers(0, 100, rows)
    for i in range(15, 18):
        data[f"c{i:02d}"] = rng.integers(0, 3, rows)
    data["c18"] = rng.permutation(rows)
    c19 = rng.normal(50.0, 10.0, rows)
    c19[rng.random(rows) < 0.05] = np.nan
    data["c19"] = c19
    return pd.DataFrame(data)


def _rule(type_name: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": type_name, "kwargs": kwargs}


EXPECTATIONS: list[dict[str, Any]] = [
    _rule("expect_table_row_count_to_be_between", min_value=1, max_value=100_000_000),
    _rule("expect_table_column_count_to_equal", value=N_COLUMNS),
    *[_rule("expect_column_values_to_not_be_null", column=f"c{i:02d}") for i in range(6)],
    *[
        _rule("expect_column_values_to_be_between", column=f"c{i:02d}", min_value=0, max_value=99)
        for i in range(10, 15)
    ],
    *[_rule("expect_column_values_to_be_in_set", column=f"c{i:02d}", value_set=SET) for i in (15, 16)],
    *[_rule("expect_column_mean_to_be_between", column=f"c{i:02d}", min_value=-0.1, max_value=0.1) for i in (0, 1)],
    _rule("expect_column_values_to_be_unique", column="c18"),
    _rule("expect_column_values_to_not_be_null", column="c19", mostly=0.9),
    _rule("expect_column_max_to_be_between", column="c17", min_value=2, max_value=2),
]
assert len(EXPECTATIONS) == 20


def _mostly(unexpected: int, counted: int, mostly: float | None) -> bool:
    if mostly is None:
        return unexpected == 0
    return counted == 0 or 1 - unexpected / counted >= mostly


def plain_checks(frame: Any) -> list[tuple[bool, Any]]:
    """The same 20 rules in plain pandas: (passed, observed value or unexpected count) per rule, in order."""
    results: list[tuple[bool, Any]] = []
    for rule in EXPECTATIONS:
        kind, kw = rule["type"], rule["kwargs"]
        if kind == "expect_table_row_count_to_be_between":
            n = len(frame)
            results.append((kw["min_value"] <= n <= kw["max_value"], n))
            continue
        if kind == "expect_table_column_count_to_equal":
            results.append((frame.shape[1] == kw["value"], frame.shape[1]))
            continue
        column = frame[kw["column"]]
        present = column.notna()
        if kind == "expect_column_values_to_not_be_null":
            missing = int((~present).sum())
            results.append((_mostly(missing, len(column), kw.get("mostly")), missing))
        elif kind == "expect_column_values_to_be_between":
            bad = int((present & ~column.between(kw["min_value"], kw["max_value"])).sum())
            results.append((_mostly(bad, int(present.sum()), kw.get("mostly")), bad))
        elif kind == "expect_column_values_to_be_in_set":
            bad = int((present & ~column.isin(kw["value_set"])).sum())
            results.append((_mostly(bad, int(present.sum()), kw.get("mostly")), bad))
        elif kind == "expect_column_mean_to_be_between":
            mean = float(column.mean())
            results.append((kw["min_value"] <= mean <= kw["max_value"], mean))
        elif kind == "expect_column_values_to_be_unique":
            bad = int(column[present].duplicated(keep=False).sum())
            results.append((bad == 0, bad))
        elif kind == "expect_column_max_to_be_between":
            top = column.max()
            results.append((kw["min_value"] <= top <= kw["max_value"], top))
        else:  # pragma: no cover - the list above is fixed
            raise ValueError(kind)
    return results
