"""validate on tuning: and cross_validation: blocks: every problem at its line, in one pass."""

from __future__ import annotations

from pathlib import Path

from .test_loader import by_field, load_error, write_example

LOGREG = "    params: {C: 1.0, max_iter: 5000}\n"


def _tuned(tmp_path: Path, tuning: str, *more: tuple[str, str], append: str = "") -> Path:
    return write_example(tmp_path, (LOGREG, LOGREG + tuning), *more, append=append)


def test_every_bad_range_of_a_search_space_is_reported_at_its_line(tmp_path: Path) -> None:
    path = _tuned(
        tmp_path,
        "    tuning:\n"
        "      space:\n"
        "        tol: {type: float, low: 10, high: 1}\n"
        "        l1_ratio: {type: decimal, low: 0, high: 1}\n"
        "        intercept_scaling: {type: float, low: 0, high: 1, log: true}\n"
        "        solver: {choices: []}\n"
        "        verbose: {type: int, low: 1.5, high: 4}\n"
        "        warm_start: {type: float, low: 0.1, high: 1, log: true, step: 0.1}\n",
    )
    issues = by_field(load_error(path).issues)
    space = "models[0].tuning.space"
    lines = {line: n for n, line in enumerate(path.read_text().splitlines(), start=1)}
    expected = {
        f"{space}.tol.range": ("low (10) is greater than high (1)", "tol:"),
        f"{space}.l1_ratio.range.type": ("Input should be 'int' or 'float'", "l1_ratio:"),
        f"{space}.intercept_scaling.range": ("log scale needs low above 0", "intercept_scaling:"),
        f"{space}.solver.choice.choices": ("at least 1 item", "solver:"),
        f"{space}.verbose.range": ("low 1.5 is not a whole number", "verbose:"),
        f"{space}.warm_start.range": ("a float range takes log or step, not both", "warm_start:"),
    }
    assert set(expected) <= set(issues)
    for field, (message, key) in expected.items():
        assert message in issues[field].message
        assert issues[field].line == next(n for text, n in lines.items() if text.strip().startswith(key))


def test_unknown_metric_and_a_param_fixed_and_searched_are_reported_together(tmp_path: Path) -> None:
    path = _tuned(
        tmp_path,
        "    tuning:\n      metric: rmse\n      space:\n        C: {type: float, low: 0.01, high: 10, log: true}\n",
        ("    - {metric: f1, min: 0.90}", "    - {metric: f1, min: 0.90, cv: bound}"),
    )
    issues = by_field(load_error(path).issues)
    assert "unknown classification metric 'rmse'" in issues["models[0].tuning.metric"].message
    assert "both fixed in params and searched" in issues["models[0].tuning.space.C"].message
    assert "needs cross-validated figures" in issues["gate.metrics[0].cv"].message


def test_folds_that_cannot_be_cut_as_asked_are_refused(tmp_path: Path) -> None:
    path = write_example(
        tmp_path,
        ("problem: classification", "problem: regression"),
        ("  split: {test_size: 0.25, seed: 42, stratify: true}", "  split: {test_size: 0.25, seed: 42}"),
        ("select_by: f1", "cross_validation: {folds: 3, stratified: true, group_by: target}\nselect_by: r2"),
    )
    issues = by_field(load_error(path).issues)
    assert "cannot be stratified" in issues["cross_validation.stratified"].message
    assert "is not a feature column" in issues["cross_validation.group_by"].message


def test_a_cv_rule_on_slices_is_refused(tmp_path: Path) -> None:
    path = write_example(
        tmp_path,
        ("    - {metric: f1, min: 0.90}", "    - {metric: f1, min: 0.90, cv: mean, slice_by: region}"),
        ("select_by: f1", "cross_validation: {folds: 3}\nselect_by: f1"),
    )
    issues = load_error(path).issues
    assert any("cv and slice_by cannot be combined" in i.message for i in issues)
