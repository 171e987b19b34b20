"""Run a pipeline up to its manual deployment gate, then approve the deployment from Airflow.

The first task triggers the pipeline and succeeds when it stops at the manual job
(``manual_policy="succeed"``); the second plays that job and waits for the pipeline to finish.
Put an approval between them (a sensor, a human-in-the-loop operator) to gate the deployment.
``DATAOPS_EMULATOR_OUTCOME=manual_deploy`` makes the local emulator's pipeline end in such a gate;
a real project gets it from its pipeline file (``when: manual``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_dataops.operators.jobs import DataOpsPlayJobOperator
from airflow_provider_dataops.operators.pipeline import DataOpsTriggerPipelineOperator

with DAG(
    dag_id="dataops_manual_gate",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["dataops", "example"],
):
    build = DataOpsTriggerPipelineOperator(
        task_id="build",
        project="demo/dataops-project",
        ref="main",
        variables={"DATAOPS_EMULATOR_OUTCOME": "manual_deploy"},
        manual_policy="succeed",  # the pipeline waiting at the deploy gate is this task's success
        poll_interval=5,
    )
    deploy = DataOpsPlayJobOperator(
        task_id="deploy",
        project="demo/dataops-project",
        pipeline_id="{{ ti.xcom_pull(task_ids='build', key='pipeline_id') }}",
        job_name="Deploy to Production",
        variables={"APPROVED_BY": "airflow"},  # variables for this job only
        poll_interval=5,
        timeout=timedelta(hours=1),
        retries=2,  # a retry attaches to the played job: the deployment never runs twice
    )
    build >> deploy
