"""Test-only DAGs for the deployment suite: a play-job task waiting on its played job, and on_running.

``deploy_play_<mode>``: ``gate`` runs a pipeline up to its manual deploy job (it stops there after
about 10 s); ``run`` plays the job, which runs ``dag_run.conf["seconds"]`` (600 by default), and
waits for the pipeline. ``deploy_on_running_<policy>``: ``run`` starts a pipeline on the ref of a
project of the test's own (``dag_run.conf["project"]``), where the test started another pipeline
first. Every template here is valid for a run without a logical date.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_dataops.operators.jobs import DataOpsPlayJobOperator
from airflow_provider_dataops.operators.pipeline import DataOpsTriggerPipelineOperator

PROJECT = "demo/dataops-project"


def _play_dag(dag_id: str, *, deferrable: bool) -> DAG:
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=16,
        tags=["deployment-test"],
    ) as dag:
        gate = DataOpsTriggerPipelineOperator(
            task_id="gate",
            project=PROJECT,
            ref="main",
            variables={"DATAOPS_EMULATOR_OUTCOME": "manual_deploy", "DATAOPS_EMULATOR_SECONDS": "10"},
            manual_policy="succeed",
            poll_interval=2,
        )
        play = DataOpsPlayJobOperator(
            task_id="run",
            project=PROJECT,
            pipeline_id="{{ ti.xcom_pull(task_ids='gate', key='pipeline_id') }}",
            job_name="Deploy to Production",
            variables={"DATAOPS_EMULATOR_SECONDS": "{{ dag_run.conf.get('seconds', 600) }}"},
            deferrable=deferrable,
            poll_interval=2,
            retry_delay=timedelta(seconds=2),
        )
        gate >> play
    return dag


def _on_running_dag(policy: str) -> DAG:
    with DAG(
        dag_id=f"deploy_on_running_{policy}",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=16,
        tags=["deployment-test"],
    ) as dag:
        DataOpsTriggerPipelineOperator(
            task_id="run",
            project="{{ dag_run.conf['project'] }}",
            ref="main",
            variables={"DATAOPS_EMULATOR_SECONDS": "20"},
            on_running=policy,
            deferrable=True,
            poll_interval=2,
        )
    return dag


deploy_play_worker = _play_dag("deploy_play_worker", deferrable=False)
deploy_play_deferred = _play_dag("deploy_play_deferred", deferrable=True)
deploy_on_running_wait = _on_running_dag("wait")
deploy_on_running_reuse = _on_running_dag("reuse")
