"""Trigger a pipeline that starts a child pipeline, and stream every job's log into the task log."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_dataops.operators.pipeline import DataOpsTriggerPipelineOperator

with DAG(
    dag_id="dataops_job_logs",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["dataops", "example"],
):
    DataOpsTriggerPipelineOperator(
        task_id="run_pipeline_with_logs",
        project="demo/dataops-project",
        ref="main",
        pipeline_file="full-ci.yml",
        # The emulator's stand-ins for a pipeline file whose trigger job starts a child pipeline, and
        # for a GitLab runner's output (colours, sections, progress); drop them against DataOps.live.
        variables={"DATAOPS_EMULATOR_CHILD_OUTCOME": "success", "DATAOPS_EMULATOR_LOG_STYLE": "runner"},
        stream_job_logs=True,  # each job's new lines, as "[job name] line", every poll_interval
        max_job_log_bytes=256 * 1024,  # per job; then one line with the job's URL
        poll_interval=15,
    )
