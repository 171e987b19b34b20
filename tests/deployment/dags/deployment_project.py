"""Test-only DAGs for the deployment suite: one DataOpsCreateProjectOperator each.

The run's conf names the project (``name``), so every scenario has its own. ``if_exists="fail"``
throughout: a project this task instance created must count as created, on a retry and after a
clear; any other must fail the task. The read timeout is short (3 s), so the emulator's latency
faults can make a create take effect after the task gave up on its answer. The retry waits 45 s,
longer than those faults (30 s), so the retry finds the project the lost create made.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_dataops.operators.project import DataOpsCreateProjectOperator


def _dag(dag_id: str, **task_kwargs: Any) -> DAG:
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=32,
        tags=["deployment-test"],
    ) as dag:
        DataOpsCreateProjectOperator(
            task_id="create",
            name="{{ dag_run.conf['name'] }}",
            namespace="demo",
            if_exists="fail",
            hook_params={"timeout": 3},
            **task_kwargs,
        )
    return dag


deploy_project = _dag("deploy_project", retries=0)
deploy_project_retry = _dag("deploy_project_retry", retries=1, retry_delay=timedelta(seconds=45))
