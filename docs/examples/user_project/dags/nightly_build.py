"""Nightly: build the sales mart with its DataOps.live pipeline and wait for the result."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_dataops.operators.pipeline import DataOpsTriggerPipelineOperator

with DAG(
    dag_id="nightly_build",
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
):
    DataOpsTriggerPipelineOperator(
        task_id="build_sales_mart",
        project="demo/dataops-project",
        ref="main",
        pipeline_file="full-ci.yml",
        variables={"DATAOPS_TARGET": "{{ dag_run.conf.get('target', 'prod') }}"},
        poll_interval=60,
        timeout=timedelta(hours=2),
    )
