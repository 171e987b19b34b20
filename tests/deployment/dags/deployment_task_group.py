"""The deployment suite's pipeline task groups: the emulator's four jobs as tasks, on the worker and deferred.

``dag_run.conf`` shapes the pipeline: ``seconds`` (default 60) and ``fail_job``, a job the emulator
fails (``DATAOPS_EMULATOR_FAIL_JOB``). Jobs last a quarter of 80 % of ``seconds`` each, long enough
for a deferred job task to defer before its job ends (see docs/deployment-tests.rst on resumes
within seconds of deferring).
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_dataops.operators.task_group import DataOpsPipelineTaskGroup

JOBS = ["Initialise Pipeline", "Ingest Source Data", "Build all Models", "Generate Docs"]
VARIABLES = {
    "DATAOPS_EMULATOR_SECONDS": "{{ dag_run.conf.get('seconds', 60) }}",
    "DATAOPS_EMULATOR_FAIL_JOB": "{{ dag_run.conf.get('fail_job', '') }}",
}

for name, deferrable in (("worker", False), ("deferred", True)):
    with DAG(
        dag_id=f"deploy_group_{name}",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=8,
        tags=["deployment-test"],
    ):
        DataOpsPipelineTaskGroup(
            group_id="pipeline",
            project="demo/dataops-project",
            ref="main",
            pipeline_file="full-ci.yml",
            jobs=JOBS,
            variables=VARIABLES,
            poll_interval=2,
            deferrable=deferrable,
        )
