"""What decides a promotion: the gate's metric rules, the registry aliases, a person's approval.

Annotations are evaluated as the classes are defined (no ``from __future__ import
annotations``): pydantic would otherwise compile each one from its string and evaluate it,
at every import, and every DAG file that loads a pipeline imports this module.
"""

from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, Discriminator, Field, Tag, model_validator

from airflow_mlops.errors import SpecValueError
from airflow_mlops.spec.models_base import StrictModel


def _check_slice_column(value: str) -> str:
    """A column name that keeps slice keys (``f1[region=north]``) unambiguous."""
    if not value:
        raise SpecValueError("the slice column name is empty", "name a column of the test set, e.g. slice_by: region")
    if "=" in value:
        # f1[a=b=c] would be column 'a', value 'b=c' as well as column 'a=b', value 'c'.
        raise SpecValueError(
            f"slice column {value!r} contains '=', which slice metric names use between column and value",
            "rename the column in the data (or in a prepare step) to a name without '='",
        )
    return value


SliceColumn = Annotated[str, AfterValidator(_check_slice_column)]


class ThresholdRuleSpec(StrictModel):
    """``{metric: f1, min: 0.9}``: an absolute bound on the challenger."""

    metric: str
    min: float | None = None
    max: float | None = None
    slice_by: SliceColumn | None = Field(
        None, description="Apply the rule on every value of this column of the test set, e.g. a region or segment."
    )
    min_slice_rows: int = Field(10, ge=1, description="Slices with fewer test rows are reported, not judged.")
    cv: Literal["mean", "bound"] | None = Field(
        None,
        description="Judge the cross-validated figure instead of the test set's: mean (cv_<metric>_mean) or bound "
        "(the mean one fold standard deviation towards worse: mean - std, or mean + std for lower-is-better "
        "metrics). Needs cross_validation.",
    )

    @model_validator(mode="after")
    def _has_bound(self) -> Self:
        if self.min is None and self.max is None:
            raise SpecValueError(
                "an absolute rule needs 'min' or 'max' (or use compare_to: champion)",
                f"e.g. {{metric: {self.metric}, min: 0.9}}, or {{metric: {self.metric}, compare_to: champion, "
                "max_drop: 0.01}",
            )
        if self.cv is not None and self.slice_by is not None:
            raise SpecValueError(
                "cv and slice_by cannot be combined: folds are not sliced",
                "write one rule on the cross-validated figure and another on the slices",
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise SpecValueError(
                f"min ({self.min}) is greater than max ({self.max})",
                "no score can pass this rule; swap the two bounds",
            )
        return self


class ChampionRuleSpec(StrictModel):
    """``{metric: f1, compare_to: champion, max_drop: 0.005}``: challenger vs current champion."""

    metric: str
    compare_to: Literal["champion"]
    max_drop: float | None = Field(None, ge=0)
    min_gain: float | None = Field(None, ge=0)
    relative: bool = False
    slice_by: SliceColumn | None = Field(
        None, description="Apply the rule on every value of this column of the test set, e.g. a region or segment."
    )
    min_slice_rows: int = Field(10, ge=1, description="Slices with fewer test rows are reported, not judged.")

    @model_validator(mode="after")
    def _one_tolerance(self) -> Self:
        if self.max_drop is not None and self.min_gain is not None:
            raise SpecValueError(
                "set either max_drop or min_gain, not both",
                "max_drop: how much worse than the champion a challenger may be; "
                "min_gain: how much better it must be; keep the one you mean",
            )
        return self


class SliceGapRuleSpec(StrictModel):
    """``{metric: recall, slice_by: region, max_slice_gap: 0.1}``: the best slice beats the worst by at most 0.1."""

    metric: str
    slice_by: SliceColumn = Field(..., description="The column whose slices are compared, e.g. a region or segment.")
    max_slice_gap: float = Field(..., ge=0, description="The largest allowed difference between best and worst slice.")
    min_slice_rows: int = Field(10, ge=1, description="Slices with fewer test rows are reported, not compared.")


def _rule_kind(value: Any) -> str:
    # Pick the rule type from its keys so errors speak about the right kind of rule
    # instead of listing why the value matched none.
    if isinstance(value, dict):
        if "max_slice_gap" in value:
            return "slice_gap"
        return "champion" if "compare_to" in value else "threshold"
    if isinstance(value, SliceGapRuleSpec):
        return "slice_gap"
    return "champion" if isinstance(value, ChampionRuleSpec) else "threshold"


GateRuleSpec = Annotated[
    Annotated[ChampionRuleSpec, Tag("champion")]
    | Annotated[ThresholdRuleSpec, Tag("threshold")]
    | Annotated[SliceGapRuleSpec, Tag("slice_gap")],
    Discriminator(_rule_kind),
]


class GateSpec(StrictModel):
    """What the best candidate must satisfy before it may become the champion."""

    metrics: list[GateRuleSpec] = Field(..., min_length=1)
    first_run: Literal["promote", "fail"] = "promote"
    on_reject: Literal["skip", "fail"] = Field(
        "skip", description="skip: the run succeeds and promotion is skipped; fail: the run fails."
    )
    min_test_rows: int = Field(0, ge=0)


class RegistrySpec(StrictModel):
    """Which registered model the champion belongs to, and the aliases that name it."""

    model_name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    alias: str = Field("champion", pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$")
    previous_alias: str = Field("previous", pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$")
    on_conflict: Literal["refuse", "reevaluate"] = Field(
        "refuse",
        description="When the champion moved after the gate compared against it: refuse to promote, "
        "or re-apply the gate against the new champion on the same test rows.",
    )

    @model_validator(mode="after")
    def _distinct_aliases(self) -> Self:
        if self.alias == self.previous_alias:
            raise SpecValueError(
                "alias and previous_alias must differ",
                "previous_alias names the champion being replaced, kept for rollback; rename one of them "
                "(the defaults are 'champion' and 'previous')",
            )
        return self


class ApprovalSpec(StrictModel):
    """A person signs off between a passing gate and the promotion (Airflow's HITL approval).

    ``approval: manual`` is shorthand for ``{mode: manual}``. Without a timeout the run
    waits for an answer; with one, silence counts as a rejection, never as an approval.
    """

    mode: Literal["none", "manual"] = "none"
    approvers: list[str] = Field(
        default_factory=list, description="Airflow user ids allowed to answer; empty: any user with access."
    )
    timeout_hours: float | None = Field(
        None, gt=0, le=24 * 365, description="Reject when nobody answers within this time."
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"mode": value} if isinstance(value, str) else value
