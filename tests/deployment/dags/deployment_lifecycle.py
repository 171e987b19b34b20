"""Test-only DAGs for the deployment suite: one DataOps task each, shaped by the run's conf.

The pipeline each try starts is described by ``dag_run.conf``: ``seconds``/``outcome`` for the
first try, ``later_seconds``/``later_outcome`` for every later try (a retry or a clear), so a test
can make the first pipeline outlive its action and the next one finish soon. Not too soon (20 s):
a deferred task that resumes within seconds of deferring can be failed by Airflow 3.3's scheduler
(see "Airflow behaviour the suite works around" in docs/deployment-tests.rst). Every template
here is valid for a run without a logical date (Airflow 3's default for API-triggered runs).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_dataops.operators.pipeline import DataOpsTriggerPipelineOperator

PROJECT = "demo/dataops-project"
VARIABLES = {
    "DATAOPS_EMULATOR_SECONDS": "{{ dag_run.conf.get('seconds', 600) if ti.try_number == 1 "
    "else dag_run.conf.get('later_seconds', 20) }}",
    "DATAOPS_EMULATOR_OUTCOME": "{{ dag_run.conf.get('outcome', 'success') if ti.try_number == 1 "
    "else dag_run.conf.get('later_outcome', 'success') }}",
    "RUN_AFTER": "{{ dag_run.run_after }}",
}


def _dag(dag_id: str, **task_kwargs: Any) -> DAG:
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=32,
        tags=["deployment-test"],
    ) as dag:
        DataOpsTriggerPipelineOperator(
            task_id="run",
            project=task_kwargs.pop("project", PROJECT),
            ref="main",
            pipeline_file="full-ci.yml",
            variables=task_kwargs.pop("variables", VARIABLES),
            poll_interval=2,
            retries=task_kwargs.pop("retries", 0),
            retry_delay=timedelta(seconds=2),
            **task_kwargs,
        )
    return dag


# Waiting on the worker, and deferred (waiting in the triggerer).
deploy_worker = _dag("deploy_worker", deferrable=False)
deploy_deferred = _dag("deploy_deferred", deferrable=True)
# Retries: a crash re-attaches; a failed pipeline gets a new one, or its failed jobs retried.
deploy_worker_retry = _dag("deploy_worker_retry", deferrable=False, retries=2)
deploy_worker_retry_failed = _dag("deploy_worker_retry_failed", deferrable=False, retries=1, retry_failed_pipeline=True)
# Limits: Airflow's execution_timeout and the operator's own timeout, each with one retry.
deploy_worker_execution_timeout = _dag(
    "deploy_worker_execution_timeout", deferrable=False, retries=1, execution_timeout=timedelta(seconds=30)
)
# Deferred: long enough that the task defers well before the deadline even on a busy worker (a
# trigger that fires at once can be failed by Airflow 3.3's scheduler, see deployment-tests.rst).
deploy_deferred_execution_timeout = _dag(
    "deploy_deferred_execution_timeout", deferrable=True, retries=1, execution_timeout=timedelta(seconds=45)
)
deploy_worker_timeout = _dag("deploy_worker_timeout", deferrable=False, retries=1, timeout=25)
deploy_deferred_timeout = _dag("deploy_deferred_timeout", deferrable=True, retries=1, timeout=40)
# Fails before any pipeline exists (no such project): the extra link must stay quiet.
deploy_no_pipeline = _dag("deploy_no_pipeline", project="demo/no-such-project")
# Streams the jobs' logs of a two-level pipeline (a child pipeline, runner-style logs) from the triggerer.
deploy_deferred_job_logs = _dag(
    "deploy_deferred_job_logs",
    deferrable=True,
    stream_job_logs=True,
    variables={**VARIABLES, "DATAOPS_EMULATOR_CHILD_OUTCOME": "success", "DATAOPS_EMULATOR_LOG_STYLE": "runner"},
)
