"""The last step of every template: end this DAG run's MLflow runs to match how the DAG run went.

Without it the parent pipeline run stays RUNNING for good, on success and on failure alike, so a
status filter in MLflow cannot tell a good run from a bad one; and a run whose task died (a
read-only store, a killed worker) is never closed. The task is an Airflow *teardown*: it runs
whatever happened upstream, and its own outcome is ignored when Airflow computes the DAG run's
state (``DagRun._tis_for_dagrun_state``), so it can neither fail a good run nor hide a failed one.
A cleared and re-run DAG run runs it again, which updates the status again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_mlops.operators.base import MlflowBaseOperator, run_identity
from airflow_mlops.record import tag

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Task states that make the DAG run fail, so the pipeline run ends FAILED.
FAILED_STATES = frozenset({"failed", "upstream_failed"})


class CloseMlflowRunsOperator(MlflowBaseOperator):
    """Ends the pipeline run FINISHED or FAILED (with the failed tasks named) and closes stray RUNNING runs."""

    ui_color = "#eeeeee"

    def __init__(self, *, experiment: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.experiment = experiment

    def execute(self, context: Context) -> dict[str, Any]:
        dag_id, run_id = run_identity(context)
        failed = self._failed_tasks(context, dag_id, run_id)
        hook = self.mlflow_hook
        with hook.session():
            experiment = hook.get_client().get_experiment_by_name(self.experiment)
            if experiment is None:  # the run failed before anything reached MLflow
                return {"pipeline_run": None, "status": None, "failed_tasks": failed, "closed": []}
            experiment_id = str(experiment.experiment_id)
            pipeline = hook.find_run(experiment_id, tag.identity(dag_id, run_id, tag.ROLE_PIPELINE))
            status = "FAILED" if failed else "FINISHED"
            if pipeline is not None:
                if failed:
                    hook.fail_run(pipeline.info.run_id, f"failed tasks: {', '.join(failed)}")
                else:
                    hook.finish_run(pipeline.info.run_id)
            closed = hook.close_abandoned_runs(
                experiment_id, tag.identity(dag_id, run_id), f"still RUNNING when DAG run {run_id} ended"
            )
        for stray in closed:
            self.log.warning("Closed MLflow run %s, left RUNNING by a task of this DAG run", stray)
        self.log.info("DAG run %s: pipeline run %s", run_id, status if pipeline is not None else "absent")
        return {
            "pipeline_run": pipeline.info.run_id if pipeline is not None else None,
            "status": status if pipeline is not None else None,
            "failed_tasks": failed,
            "closed": closed,
        }

    def _failed_tasks(self, context: Context, dag_id: str, run_id: str) -> list[str]:
        """The other tasks of this DAG run that failed, as Airflow's supervisor reports them.

        Teardowns (``check_champion_age``, this task itself) are left out, as Airflow leaves them
        out of the DAG run's state: an SLA alert that could not be delivered does not fail the run.
        """
        ti: Any = context["ti"]
        others = [task.task_id for task in self.dag.tasks if task.task_id != self.task_id and not task.is_teardown]
        states = ti.get_task_states(dag_id=dag_id, task_ids=others, run_ids=[run_id])
        by_task = states.get(run_id, {}) if isinstance(states, dict) else {}
        return sorted(str(task) for task, state in by_task.items() if str(state) in FAILED_STATES)
