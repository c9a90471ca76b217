"""Suspected leakage: a feature that is the target, or predicts it almost perfectly on its own.

A feature holding the answer (a repeated label column, an outcome recorded after the fact)
trains a model that scores perfectly and fails in production. Real features of a real
problem do not predict the label alone with near-certainty, so each feature is judged alone:

- **equals**: for classification, the feature's values and the classes map one to one (the
  target itself, or any encoding of it such as "yes"/"no" for 1/0); for regression, the
  feature equals the target on every row.
- **predicts**: for classification, a shallow decision tree (numbers) or the majority class
  of each value (text) is fitted on half of the rows and scored on the other half; a
  balanced accuracy at or above ``leakage_accuracy`` (default 0.99) is a leak. Balanced
  accuracy is 0.5 for a constant guess whatever the class balance, so a rare class cannot
  make a useless feature look perfect, and the held-out half stops a high-cardinality
  column from memorising rows. For regression, an absolute Pearson correlation above
  ``leakage_correlation`` (default 0.999) is a leak.

It stays fast: a random sample of at most ``leakage_sample_rows`` rows (default 50,000),
one depth-limited tree per numeric feature, no model of all features together, and no tree
at all where counting shows it cannot reach the threshold (:func:`_cannot_reach`). Datetime
features are skipped. Fewer than 50 labelled rows give too little evidence to judge
"predicts"; "equals" is still checked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_mlops.data_contract.frames import FrameView
from airflow_mlops.data_contract.issues import ContractIssue
from airflow_mlops.data_contract.types import is_text, logical_type_of

if TYPE_CHECKING:
    import pandas as pd

    from airflow_mlops.data_contract.settings import CheckSettings
    from airflow_mlops.data_contract.vocabulary import LogicalType, Problem

MIN_ROWS_TO_JUDGE = 50
_SEED = 0
_NUMBER = frozenset({"integer", "float", "boolean"})


def leakage_issues(
    frame: pd.DataFrame | FrameView,
    target: str,
    features: Sequence[str],
    problem: Problem,
    settings: CheckSettings,
) -> list[ContractIssue]:
    """A blocking issue for every feature suspected of leaking the target, naming the column."""
    features = list(dict.fromkeys(name for name in features if name != target))
    sample = _sample(FrameView.of(frame), target, features, settings.leakage_sample_rows)
    if len(sample) < 2 or sample.frame[target].nunique() < 2:
        return []
    labels = _Target.of(sample.frame[target], problem)
    limit = settings.leakage_accuracy if problem == "classification" else settings.leakage_correlation
    kinds = sample.kinds
    features = [name for name in features if kinds[name] != "datetime"]
    screen = _Screen.of(sample, [name for name in features if kinds[name] in _NUMBER], labels, limit)
    judge = len(sample) >= MIN_ROWS_TO_JUDGE
    issues = []
    for name in features:
        if not (screen.may_equal(name) or (judge and screen.may_predict(name))):
            continue  # ruled out of both rules: not even its column is read
        series, kind = sample.frame[name], kinds[name]
        if screen.may_equal(name) and _equals(series, kind, labels):
            message = "its values are the target's (or an encoding of them); remove it from the data or the features"
            issues.append(ContractIssue("leakage_equals_target", name, message))
            continue
        score = _predictive_score(series, kind, labels, limit) if judge and screen.may_predict(name) else None
        if score is not None and score >= limit:
            what = "balanced accuracy" if problem == "classification" else "|correlation|"
            message = f"alone it predicts the target ({what} {score:.4f} >= {limit}); suspected leakage: drop it, "
            message += "or raise data.checks.leakage_accuracy / leakage_correlation (or disable data.checks.leakage)"
            issues.append(ContractIssue("leakage_predicts_target", name, message))
    return issues


def _sample(view: FrameView, target: str, features: list[str], rows: int) -> FrameView:
    """The labelled rows (at most ``rows`` of them, drawn at random) with each column once."""
    frame = view.frame
    if view.unique and bool(frame[target].notna().all()):
        if len(frame) <= rows:
            return view  # nothing to drop or draw: the columns are read in place, the other rules' reads reused
        # Which rows are drawn depends on the row count alone: drawn before the columns are picked, the
        # same rows without copying the whole frame twice on the way (0.2 s and a frame's memory at 1M rows).
        return FrameView(frame.sample(n=rows, random_state=_SEED)[[*features, target]])
    sample = frame[[*features, target]]
    sample = sample.loc[:, ~sample.columns.duplicated()]
    sample = sample[sample[target].notna()]
    if len(sample) > rows:
        sample = sample.sample(n=rows, random_state=_SEED)
    return FrameView(sample)


@dataclass(frozen=True)
class _Target:
    """The target as every feature's check reads it, computed once per dataset rather than once per feature."""

    problem: Problem
    classes: Any  # integer codes (classification)
    numbers: Any  # float values (regression)
    fit: Any  # the half of the rows a tree is fitted on
    held: Any  # the other half, on which it is scored

    @classmethod
    def of(cls, labels: pd.Series, problem: Problem) -> _Target:
        import numpy as np

        order = np.random.default_rng(_SEED).permutation(len(labels))
        classification = problem == "classification"
        return cls(
            problem=problem,
            classes=_codes(labels) if classification else None,
            numbers=None if classification else labels.to_numpy(dtype="float64", na_value=np.nan),
            fit=order[: len(order) // 2],
            held=order[len(order) // 2 :],
        )

    @property
    def depth(self) -> int:
        """The tree depth for this many classes: enough leaves for each class, at least 2 and at most 6."""
        import numpy as np

        return min(6, max(2, math.ceil(math.log2(max(2, len(np.unique(self.classes)))))))


@dataclass(frozen=True)
class _Screen:
    """Which numeric features of a classification can be ruled out of each rule for all of them at once.

    Both screens only ever skip work whose answer is already known (a feature with more or fewer
    distinct values than there are classes cannot equal the target; a tree that counting rules out
    cannot reach the limit), so what they let through is still judged exactly, one feature at a time.
    Done column by column, the same arithmetic cost more in pandas and numpy calls than in work.
    """

    equal: frozenset[str]
    predict: frozenset[str]
    screened: frozenset[str]

    @classmethod
    def of(cls, sample: FrameView, numeric: list[str], target: _Target, limit: float) -> _Screen:
        import numpy as np

        if target.problem != "classification" or not numeric:
            return cls(frozenset(), frozenset(), frozenset())
        block = sample.float_block(numeric)
        block = np.where(np.isinf(block), np.nan, block)  # as the tree sees them (_tree_accuracy)
        ordered = np.sort(block, axis=0)  # NaN last; two NaNs compare unequal, so a column with any is kept
        distinct = 1 + np.count_nonzero(ordered[1:] != ordered[:-1], axis=0)
        n_classes = int(target.classes.max()) + 1
        equal = np.isnan(block).any(axis=0) | (distinct == n_classes)
        ruled_out = _ruled_out(block[target.held], target.classes[target.held], 2**target.depth, limit)
        return cls(
            equal=frozenset(n for n, keep in zip(numeric, equal.tolist(), strict=True) if keep),
            predict=frozenset(n for n, out in zip(numeric, ruled_out.tolist(), strict=True) if not out),
            screened=frozenset(numeric),
        )

    def may_equal(self, name: str) -> bool:
        return name not in self.screened or name in self.equal

    def may_predict(self, name: str) -> bool:
        return name not in self.screened or name in self.predict


def _equals(series: pd.Series, kind: LogicalType, target: _Target) -> bool:
    import numpy as np

    if target.problem == "classification":
        # factorize codes run from 0 to (number of distinct values - 1)
        values, classes = _codes(series, kind), target.classes
        n_values, n_classes = int(values.max()) + 1, int(classes.max()) + 1
        return n_values == n_classes and len(np.unique(values * n_classes + classes)) == n_values
    if is_text(kind):
        return False
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    both = np.isfinite(values) & np.isfinite(target.numbers)
    return bool(both.sum() >= 2 and both.mean() > 0.9 and np.allclose(values[both], target.numbers[both]))


def _predictive_score(series: pd.Series, kind: LogicalType, target: _Target, limit: float) -> float | None:
    import numpy as np

    if target.problem == "regression":
        if is_text(kind):
            return None
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        both = np.isfinite(values) & np.isfinite(target.numbers)
        if both.sum() < MIN_ROWS_TO_JUDGE or np.std(values[both]) == 0 or np.std(target.numbers[both]) == 0:
            return None
        return float(abs(np.corrcoef(values[both], target.numbers[both])[0, 1]))
    if is_text(kind):
        return _group_accuracy(_codes(series, kind), target)
    return _tree_accuracy(series, target, limit)


def _tree_accuracy(series: pd.Series, target: _Target, limit: float) -> float | None:
    """The held-out balanced accuracy of a shallow tree on this feature; None where it cannot reach ``limit``."""
    import numpy as np
    from sklearn.tree import DecisionTreeClassifier

    values = series.to_numpy(dtype="float64", na_value=np.nan).reshape(-1, 1)
    values = np.where(np.isinf(values), np.nan, values)  # feature_not_finite reports inf; a tree takes NaN
    classes, fit, held = target.classes, target.fit, target.held
    if _cannot_reach(values[held, 0], classes[held], 2**target.depth, limit):
        return None
    tree = DecisionTreeClassifier(max_depth=target.depth, random_state=_SEED).fit(values[fit], classes[fit])
    return _balanced_accuracy(classes[held], tree.predict(values[held]))


def _cannot_reach(values: Any, truth: Any, leaves: int, limit: float) -> bool:
    """Whether no tree of at most ``leaves`` leaves on this feature reaches ``limit`` on these rows.

    A tree on one feature predicts one class per leaf, and each leaf is an interval of values
    (plus, for one leaf, the missing values). Sort the rows by value, missing last: wherever two
    neighbours differ in class, either the prediction changes between them (at most once per
    boundary between blocks, and there are at most ``leaves`` blocks, one more with missing
    values) or one of the two is misclassified (each error serves at most two neighbour pairs;
    tied values share a leaf, so the order among them does not matter). A balanced accuracy of
    ``limit`` allows at most K * (1 - limit) * N_max errors (K classes, N_max rows in the largest).
    Too many class changes rule the tree out without fitting it, which keeps the check at a few
    milliseconds: most real features are ruled out.
    """
    return bool(_ruled_out(values.reshape(-1, 1), truth, leaves, limit)[0])


def _ruled_out(block: Any, truth: Any, leaves: int, limit: float) -> Any:
    """:func:`_cannot_reach` for every column of ``block`` (rows by features) in one pass."""
    import numpy as np

    ordered = truth[np.argsort(block, axis=0, kind="stable")]  # NaN sorts last
    changes = np.count_nonzero(ordered[1:] != ordered[:-1], axis=0)
    boundaries = leaves - 1 + np.isnan(block).any(axis=0)
    counts = np.bincount(truth)
    counts = counts[counts > 0]
    errors = math.floor(len(counts) * (1 - limit) * int(counts.max()) + 1e-9)
    return changes > boundaries + 2 * errors


def _group_accuracy(keys: Any, target: _Target) -> float:
    """Predict each held-out row's class as the majority class of its value among the fitted rows."""
    import numpy as np

    classes, fit, held = target.classes, target.fit, target.held
    counts: Any = np.zeros((int(keys.max()) + 1, int(classes.max()) + 1), dtype=np.int64)
    np.add.at(counts, (keys[fit], classes[fit]), 1)
    overall = int(np.bincount(classes[fit]).argmax())
    seen = counts.sum(axis=1) > 0
    majority = np.where(seen, counts.argmax(axis=1), overall)
    return _balanced_accuracy(classes[held], majority[keys[held]])


def _balanced_accuracy(truth: Any, predicted: Any) -> float:
    """The mean recall over the classes present in ``truth`` (scikit-learn's balanced_accuracy_score)."""
    import numpy as np

    recalls = [float(np.mean(predicted[truth == label] == label)) for label in np.unique(truth)]
    return float(np.mean(recalls))


def _codes(series: pd.Series, kind: LogicalType | None = None) -> Any:
    """Integer codes of the values, NaN its own code, numbers compared as numbers (1 and 1.0 are one value)."""
    import numpy as np
    import pandas as pd

    if (kind or logical_type_of(series)) in _NUMBER:
        values = series.to_numpy(dtype="float64", na_value=np.nan)
    else:
        values = series.astype("object").to_numpy()
    codes, _ = pd.factorize(values, use_na_sentinel=False)
    return codes
