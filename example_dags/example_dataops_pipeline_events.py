"""Start a DAG whenever a pipeline of another project succeeds, whoever started that pipeline.

An asset watched by ``DataOpsPipelineEventTrigger`` gets one asset event per pipeline that
succeeds on ``main`` of ``demo/ingestion``: started by a schedule, a push, a person or another
tool. Each event starts this DAG; its task reads the pipeline from the triggering event.
Airflow 3 only (Airflow 2 has no ``AssetWatcher``): on Airflow 2 this file defines no DAG.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_dataops.triggers.events import HAS_EVENT_TRIGGERS, DataOpsPipelineEventTrigger

if HAS_EVENT_TRIGGERS:
    from airflow.sdk import Asset, AssetWatcher

    ingestion_succeeded = Asset(
        name="dataops_ingestion_succeeded",
        watchers=[
            AssetWatcher(
                name="dataops_ingestion_pipelines",
                trigger=DataOpsPipelineEventTrigger(
                    project="demo/ingestion",
                    ref="main",
                    statuses=["success"],
                    poll_interval=10,
                ),
            )
        ],
    )

    with DAG(
        dag_id="dataops_pipeline_events",
        schedule=[ingestion_succeeded],
        tags=["dataops", "example"],
    ):

        @task
        def transform_new_data(**context: Any) -> list[int]:
            """Read the pipeline(s) behind the asset event(s) that started this run."""
            events = context["triggering_asset_events"].get(ingestion_succeeded, [])  # none when run by hand
            pipelines = [event.extra["payload"] for event in events]
            for pipeline in pipelines:
                print(f"Pipeline {pipeline['id']} {pipeline['status']} on {pipeline['ref']}: {pipeline['web_url']}")
            return [pipeline["id"] for pipeline in pipelines]

        transform_new_data()
