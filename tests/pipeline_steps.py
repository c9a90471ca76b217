"""The retraining template's steps in run order, written out once for every test that pins them.

Kept apart from ``RetrainingPipelineSpec.step_names()`` on purpose: a test that compared the
factory with the factory's own list would pass whatever the factory built.
"""

from __future__ import annotations

RETRAINING_STEPS = (
    "resolve_data",
    "validate_data",
    "prepare_data",
    "train",
    "evaluate",
    "gate",
    "serving_check",
    "register",
    "promote",
    "close_runs",
)


def retraining_steps(*, serving_check: bool = True, approval: bool = False) -> list[str]:
    """The retraining DAG's task ids in run order: ``serving_check`` unless disabled, ``approve`` when manual."""
    steps = [s for s in RETRAINING_STEPS if serving_check or s != "serving_check"]
    if approval:
        steps.insert(steps.index("register"), "approve")
    return steps
