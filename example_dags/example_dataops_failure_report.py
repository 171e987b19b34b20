"""A pipeline that fails: the task fails with the pipeline URL and logs each failed job.

The emulator fails a pipeline on request (``DATAOPS_EMULATOR_OUTCOME=failed``); against
DataOps.live, any failing pipeline produces the same report.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_dataops.operators.pipeline import DataOpsTriggerPipelineOperator

with DAG(
    dag_id="dataops_failure_report",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["dataops", "example"],
):
    DataOpsTriggerPipelineOperator(
        task_id="run_failing_pipeline",
        project="demo/dataops-project",
        ref="main",
        pipeline_file="full-ci.yml",
        variables={"DATAOPS_EMULATOR_OUTCOME": "failed"},
        poll_interval=5,
        failure_log_lines=10,  # lines of each failed job's log copied into the task log
    )
