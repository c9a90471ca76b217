"""Decide whether the best candidate may replace the champion."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from airflow_mlops.errors import GateRejectedError, PermanentError
from airflow_mlops.observability import emit
from airflow_mlops.operators.base import MlflowBaseOperator, Upstream, run_identity, upstream
from airflow_mlops.record import paths, tag

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_mlops.contracts import Evaluation, GateResult
    from airflow_mlops.gates.decision import FirstRunPolicy
    from airflow_mlops.gates.metrics import Problem


class EvaluationGateOperator(MlflowBaseOperator):
    """Thin wrapper over ``gates.decision.decide``; records the verdict where people look.

    A rejection is a normal outcome, not an error: by default the task succeeds and the
    register/promote steps skip with the reason. ``on_reject='fail'`` turns it red instead.
    Dropped candidates (failed to train) are recorded in the verdict; the best is chosen among
    the others, and when none is left the task fails for good, naming every candidate's error.
    """

    template_fields: Sequence[str] = ("evaluation",)

    def __init__(
        self,
        *,
        evaluation: Upstream[Evaluation],
        rules: list[dict[str, Any]],
        select_by: str,
        problem: Problem = "classification",
        first_run: FirstRunPolicy = "promote",
        on_reject: Literal["skip", "fail"] = "skip",
        min_test_rows: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.evaluation: Evaluation = upstream(evaluation)
        self.rules = rules
        self.select_by = select_by
        self.problem: Problem = problem
        self.first_run: FirstRunPolicy = first_run
        self.on_reject = on_reject
        self.min_test_rows = min_test_rows

    def execute(self, context: Context) -> GateResult:
        from airflow_mlops.gates.decision import decide, select_best, unchanged
        from airflow_mlops.gates.rules import rules_from_spec

        dag_id, _ = run_identity(context)
        evaluation = self.evaluation
        candidates = {c["candidate"]: c for c in evaluation["candidates"]}
        dropped = {d["candidate"]: d["error"] for d in evaluation.get("dropped") or []}
        if not candidates:
            errors = "; ".join(f"{name}: {error}" for name, error in dropped.items()) or "none was evaluated"
            raise PermanentError(f"no candidate trained, so there is nothing to gate: {errors}")
        best = select_best([(n, c["metrics"]) for n, c in candidates.items()], self.select_by, self.problem)
        champion = evaluation["champion"]
        verdict = decide(
            candidate=best,
            # the cross-validated figures (cv_<metric>_mean/_std) a rule with ``cv`` judges
            candidate_metrics={**candidates[best].get("cv_metrics", {}), **candidates[best]["metrics"]},
            champion_metrics=champion["metrics"] if champion else None,
            champion_version=champion["version"] if champion else None,
            rules=rules_from_spec(self.rules),
            problem=self.problem,
            first_run_policy=self.first_run,
            n_test=int(evaluation["n_test"]),
            min_test_rows=self.min_test_rows,
            candidate_not_computable=candidates[best].get("not_computable"),
            champion_not_computable=champion.get("not_computable") if champion else None,
            dropped=dropped,
            averaging=evaluation.get("averaging"),
        )
        if champion and champion.get("model_id") and candidates[best].get("model_id") == champion["model_id"]:
            verdict = unchanged(verdict)
        record = verdict.to_dict()
        # What `airflow-mlops promote` re-applies when a person promotes this version later.
        rules_payload = {
            "rules": self.rules,
            "select_by": self.select_by,
            "problem": self.problem,
            "first_run": self.first_run,
            "min_test_rows": self.min_test_rows,
        }
        verdict_tags = {tag.GATE_DECISION: verdict.decision, tag.GATE_SUMMARY: tag.clip(verdict.summary())}
        pipeline_run, candidate_run = evaluation["mlflow_run_id"], candidates[best]["mlflow_run_id"]
        hook = self.mlflow_hook
        with hook.session():
            hook.log_json(pipeline_run, rules_payload, paths.GATE_RULES)
            # One batch per run for its tags: each call is a round trip (a commit on a SQL store).
            for run_id, tags in (
                (pipeline_run, {**verdict_tags, tag.GATE_CANDIDATE: best}),
                (candidate_run, verdict_tags),
            ):
                hook.log_json(run_id, record, paths.GATE_VERDICT)
                hook.log_batch(run_id, tags=tags)
        for outcome in verdict.outcomes:
            self.log.info("%s %s", "PASS" if outcome.passed else "FAIL", outcome.reason)
        self.log.info("Gate verdict: %s", verdict.summary())
        emit.gate_verdict(
            dag_id, verdict.decision, {n: c["metrics"] for n, c in candidates.items()},
            champion["metrics"] if champion else None,
        )  # fmt: skip
        if verdict.decision == "reject" and self.on_reject == "fail":
            raise GateRejectedError(f"gate rejected {best}: {verdict.summary()}")
        return {"verdict": record, "candidate": candidates[best], "champion": champion}
