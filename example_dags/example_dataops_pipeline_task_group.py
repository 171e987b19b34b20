"""A DataOps.live pipeline as one Airflow task per job: see which job failed, and repair it by clearing its task."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_dataops.operators.task_group import DataOpsPipelineTaskGroup

with DAG(
    dag_id="dataops_pipeline_task_group",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["dataops", "example"],
    params={"fail_job": ""},  # the emulator fails the job named here, to rehearse a repair
):
    nightly = DataOpsPipelineTaskGroup(
        group_id="nightly",
        project="demo/dataops-project",
        ref="main",
        pipeline_file="full-ci.yml",
        jobs=["Initialise Pipeline", "Ingest Source Data", "Build all Models", "Generate Docs"],
        variables={"DATAOPS_EMULATOR_FAIL_JOB": "{{ params.fail_job or '' }}"},
        deferrable=True,  # job tasks wait in the triggerer, sharing one poll of the project
        poll_interval=15,
        job_kwargs={"execution_timeout": timedelta(hours=2)},  # a job task's limit: its job is canceled
    )
