"""Trigger a pipeline and wait for it in the triggerer, freeing the worker slot."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_dataops.operators.pipeline import DataOpsTriggerPipelineOperator

with DAG(
    dag_id="dataops_deferrable",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["dataops", "example"],
):
    DataOpsTriggerPipelineOperator(
        task_id="run_pipeline_deferred",
        project="demo/dataops-project",
        ref="main",
        pipeline_file="full-ci.yml",
        deferrable=True,  # or set [operators] default_deferrable = True
        poll_interval=15,  # the triggerer reads the pipeline this often
        execution_timeout=timedelta(hours=3),  # honoured while deferred: the pipeline is canceled
    )
