"""Trigger a pipeline without waiting, do other work, then wait for it with the sensor."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_dataops.operators.pipeline import DataOpsTriggerPipelineOperator
from airflow_provider_dataops.sensors.pipeline import DataOpsPipelineSensor

with DAG(
    dag_id="dataops_trigger_then_sensor",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["dataops", "example"],
):
    start = DataOpsTriggerPipelineOperator(
        task_id="start_pipeline",
        project="demo/dataops-project",
        ref="main",
        pipeline_file="full-ci.yml",
        wait_for_completion=False,  # push pipeline_id to XCom and finish at once
    )
    wait = DataOpsPipelineSensor(
        task_id="wait_for_pipeline",
        project="demo/dataops-project",
        pipeline_id="{{ ti.xcom_pull(task_ids='start_pipeline', key='pipeline_id') }}",
        mode="reschedule",  # free the worker slot between pokes; or deferrable=True
        poke_interval=30,  # each poke starts a task: not less in reschedule mode (see the docs)
        timeout=60 * 60,
    )
    start >> wait
