"""The asset-watcher example: pipelines started straight on the emulator start its DAG, once each.

``example_dataops_pipeline_events`` watches ``demo/ingestion`` (created here, so no other test's
pipeline reaches it). The trigger has been polling since the deployment started and saw a 404
until now; a triggerer restart in the middle must neither replay the first pipeline nor miss the
second, which finishes around the restart.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import pytest

from tests.deployment._deployment import Deployment
from tests.deployment._processes import wait_for

pytestmark = pytest.mark.deployment

DAG_ID = "dataops_pipeline_events"
ASSET = "dataops_ingestion_succeeded"
PROJECT = "demo/ingestion"
#: The example's poll interval is 10 s; a run needs a poll, the scheduler and a short task.
RUN_TIMEOUT = 120


def _create_project(d: Deployment) -> None:
    (demo,) = [n for n in d.emulator.api("GET", "/namespaces", params={"search": "demo"}) if n["full_path"] == "demo"]
    d.emulator.api("POST", "/projects", json={"name": "ingestion", "path": "ingestion", "namespace_id": demo["id"]})


def _wait_until_watching(d: Deployment) -> None:
    """The watcher has read the project's pipeline list once, so it started before what follows."""
    listing = f"/api/v4/projects/{quote(PROJECT, safe='')}/pipelines"

    def polled() -> bool:
        return any(r["method"] == "GET" and r["path"] == listing for r in d.emulator.requests())

    wait_for(polled, RUN_TIMEOUT, f"the watcher's first poll of {PROJECT}", interval=1)


def _start_pipeline(d: Deployment, seconds: float) -> int:
    """Start a pipeline as a schedule or another tool does: straight on the emulator, not via Airflow."""
    body = {"ref": "main", "variables": [{"key": "DATAOPS_EMULATOR_SECONDS", "value": str(seconds)}]}
    return int(d.emulator.api("POST", f"/projects/{quote(PROJECT, safe='')}/pipeline", json=body)["id"])


def _asset_events(d: Deployment) -> list[dict[str, Any]]:
    (asset,) = d.api.get("/api/v2/assets", params={"name_pattern": ASSET})["assets"]
    events = d.api.get("/api/v2/assets/events", params={"asset_id": asset["id"], "limit": 100})["asset_events"]
    return sorted(events, key=lambda event: event["id"])


def _runs(d: Deployment) -> list[dict[str, Any]]:
    return list(d.api.get(f"/api/v2/dags/{DAG_ID}/dagRuns", params={"limit": 100})["dag_runs"])


def _wait_for_run_of(d: Deployment, pipeline_id: int) -> dict[str, Any]:
    """The finished DAG run whose triggering asset event carries ``pipeline_id``."""

    def finished_run() -> dict[str, Any] | None:
        for run in _runs(d):
            events = d.api.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run['dag_run_id'])}/upstreamAssetEvents")
            ids = [event["extra"]["payload"]["id"] for event in events["asset_events"]]
            if pipeline_id in ids and run["state"] in ("success", "failed"):
                return {**run, "pipeline_ids": ids}
        return None

    return dict(wait_for(finished_run, RUN_TIMEOUT, f"a {DAG_ID} run for pipeline {pipeline_id}"))


def test_pipelines_started_elsewhere_run_the_dag_once_each(deployment: Deployment) -> None:
    d = deployment
    _create_project(d)
    _wait_until_watching(d)
    first = _start_pipeline(d, seconds=1)
    run = _wait_for_run_of(d, first)
    assert run["state"] == "success", d.api.all_logs(DAG_ID, run["dag_run_id"], "transform_new_data")
    assert run["pipeline_ids"] == [first]
    (event,) = _asset_events(d)
    payload = event["extra"]["payload"]
    assert (payload["id"], payload["status"], payload["ref"], payload["project"]) == (first, "success", "main", PROJECT)
    assert payload["finished_at"]
    assert payload["web_url"].endswith(f"/pipelines/{first}")
    ti = d.api.task_instance(DAG_ID, run["dag_run_id"], "transform_new_data")
    assert ti["try_number"] == 1

    # The second pipeline finishes at once, in all likelihood before the running trigger's next
    # poll: the restarted triggerer must report it, and not the first one again.
    second = _start_pipeline(d, seconds=0)
    d.restart("triggerer")
    run = _wait_for_run_of(d, second)
    assert run["state"] == "success"
    assert run["pipeline_ids"] == [second]
    # A replay of the first would come from the restarted trigger's first poll, which the second's
    # event needed too; one more poll interval makes sure nothing else is on its way.
    time.sleep(12)
    assert [e["extra"]["payload"]["id"] for e in _asset_events(d)] == [first, second]
    assert len(_runs(d)) == 2
