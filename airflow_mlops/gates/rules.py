"""Gate rules as the spec serialises them (plain dicts, in XCom and gate/rules.json) -> rule objects.

Both the gate task and ``airflow-mlops promote``'s re-check read rules from their serialised form,
so they must parse them the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_mlops.gates.decision import ChampionRule, Rule, ThresholdRule
from airflow_mlops.gates.slices import SliceGapRule


def rules_from_spec(rules: Sequence[dict[str, Any]]) -> list[Rule]:
    """Gate rules as the spec serialises them (plain dicts) -> pure rule objects."""
    parsed: list[Rule] = []
    for rule in rules:
        if rule.get("max_slice_gap") is not None:
            parsed.append(SliceGapRule(rule["metric"], str(rule["slice_by"]), float(rule["max_slice_gap"])))
        elif rule.get("compare_to") == "champion":
            parsed.append(
                ChampionRule(
                    rule["metric"], rule.get("max_drop"), rule.get("min_gain"), bool(rule.get("relative")),
                    slice_by=rule.get("slice_by"),
                )
            )  # fmt: skip
        else:
            parsed.append(
                ThresholdRule(
                    rule["metric"], rule.get("min"), rule.get("max"), slice_by=rule.get("slice_by"), cv=rule.get("cv")
                )
            )
    return parsed
