"""A project asset: one DAG runs the project's pipeline, another is scheduled on the asset it updates.

The producer's asset event carries the pipeline (id, URL, ref, commit, status) in its ``extra``;
the consumer reads it from its newest inlet event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_dataops.assets import create_asset
from airflow_provider_dataops.operators.pipeline import DataOpsTriggerPipelineOperator

# The same as Asset("dataops://app.dataops.live/demo/dataops-project?ref=main"): either form is
# checked and canonicalised (host, project path, ref) by the provider's ``dataops`` URI scheme.
PROJECT_MAIN = create_asset(project="demo/dataops-project", ref="main")

with DAG(
    dag_id="dataops_assets_producer",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["dataops", "example"],
):
    DataOpsTriggerPipelineOperator(
        task_id="run_pipeline",
        project="demo/dataops-project",
        ref="main",
        pipeline_file="full-ci.yml",
        outlets=[PROJECT_MAIN],  # on success: an asset event whose extra describes the pipeline
    )

with DAG(
    dag_id="dataops_assets_consumer",
    schedule=[PROJECT_MAIN],  # runs after each successful pipeline of the producer
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["dataops", "example"],
):

    @task(inlets=[PROJECT_MAIN])
    def report_pipeline(**context: Any) -> dict[str, Any]:
        """Read the newest event of the project asset: the pipeline that updated it."""
        event = context["inlet_events"][PROJECT_MAIN][-1]
        print(f"Pipeline {event.extra['pipeline_id']} ({event.extra['sha']}) ended {event.extra['status']}")
        return dict(event.extra)

    report_pipeline()
