"""A candidate's hyperparameter search (``tuning:``) and the pipeline's cross-validation (``cross_validation:``).

Both describe how the training split is cut into folds, so they live together: a tuning trial is
scored on folds cut the way ``cross_validation`` cuts them. The search space is checked here, in
the spec, so ``airflow-mlops validate`` reports a bad range at its line before any worker imports
Optuna (ml/tuning.py turns the checked space into Optuna distributions).

Annotations are evaluated as the classes are defined (no ``from __future__ import
annotations``): pydantic would otherwise compile each one from its string and evaluate it,
at every import, and every DAG file that loads a pipeline imports this module.
"""

from typing import Annotated, Any, Literal, Self

from pydantic import Discriminator, Field, Tag, model_validator

from airflow_mlops.errors import SpecValueError
from airflow_mlops.spec.models_base import StrictModel

Choice = str | int | float | bool | None


class RangeParamSpec(StrictModel):
    """``{type: float, low: 0.001, high: 10, log: true}``: a number drawn from a range."""

    type: Literal["int", "float"] = Field(..., description="int or float.")
    low: float = Field(..., description="The smallest value, included.")
    high: float = Field(..., description="The largest value, included.")
    log: bool = Field(False, description="Sample on a log scale (low must be above 0); for ranges over decades.")
    step: float | None = Field(
        None, gt=0, description="Only multiples of step above low (int default 1); not with log for floats."
    )

    @model_validator(mode="after")
    def _a_range_optuna_accepts(self) -> Self:
        problems: list[str] = []
        if self.low > self.high:
            problems.append(f"low ({self.low:g}) is greater than high ({self.high:g})")
        if self.log and self.low <= 0:
            problems.append(f"log scale needs low above 0, not {self.low:g}")
        if self.type == "int":
            problems += [
                f"{name} {value:g} is not a whole number"
                for name, value in (("low", self.low), ("high", self.high), ("step", self.step))
                if value is not None and value != int(value)
            ]
            if self.log and self.step not in (None, 1):
                problems.append("an int range on a log scale takes no step other than 1")
        elif self.log and self.step is not None:
            problems.append("a float range takes log or step, not both")
        if problems:
            raise SpecValueError(
                "; ".join(problems),
                "e.g. {type: float, low: 0.001, high: 10, log: true} or {type: int, low: 2, high: 12, step: 2}",
            )
        return self


class ChoiceParamSpec(StrictModel):
    """``{choices: [rbf, linear]}``: one of the listed values."""

    choices: list[Choice] = Field(..., min_length=1, description="The values to choose from (str, number, bool, null).")

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        seen: list[Choice] = []
        for value in self.choices:
            if any(type(value) is type(s) and value == s for s in seen):
                raise SpecValueError(f"{value!r} is listed twice in choices", "list each choice once")
            seen.append(value)
        return self


def _param_kind(value: Any) -> str:
    # A range has a type, a choice list has choices: pick by key so an error speaks of the right kind.
    if isinstance(value, dict):
        return "choice" if "choices" in value else "range"
    return "choice" if isinstance(value, ChoiceParamSpec) else "range"


ParamSpaceSpec = Annotated[
    Annotated[RangeParamSpec, Tag("range")] | Annotated[ChoiceParamSpec, Tag("choice")],
    Discriminator(_param_kind),
]


class TuningSpec(StrictModel):
    """Search this candidate's hyperparameters with Optuna before it is trained (docs/frameworks.md "Tuning").

    Each trial is scored by k-fold cross-validation on the training split (never on the test rows
    the gate judges) and recorded as an MLflow run nested under the candidate's run; the best
    parameters, merged over ``params``, train the candidate that goes on to evaluation.
    """

    space: dict[Annotated[str, Field(pattern=r"^[A-Za-z_]\w*$")], ParamSpaceSpec] = Field(
        ...,
        min_length=1,
        description="Parameter name -> {type: int|float, low, high, log, step} or {choices: [...]}; the "
        "values found are passed like params (to the estimator, or to the trainer in its params).",
    )
    metric: str | None = Field(
        None, description="The metric each trial optimises; default select_by. Its direction is the gate's."
    )
    n_trials: int = Field(20, ge=1, le=10_000, description="Trials in the whole search, a retried task's included.")
    timeout_seconds: float | None = Field(
        None, gt=0, description="Stop starting new trials after this long (per task attempt); the best so far wins."
    )
    sampler: Literal["tpe", "random", "qmc"] = Field("tpe", description="Optuna's TPE, random or quasi-Monte Carlo.")
    pruner: Literal["none", "median", "hyperband"] = Field(
        "median", description="Stop a trial after a fold when its running score is poor (Optuna's pruners)."
    )
    seed: int | None = Field(None, description="The sampler's seed; default data.split.seed.")
    folds: int = Field(3, ge=2, le=20, description="Folds each trial is scored on, cut as cross_validation cuts them.")
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Mapped tune_<candidate> tasks sharing the trials (round-robin); 1 runs them in the train "
        "task. Workers share nothing but the trial runs in MLflow.",
    )

    @model_validator(mode="after")
    def _no_idle_worker(self) -> Self:
        if self.workers > self.n_trials:
            raise SpecValueError(
                f"workers ({self.workers}) is more than n_trials ({self.n_trials}): a worker would have no trial",
                f"lower workers to at most {self.n_trials}, or raise n_trials",
            )
        return self


class CrossValidationSpec(StrictModel):
    """K-fold cross-validation of every candidate on the training split, recorded beside its test metrics.

    The gate judges the held-out test rows, and may also judge ``cv_<metric>_mean`` and its bound
    (a threshold rule with ``cv: mean`` or ``cv: bound``), so a model does not win on one lucky split.
    """

    folds: int = Field(
        5,
        ge=2,
        le=20,
        description="Number of folds. Each candidate is fitted once per fold; its run records cv_<metric>_mean "
        "and cv_<metric>_std.",
    )
    stratified: bool | None = Field(
        None,
        description="Keep each class's share in every fold; default true for classification, false for regression.",
    )
    group_by: str | None = Field(
        None,
        description="A feature column whose rows stay together: no group is in both a fold's training and scoring "
        "rows (e.g. a customer or a site).",
    )
    shuffle: bool = Field(True, description="Shuffle rows (or groups) before cutting folds; false keeps file order.")
    seed: int | None = Field(None, description="The shuffle's seed; default data.split.seed.")
    n_jobs: int = Field(
        1,
        ge=1,
        le=32,
        description="Folds fitted at once, in threads of the train task (joblib); the figures are the same. "
        "Not for tuning trials, whose folds run in turn so a pruner can stop them.",
    )

    def splitter(self, problem: str, default_seed: int) -> dict[str, Any]:
        """The fold settings ml/cross_validation.py takes, with the defaults resolved."""
        return {
            "folds": self.folds,
            "stratified": self.stratified if self.stratified is not None else problem == "classification",
            "group_by": self.group_by,
            "shuffle": self.shuffle,
            "seed": self.seed if self.seed is not None else default_seed,
        }
