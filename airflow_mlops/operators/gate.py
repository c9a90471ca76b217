"""Decide whether the best candidate may replace the champion."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_mlops.exceptions import GateRejectedError
from airflow_mlops.operators.base import MlflowOperatorMixin, MlopsBaseOperator
from airflow_mlops.record import paths, tag

if TYPE_CHECKING:
    from airflow.sdk import Context


class EvaluationGateOperator(MlflowOperatorMixin, MlopsBaseOperator):
    """Thin wrapper over ``gates.decision.decide``; records the verdict where people look.

    A rejection is a normal outcome, not an error: by default the task succeeds and the
    register/promote steps skip with the reason. ``on_reject='fail'`` turns it red instead.
    """

    template_fields: Sequence[str] = ("evaluation",)

    def __init__(
        self,
        *,
        evaluation: Any,
        rules: list[dict[str, Any]],
        select_by: str,
        problem: str = "classification",
        first_run: str = "promote",
        on_reject: str = "skip",
        min_test_rows: int = 0,
        mlflow_conn_id: str = "mlflow_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.evaluation = evaluation
        self.rules = rules
        self.select_by = select_by
        self.problem = problem
        self.first_run = first_run
        self.on_reject = on_reject
        self.min_test_rows = min_test_rows
        self.mlflow_conn_id = mlflow_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from mlflow.entities import RunTag

        from airflow_mlops.gates.decision import decide, select_best
        from airflow_mlops.gates.rules import rules_from_spec

        evaluation = self.evaluation
        candidates = {c["candidate"]: c for c in evaluation["candidates"]}
        best = select_best([(n, c["metrics"]) for n, c in candidates.items()], self.select_by, self.problem)  # type: ignore[arg-type]
        champion = evaluation["champion"]
        verdict = decide(
            candidate=best,
            candidate_metrics=candidates[best]["metrics"],
            champion_metrics=champion["metrics"] if champion else None,
            champion_version=champion["version"] if champion else None,
            rules=rules_from_spec(self.rules),
            problem=self.problem,  # type: ignore[arg-type]
            first_run_policy=self.first_run,  # type: ignore[arg-type]
            n_test=int(evaluation["n_test"]),
            min_test_rows=self.min_test_rows,
        )
        verdict_dict = verdict.to_dict()
        # What `airflow-mlops promote` re-applies when a person promotes this version later.
        rules_payload = {
            "rules": self.rules,
            "select_by": self.select_by,
            "problem": self.problem,
            "first_run": self.first_run,
            "min_test_rows": self.min_test_rows,
        }
        verdict_json = json.dumps(verdict_dict, indent=2)
        verdict_tags = {tag.GATE_DECISION: verdict.decision, tag.GATE_SUMMARY: tag.clip(verdict.summary())}
        pipeline_run, candidate_run = evaluation["mlflow_run_id"], candidates[best]["mlflow_run_id"]
        hook = self.mlflow_hook
        with hook.session():
            client = hook.get_client()
            client.log_text(pipeline_run, json.dumps(rules_payload, indent=2), paths.GATE_RULES)
            # One call per run for its tags: each call is a round trip (a commit on a SQL store).
            for run_id, tags in (
                (pipeline_run, {**verdict_tags, tag.GATE_CANDIDATE: best}),
                (candidate_run, verdict_tags),
            ):
                client.log_text(run_id, verdict_json, paths.GATE_VERDICT)
                client.log_batch(run_id, tags=[RunTag(key, value) for key, value in tags.items()])
        for outcome in verdict.outcomes:
            self.log.info("%s %s", "PASS" if outcome.passed else "FAIL", outcome.reason)
        self.log.info("Gate verdict: %s", verdict.summary())
        if not verdict.passed and self.on_reject == "fail":
            raise GateRejectedError(f"gate rejected {best}: {verdict.summary()}")
        return {"verdict": verdict_dict, "candidate": candidates[best], "champion": champion}
