"""Create a project (or reuse it), then run a pipeline in it."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_dataops.operators.pipeline import DataOpsTriggerPipelineOperator
from airflow_provider_dataops.operators.project import DataOpsCreateProjectOperator

with DAG(
    dag_id="dataops_create_project_then_run",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["dataops", "example"],
):
    create = DataOpsCreateProjectOperator(
        task_id="create_project",
        name="Sales Mart",  # path derived as "sales-mart"
        namespace="demo",  # group id or full path
        visibility="private",
        initialize_with_readme=True,
        default_branch="main",
        if_exists="skip",  # a second run reuses the project
    )
    run = DataOpsTriggerPipelineOperator(
        task_id="run_pipeline",
        project="{{ ti.xcom_pull(task_ids='create_project', key='project_path') }}",
        ref="main",
        pipeline_file="full-ci.yml",
        poll_interval=5,
    )
    create >> run
