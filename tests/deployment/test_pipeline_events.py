"""The asset-watcher example: pipelines started straight on the emulator start its DAG, once each.

``example_dataops_pipeline_events`` watches ``demo/ingestion`` (created here, so no other test's
pipeline reaches it). The trigger has been polling since the deployment started (a 404 until the
project exists); after a triggerer restart the new trigger must not replay the first pipeline and
must report the second, which finishes while it starts; and a third pipeline whose event fired
just before a triggerer stop must still start the DAG after the restart.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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


def _pipeline_read(d: Deployment, pipeline_id: int) -> bool:
    """The trigger read the pipeline on its own, which it does right before reporting it."""
    path = f"/api/v4/projects/{quote(PROJECT, safe='')}/pipelines/{pipeline_id}"
    return any(r["method"] == "GET" and r["path"] == path for r in d.emulator.requests())


def _asset_events(d: Deployment) -> list[dict[str, Any]]:
    (asset,) = d.api.get("/api/v2/assets", params={"name_pattern": ASSET})["assets"]
    events = d.api.get("/api/v2/assets/events", params={"asset_id": asset["id"], "limit": 100})["asset_events"]
    return sorted(events, key=lambda event: event["id"])


def _runs(d: Deployment, run_type: str = "asset_triggered") -> list[dict[str, Any]]:
    runs = d.api.get(f"/api/v2/dags/{DAG_ID}/dagRuns", params={"limit": 100})["dag_runs"]
    return [run for run in runs if run["run_type"] == run_type]


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

    # The old triggerer is gone once restart() returns; the second pipeline finishes while the new
    # one starts its trigger.
    d.restart("triggerer")
    second = _start_pipeline(d, seconds=0)
    run = _wait_for_run_of(d, second)
    assert run["state"] == "success"
    assert run["pipeline_ids"] == [second]
    # A replay of the first would come from the restarted trigger's first poll, which the second's
    # event needed too; one more poll interval makes sure nothing else is on its way.
    time.sleep(12)
    assert [e["extra"]["payload"]["id"] for e in _asset_events(d)] == [first, second]
    assert len(_runs(d)) == 2

    # The triggerer stops (SIGTERM), then crashes (SIGKILL), right after the trigger yielded an
    # event: with the state saved at yield, an event not stored yet by then was lost for good.
    _stop_right_after_an_event(d, lambda: d.processes.graceful_stop("triggerer", 120))
    _stop_right_after_an_event(d, lambda: d.processes.crash("triggerer"))
    assert [e["extra"]["payload"]["id"] for e in _asset_events(d)][:2] == [first, second]  # no replay


def _stop_right_after_an_event(d: Deployment, stop: Callable[[], None]) -> None:
    """A pipeline whose event fires just before ``stop``: after a restart it ran the DAG exactly once.

    Unless the event was stored before the stop and the stop then fell before Airflow's confirmation
    reached the trigger: that event may come twice (docs/events.rst, limits), and only then.
    """
    pipeline = _start_pipeline(d, seconds=0)
    wait_for(lambda: _pipeline_read(d, pipeline), RUN_TIMEOUT, f"the trigger reading {pipeline}", interval=0.05)
    stop()
    stored_before_restart = [e["extra"]["payload"]["id"] for e in _asset_events(d)].count(pipeline)
    d.start_component("triggerer")
    run = _wait_for_run_of(d, pipeline)
    assert run["state"] == "success"
    time.sleep(12)  # one more poll interval: a replay would be on its way
    count = [e["extra"]["payload"]["id"] for e in _asset_events(d)].count(pipeline)
    print(f"pipeline {pipeline}: events stored before the restart {stored_before_restart}, in the end {count}")
    if stored_before_restart:
        assert count in (1, 2)
    else:  # the case the save at yield lost
        assert count == 1


@pytest.mark.parametrize("logical_date", [None, "2026-03-01T00:00:00+00:00"])
def test_a_run_started_by_hand_has_no_pipeline_and_succeeds(deployment: Deployment, logical_date: str | None) -> None:
    """As test_examples.py does for every other example: triggered through the REST API."""
    run_id = deployment.api.trigger(DAG_ID, logical_date=logical_date, prefix="by_hand")
    run = deployment.api.wait_run(DAG_ID, run_id, RUN_TIMEOUT)
    logs = deployment.api.all_logs(DAG_ID, run_id, "transform_new_data")
    assert run["state"] == "success", logs
    assert run["run_type"] == "manual"
