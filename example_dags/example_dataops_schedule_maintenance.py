"""Pause a DataOps.live pipeline schedule around a maintenance window, then run it at once.

The schedule must not start pipelines while the warehouse is under maintenance: pause it, do the
maintenance, resume it, and run it now to catch up on the run the window skipped. Pause and resume
change nothing when the schedule is already in that state, so the tasks can be retried or
cleared freely; a play starts a new pipeline each time it runs.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_dataops.operators.schedules import DataOpsPipelineScheduleOperator

PROJECT = "demo/dataops-project"
#: The schedule's id, as DataOps.live shows it; a run's conf ``{"schedule_id": ...}`` picks another.
SCHEDULE_ID = "{{ dag_run.conf.get('schedule_id', 1) }}"

with DAG(
    dag_id="dataops_schedule_maintenance",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["dataops", "example"],
):
    pause = DataOpsPipelineScheduleOperator(
        task_id="pause_schedule", project=PROJECT, schedule_id=SCHEDULE_ID, action="pause"
    )

    @task
    def maintenance() -> None:
        """The window's work (a warehouse resize, a credential rotation) goes here."""

    resume = DataOpsPipelineScheduleOperator(
        task_id="resume_schedule", project=PROJECT, schedule_id=SCHEDULE_ID, action="resume"
    )
    run_now = DataOpsPipelineScheduleOperator(
        task_id="run_schedule_now", project=PROJECT, schedule_id=SCHEDULE_ID, action="play"
    )
    pause >> maintenance() >> resume >> run_now
