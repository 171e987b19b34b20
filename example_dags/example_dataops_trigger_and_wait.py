"""Trigger a DataOps.live pipeline and wait for it on the worker: the provider's main example.

``make demo`` runs this DAG against the local emulator with ``airflow dags test``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_dataops.operators.pipeline import DataOpsTriggerPipelineOperator

with DAG(
    dag_id="dataops_trigger_and_wait",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["dataops", "example"],
):
    run_pipeline = DataOpsTriggerPipelineOperator(
        task_id="run_pipeline",
        project="demo/dataops-project",  # numeric id or full path
        ref="main",
        pipeline_file="full-ci.yml",
        # A run started from the REST API or by an asset may have no logical date: fall back to the
        # moment the run was due, so the template renders for every kind of run.
        variables={"DATAOPS_TARGET": "{{ (dag_run.logical_date or dag_run.run_after) | ds }}", "FULL_REFRESH": False},
        poll_interval=5,  # real pipelines take minutes: 30 s or more is kinder to the API
        timeout=timedelta(hours=2),  # the pipeline is canceled if it runs longer
        retries=2,  # a retry re-attaches to the same pipeline instead of starting another
    )
