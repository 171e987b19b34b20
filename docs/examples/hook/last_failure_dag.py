"""A task that lists the failed jobs of the last failed pipeline on ``main``, with the hook."""

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_dataops.hooks.dataops import DataOpsHook


@task
def last_failure() -> list[str]:
    hook = DataOpsHook()
    project = "demo/dataops-project"
    failed = next(hook.list_pipelines(project, ref="main", status="failed"), None)
    if failed is None:
        return []
    jobs = hook.list_pipeline_jobs(project, failed["id"], scope="failed")
    return [f"{job['name']}: {job.get('failure_reason')}" for job in jobs]


with DAG(dag_id="dataops_last_failure", schedule=None, start_date=datetime(2026, 1, 1)):
    last_failure()
