"""The asset-watcher example: pipelines started straight on the emulator start its DAG, once each.

``example_dataops_pipeline_events`` watches ``demo/ingestion`` (seeded by the emulator, so there
before Airflow starts, and no other test's pipeline reaches it). The trigger has been polling since
the deployment started; after a triggerer restart the new trigger must not replay the first pipeline
and must report the second, which finishes while it starts; and a third pipeline whose event fired
just before a triggerer stop must still start the DAG after the restart.

When a run does not come in time, the failure says which it was: the event was never stored
(lost), it was stored (or the restarted watcher had not even listed the project yet) and recovery
was slow, or it was stored and stranded by the scheduler. Stranded is Airflow 3.3's behaviour
(docs/events.rst, limits): an event stored while the DAG's queue entry of an earlier one waits for
its run is consumed by the run of the asset's next event. The test then checks exactly that
promise: one more pipeline, and its run consumes the stranded event.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast
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
#: After a crash Airflow hands the dead triggerer's triggers to a new one only once the dead one's
#: last heartbeat is older than ``[triggerer] triggerer_health_check_threshold`` (30 s by default):
#: recovery takes that much longer, and nothing is lost meanwhile. (The flaky failure of this test
#: under load was this: the event was stored after the takeover, past a 120 s wait.)
CRASH_TAKEOVER = 30


def _wait_until_watching(d: Deployment, since: float = 0.0, timeout: float = RUN_TIMEOUT) -> float:
    """When the watcher first read the project's pipeline list since ``since`` (epoch seconds).

    It lists only once its state is loaded, so after a restart this is the moment it carries on.
    """
    listing = f"/api/v4/projects/{quote(PROJECT, safe='')}/pipelines"

    def first_listing() -> float | None:
        times = [_epoch(r["time"]) for r in d.emulator.requests() if r["method"] == "GET" and r["path"] == listing]
        return min((at for at in times if at >= since), default=None)

    return cast("float", wait_for(first_listing, timeout, f"the watcher's first poll of {PROJECT}", interval=1))


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


def _epoch(stamp: str) -> float:
    """Epoch seconds of the emulator's request-log time (ISO 8601, ``Z``)."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _diagnosis(d: Deployment, pipeline_id: int, since: float) -> str:
    """Lost or slow: what the deployment shows about ``pipeline_id``'s way to a DAG run.

    :param since: epoch seconds the wait started (a restart's, for the watcher's requests after it).
    """
    events = [e for e in _asset_events(d) if e["extra"]["payload"]["id"] == pipeline_id]
    listing = f"/api/v4/projects/{quote(PROJECT, safe='')}/pipelines"
    logged = [(_epoch(r["time"]), r["path"]) for r in d.emulator.requests()]
    lists = [at - since for at, path in logged if at >= since and path == listing]
    reads = [at - since for at, path in logged if at >= since and path == f"{listing}/{pipeline_id}"]
    runs = [
        (run["dag_run_id"], run["state"])
        for run in _runs(d)
        if pipeline_id
        in [
            event["extra"]["payload"]["id"]
            for event in d.api.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run['dag_run_id'])}/upstreamAssetEvents")[
                "asset_events"
            ]
        ]
    ]
    stored_at = [e["timestamp"] for e in events]
    if events and not runs and _stranded(d, pipeline_id):
        before = [
            (e["extra"]["payload"]["id"], e["timestamp"], [r["run_id"] for r in e["created_dagruns"]])
            for e in _asset_events(d)
            if e["timestamp"] <= max(stored_at) and e["extra"]["payload"]["id"] != pipeline_id
        ][-2:]
        verdict = (
            f"STRANDED, not lost: its asset event was stored at {stored_at}, no DAG run consumed it and the DAG "
            f"has no queue entry left; the events stored just before (pipeline, time, runs): {before}. "
            "Airflow 3.3 made a run from the queue entry of the earlier event, consumed the events up to "
            "that entry's time and deleted it, so this one waits for the asset's next event"
        )
    elif events and not runs:
        verdict = f"SLOW, not lost: its asset event was stored at {stored_at} and is queued for a DAG run"
    elif events:
        verdict = f"SLOW, not lost: its asset event was stored ({len(events)} event(s)); runs consuming it: {runs}"
    elif not lists:
        verdict = "SLOW, not lost: the restarted watcher has not listed the project at all yet"
    elif reads:
        verdict = "LOST: the watcher read the pipeline (it reports right after) but no asset event was stored"
    else:
        verdict = "NOT SEEN: the watcher lists the project but never read the pipeline to report it"
    return (
        f"pipeline {pipeline_id}: {verdict}; watcher listings at +{[round(t, 1) for t in lists[:5]]} s, "
        f"reads of the pipeline at +{[round(t, 1) for t in reads]} s after the wait began"
    )


def _run_with(d: Deployment, pipeline_id: int) -> dict[str, Any] | None:
    """The finished DAG run whose triggering asset events carry ``pipeline_id``, with all their ids."""
    for run in _runs(d):
        events = d.api.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run['dag_run_id'])}/upstreamAssetEvents")
        ids = [event["extra"]["payload"]["id"] for event in events["asset_events"]]
        if pipeline_id in ids and run["state"] in ("success", "failed"):
            return {**run, "pipeline_ids": ids}
    return None


def _stranded(d: Deployment, pipeline_id: int) -> list[dict[str, Any]]:
    """The stored events of ``pipeline_id`` that no run consumed and no queue entry will turn into one.

    The scheduler creates a run, links the events it consumes and deletes the DAG's queue entry in
    one transaction, and an event and its queue entry are stored in one too. So an event stored,
    unconsumed, while the DAG has no queue entry (read in that order) waits for the asset's next event.
    """
    stored = [e for e in _asset_events(d) if e["extra"]["payload"]["id"] == pipeline_id and not e["created_dagruns"]]
    if not stored or d.api.get(f"/api/v2/dags/{DAG_ID}/assets/queuedEvents")["queued_events"]:
        return []
    consumed = {e["id"] for e in _asset_events(d) if e["created_dagruns"]}
    return [e for e in stored if e["id"] not in consumed]


class StrandedError(AssertionError):
    """The pipeline's event was stored but stranded by the scheduler (Airflow 3.3; not lost)."""


def _wait_for_run_of(d: Deployment, pipeline_id: int, since: float | None = None, extra: float = 0.0) -> dict[str, Any]:
    """The finished DAG run whose triggering asset event carries ``pipeline_id``.

    On a timeout the failure says whether the event was lost or recovery was slow (:func:`_diagnosis`);
    a stranded event fails at once with :class:`StrandedError` (no run comes until the next event).
    """
    began = time.time() if since is None else since

    def outcome() -> tuple[str, Any] | None:
        run = _run_with(d, pipeline_id)
        if run is not None:
            return "run", run
        stranded = _stranded(d, pipeline_id)
        return ("stranded", stranded) if stranded else None

    try:
        waited = wait_for(outcome, RUN_TIMEOUT + extra, f"a {DAG_ID} run for pipeline {pipeline_id}")
    except TimeoutError as error:
        raise AssertionError(f"{error}\n{_diagnosis(d, pipeline_id, began)}") from None
    kind, found = cast("tuple[str, Any]", waited)
    if kind == "stranded":
        raise StrandedError(_diagnosis(d, pipeline_id, began))
    return dict(found)


def _wait_for_run_or_next_of(d: Deployment, pipeline_id: int, since: float, extra: float) -> dict[str, Any]:
    """The run that consumed ``pipeline_id``'s event: its own, or, if stranded, the next event's.

    What docs/events.rst promises for a stranded event: stored once, consumed by the run of the
    asset's next event. One more pipeline is that event.
    """
    try:
        return _wait_for_run_of(d, pipeline_id, since=since, extra=extra)
    except StrandedError as error:
        stranded = str(error)
    print(f"{stranded}\nstarting one more pipeline, whose run must consume it")
    follower = _start_pipeline(d, seconds=0)
    run = _wait_for_run_of(d, follower)
    assert pipeline_id in run["pipeline_ids"], f"{stranded}\nand the next run consumed only {run['pipeline_ids']}"
    return run


def test_pipelines_started_elsewhere_run_the_dag_once_each(deployment: Deployment) -> None:
    d = deployment
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
    _stop_right_after_an_event(d, lambda: d.processes.graceful_stop("triggerer", 120), takeover=0)
    _stop_right_after_an_event(d, lambda: d.processes.crash("triggerer"), takeover=CRASH_TAKEOVER)
    assert [e["extra"]["payload"]["id"] for e in _asset_events(d)][:2] == [first, second]  # no replay


def _stop_right_after_an_event(d: Deployment, stop: Callable[[], None], takeover: float) -> None:
    """A pipeline whose event fires just before ``stop``: after a restart it reached a DAG run, once.

    Its event is stored once, unless it was stored before the stop and the stop then fell before
    Airflow's confirmation reached the trigger: then it may come twice (docs/events.rst, limits),
    and only then. Before the next step the restarted watcher must have settled: loaded its state,
    listed, and had what it reported stored and confirmed; otherwise a repeat of this pipeline and
    the next pipeline reach the scheduler together, which is the stranding case, not a stop's.
    """
    pipeline = _start_pipeline(d, seconds=0)
    wait_for(lambda: _pipeline_read(d, pipeline), RUN_TIMEOUT, f"the trigger reading {pipeline}", interval=0.05)
    stop()
    stored_before_restart = [e["extra"]["payload"]["id"] for e in _asset_events(d)].count(pipeline)
    restarted = time.time()
    d.start_component("triggerer")
    run = _wait_for_run_or_next_of(d, pipeline, since=restarted, extra=takeover)
    print(f"pipeline {pipeline}: its run finished {time.time() - restarted:.0f} s after the restart")
    assert run["state"] == "success"
    listed = _wait_until_watching(d, since=restarted, timeout=RUN_TIMEOUT + takeover)
    print(f"pipeline {pipeline}: the restarted watcher first listed {listed - restarted:.0f} s after the restart")
    time.sleep(12)  # one more poll interval: a replay would be stored and confirmed by then
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
