"""Quick start: run a DataOps.live project's pipeline and wait for its result.

Point the ``dataops_default`` connection at your account first
(see the Quick start in the docs).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_dataops.operators.pipeline import (
    DataOpsTriggerPipelineOperator,
)

with DAG(
    dag_id="dataops_quickstart",
    schedule=None,  # runs when triggered; "0 2 * * *" would run nightly
    start_date=datetime(2026, 1, 1),
    catchup=False,
):
    DataOpsTriggerPipelineOperator(
        task_id="run_pipeline",
        project="demo/dataops-project",  # your project's path or id
        ref="main",
        pipeline_file="full-ci.yml",
        poll_interval=60,  # pipelines take minutes: poll gently
        timeout=timedelta(hours=2),  # cancels a pipeline running longer
        retries=2,  # a retry finds its pipeline, never starts another
    )
