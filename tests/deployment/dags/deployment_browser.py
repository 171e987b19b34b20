"""The browser test's DAG: one pipeline through the connection that the test creates in the UI's form.

It waits on the worker (not deferred) and its pipeline is short: the test needs a finished task.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_dataops.operators.pipeline import DataOpsTriggerPipelineOperator

#: Created by tests/deployment/test_browser.py through the Add Connection form.
CONN_ID = "dataops_browser"

with DAG(
    dag_id="deploy_browser",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["deployment-test"],
):
    DataOpsTriggerPipelineOperator(
        task_id="trigger_pipeline",
        dataops_conn_id=CONN_ID,
        project="demo/dataops-project",
        ref="main",
        variables={"DATAOPS_EMULATOR_SECONDS": "3"},
        poll_interval=1,
        deferrable=False,
    )
