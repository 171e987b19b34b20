"""Run a pipeline, download the dbt ``run_results.json`` its MATE job published, and read it in a task.

The trigger task pushes the pipeline's ``pipeline_id`` and its ``test_summary``; the artifact task
finds the job by name in that pipeline and streams the file to disk; the last task summarises it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_dataops.operators.artifacts import DataOpsJobArtifactOperator
from airflow_provider_dataops.operators.pipeline import DataOpsTriggerPipelineOperator

#: A local directory every task of the run can read. With several workers, use a shared volume, or
#: an object storage URL such as "s3://bucket/dataops/" (with destination_conn_id) instead.
ARTIFACTS_DIR = os.environ.get("DATAOPS_ARTIFACTS_DIR", os.path.join(tempfile.gettempdir(), "dataops-artifacts"))

with DAG(
    dag_id="dataops_artifacts",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["dataops", "example"],
):
    run_pipeline = DataOpsTriggerPipelineOperator(
        task_id="run_pipeline",
        project="demo/dataops-project",
        ref="main",
        pipeline_file="full-ci.yml",
        poll_interval=5,
    )

    download_run_results = DataOpsJobArtifactOperator(
        task_id="download_run_results",
        project="demo/dataops-project",
        job_name="Generate Docs",
        pipeline_id="{{ ti.xcom_pull(task_ids='run_pipeline', key='pipeline_id') }}",
        artifact_path="target/run_results.json",
        destination=ARTIFACTS_DIR + "/{{ run_id }}/run_results.json",
        retries=2,  # a download changes nothing remotely: a retry simply downloads again
    )

    @task
    def summarize_run_results(downloaded: dict[str, Any]) -> dict[str, Any]:
        """Count the dbt results by status and name the ones that did not succeed."""
        results = json.loads(Path(downloaded["path"]).read_text())["results"]
        return {
            "pipeline_id": downloaded["pipeline_id"],
            "sha256": downloaded["sha256"],
            "statuses": dict(Counter(result["status"] for result in results)),
            "not_successful": [result["unique_id"] for result in results if result["status"] != "success"],
        }

    run_pipeline >> download_run_results
    # The operator's return value (an XComArg here) reaches the task as the dict it returned.
    summarize_run_results(download_run_results.output)  # type: ignore[arg-type]
