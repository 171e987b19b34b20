"""The project asset in a real deployment: the scheduler starts the consumer DAG after the producer.

``example_dags/example_dataops_assets.py``: the producer's pipeline task has the project asset as
its outlet; the consumer is scheduled on it and returns the extra of the asset's newest event.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import pytest

from tests.deployment._api import AirflowAPI
from tests.deployment._deployment import Deployment
from tests.deployment._scenario import settled_pipelines

pytestmark = pytest.mark.deployment

PRODUCER, CONSUMER = "dataops_assets_producer", "dataops_assets_consumer"


def _asset_triggered_runs(api: AirflowAPI) -> list[dict[str, Any]]:
    runs = api.get(f"/api/v2/dags/{CONSUMER}/dagRuns", params={"limit": 100})["dag_runs"]
    return [run for run in runs if run["run_type"] == "asset_triggered"]


def _wait_for_consumer_run(api: AirflowAPI, earlier: set[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [run for run in _asset_triggered_runs(api) if run["dag_run_id"] not in earlier]
        if runs:
            return api.wait_run(CONSUMER, runs[0]["dag_run_id"], max(deadline - time.monotonic(), 1))
        time.sleep(2)
    raise AssertionError(f"the scheduler started no asset-triggered run of {CONSUMER} in {timeout:.0f}s")


def test_the_scheduler_runs_the_consumer_with_the_pipeline_in_the_asset_event(deployment: Deployment) -> None:
    api: AirflowAPI = deployment.api
    earlier = {run["dag_run_id"] for run in _asset_triggered_runs(api)}
    run_id = api.trigger(PRODUCER, prefix="assets")
    assert api.wait_run(PRODUCER, run_id, 240)["state"] == "success"
    [pipeline] = settled_pipelines(deployment.emulator, PRODUCER, run_id)

    consumer_run = _wait_for_consumer_run(api, earlier, 180)
    assert consumer_run["state"] == "success", api.all_logs(CONSUMER, consumer_run["dag_run_id"], "report_pipeline")
    path = (
        f"/api/v2/dags/{CONSUMER}/dagRuns/{quote(consumer_run['dag_run_id'])}"
        "/taskInstances/report_pipeline/xcomEntries/return_value"
    )
    assert api.get(path)["value"] == {
        "pipeline_id": pipeline["id"],
        "web_url": pipeline["web_url"],
        "ref": "main",
        "sha": pipeline["sha"],
        "status": "success",
    }
