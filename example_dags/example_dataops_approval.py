"""A person approves a deployment in Airflow: play the pipeline's manual job, or cancel the pipeline.

The pipeline runs up to its manual deployment job (``manual_policy="succeed"``: stopping there is
the first task's success). Airflow's human-in-the-loop operator then asks a person, in the UI or
through the REST API (``PATCH .../taskInstances/approve_deployment/-1/hitlDetails`` with
``{"chosen_options": ["Approve"]}``). "Approve" plays the job and waits for the pipeline;
"Reject", or no answer within a day, cancels the pipeline.

Human-in-the-loop operators need Airflow 3.1 or later: on older Airflow this file defines no DAG
(it still parses cleanly). ``DATAOPS_EMULATOR_OUTCOME=manual_deploy`` makes the local emulator's
pipeline stop at such a gate; a real project gets it from its pipeline file (``when: manual``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import DAG, AirflowOptionalProviderFeatureException, task

from airflow_provider_dataops.hooks.dataops import DataOpsHook
from airflow_provider_dataops.operators.jobs import DataOpsPlayJobOperator
from airflow_provider_dataops.operators.pipeline import DataOpsTriggerPipelineOperator

try:
    from airflow.providers.standard.operators.hitl import HITLBranchOperator

    HUMAN_IN_THE_LOOP = True
except (ImportError, AirflowOptionalProviderFeatureException):  # Airflow before 3.1
    HUMAN_IN_THE_LOOP = False

PROJECT = "demo/dataops-project"

if HUMAN_IN_THE_LOOP:
    with DAG(
        dag_id="dataops_approval",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        tags=["dataops", "example"],
    ):
        build = DataOpsTriggerPipelineOperator(
            task_id="build",
            project=PROJECT,
            ref="main",
            variables={"DATAOPS_EMULATOR_OUTCOME": "manual_deploy"},
            manual_policy="succeed",  # the pipeline waiting at the deploy gate is this task's success
            poll_interval=5,
        )
        approval = HITLBranchOperator(
            task_id="approve_deployment",
            subject="Deploy pipeline {{ ti.xcom_pull(task_ids='build', key='pipeline_id') }} to production?",
            body="It waits at its manual job: {{ ti.xcom_pull(task_ids='build', key='pipeline_url') }}",
            options=["Approve", "Reject"],
            options_mapping={"Approve": "deploy", "Reject": "cancel_pipeline"},
            defaults=["Reject"],  # the answer when nobody answers in time
            response_timeout=timedelta(days=1),
        )
        deploy = DataOpsPlayJobOperator(
            task_id="deploy",
            project=PROJECT,
            pipeline_id="{{ ti.xcom_pull(task_ids='build', key='pipeline_id') }}",
            job_name="Deploy to Production",
            poll_interval=5,
            timeout=timedelta(hours=1),
            retries=2,  # a retry attaches to the played job: the deployment never runs twice
        )

        @task
        def cancel_pipeline(ti: Any = None) -> None:
            """Rejected: cancel the pipeline waiting at the gate, so it does not wait for ever."""
            DataOpsHook().cancel_pipeline(PROJECT, ti.xcom_pull(task_ids="build", key="pipeline_id"))

        build >> approval >> [deploy, cancel_pipeline()]
