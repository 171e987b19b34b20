"""The shared watch layer against hostile answers from a real local HTTP server (issue table rows 1-8).

Each test starts :mod:`tests.unit.hostile_api` on 127.0.0.1, points the connection at it and runs
the real hooks, poller and triggers; only pauses are shortened (their lengths are recorded).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from airflow.triggers.base import TriggerEvent

from airflow_provider_dataops.api import timestamps
from airflow_provider_dataops.errors import DataOpsMalformedResponseError
from airflow_provider_dataops.follow import backoff, listing, project_poll
from airflow_provider_dataops.follow.event_watch import WatchState
from airflow_provider_dataops.follow.listing import LISTING_PER_PAGE, ChangeListing, RowChecker
from airflow_provider_dataops.follow.project_poll import PipelineUpdate, PollError, subscribe
from airflow_provider_dataops.hooks.dataops import DataOpsHook
from airflow_provider_dataops.hooks.dataops_async import DataOpsAsyncHook
from airflow_provider_dataops.triggers import events
from airflow_provider_dataops.triggers.pipeline import DataOpsPipelineTrigger

from .conftest import ACCESS_TOKEN, set_connection
from .hostile_api import JOBS, LIST, ONE, HostileApi, iso, serve

DAY = 86400.0
needs_event_triggers = pytest.mark.skipif(not events.HAS_EVENT_TRIGGERS, reason="Airflow 2 has no AssetWatcher")


@pytest.fixture(autouse=True)
def _fresh_warnings() -> None:
    """Each test sees the first warning about its rows (the memory of warned rows is process-wide)."""
    listing._WARNED.clear()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileApi]:
    with serve() as (server, url):
        set_connection(monkeypatch, host=url)
        yield server


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every pause (poll intervals, retry waits, error backoffs) lasts 5 ms; its asked length is recorded."""
    asked: list[float] = []

    async def pause(seconds: float) -> None:
        asked.append(seconds)
        await asyncio.sleep(0.005)

    monkeypatch.setattr("airflow_provider_dataops.api.retry.async_sleep", pause)
    monkeypatch.setattr(events, "pause_after_error", pause)
    return asked


async def until(condition: Callable[[], bool], what: str, seconds: float = 20.0) -> None:
    """Wait for ``condition`` (a guard against hanging, not a measure)."""
    give_up = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > give_up:
            raise AssertionError(f"not reached within {seconds} s: {what}")
        await asyncio.sleep(0.01)


def start(generator: AsyncIterator[Any], into: list[Any]) -> asyncio.Task[None]:
    """Collect what an async generator yields, in the background."""

    async def collect() -> None:
        async for item in generator:
            into.append(item.payload if isinstance(item, TriggerEvent) else item)

    return asyncio.ensure_future(collect())


async def stop(*tasks: asyncio.Task[None]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def the_poller() -> project_poll.ProjectPoller:
    (poller,) = project_poll.pollers().values()
    return poller


def warnings_about(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if text in record.getMessage()]


def waiter(pipeline_id: int) -> DataOpsPipelineTrigger:
    return DataOpsPipelineTrigger(project=1, pipeline_id=pipeline_id, poll_interval=1)


def short(pipeline: dict[str, Any], **changes: Any) -> dict[str, Any]:
    keys = ("id", "iid", "project_id", "status", "ref", "sha", "web_url", "created_at", "updated_at")
    return {**{key: pipeline[key] for key in keys}, **changes}


# -- row 1: a malformed row of another pipeline ----------------------------------------------------


@pytest.mark.parametrize(
    "bad_row",
    [
        {"id": 99, "status": "running", "updated_at": "not-a-date"},
        {"id": None, "status": "running", "updated_at": iso(time.time())},
        {"id": "abc", "status": "running", "updated_at": iso(time.time())},
        {"id": float("inf"), "status": "running", "updated_at": iso(time.time())},
    ],
    ids=["updated_at-not-a-date", "id-null", "id-abc", "id-Infinity"],
)
async def test_a_malformed_row_of_another_pipeline_fails_no_waiter(
    api: HostileApi, pauses: list[float], caplog: pytest.LogCaptureFixture, bad_row: dict[str, Any]
) -> None:
    for pipeline_id in (1, 2, 3):
        api.set(pipeline_id, "running")
    api.extra_rows = [{**bad_row, "note": f"echoed {ACCESS_TOKEN}"}]
    results: list[list[Any]] = [[], [], []]
    tasks = [start(waiter(pipeline_id).run(), out) for pipeline_id, out in zip((1, 2, 3), results, strict=True)]
    await until(lambda: api.count(LIST) >= 3, "three listings with the bad row")
    for pipeline_id in (1, 2, 3):
        api.set(pipeline_id, "success")
    await until(lambda: all(results), "an event for each waiter")
    await stop(*tasks)
    assert [out[0]["status"] for out in results] == ["success"] * 3  # no waiter failed
    skipped = warnings_about(caplog, "Skipping a malformed pipeline of project 1")
    assert len(skipped) == 1  # one WARNING, however often the row is listed again
    assert "***" in skipped[0].getMessage()
    assert ACCESS_TOKEN not in caplog.text


async def test_the_poller_counts_skipped_rows_and_survives_an_infinite_id(api: HostileApi, pauses: list[float]) -> None:
    api.set(1, "running")
    api.extra_rows = [{"id": float("inf"), "status": "running", "updated_at": iso(time.time())}]
    with subscribe(project=1, poll_interval=1) as subscription:
        subscription.watch(1)
        poller = the_poller()
        await until(lambda: poller.checker.skipped >= 3, "the row skipped (and counted) at each listing")
        assert not poller._task.done()
        api.set(1, "success")
        await until(lambda: any(getattr(i, "pipeline", {}).get("status") == "success" for i in subscription.items), "1")


async def test_a_waiter_whose_own_row_is_malformed_reads_it_then_fails_naming_the_field(
    api: HostileApi, pauses: list[float]
) -> None:
    pipeline = api.set(1, "running")
    with subscribe(project=1, poll_interval=1) as subscription:
        subscription.watch(1)
        first = await asyncio.wait_for(subscription.get(), 10)
        assert isinstance(first, PipelineUpdate)
        await until(lambda: api.count(LIST) >= 2, "the first listings")
        api.extra_rows = [short(pipeline, status="success", updated_at="not-a-date")]
        api.gets[1] = {**pipeline, "status": "success", "updated_at": "not-a-date"}
        item = await asyncio.wait_for(subscription.get(), 10)
        while isinstance(item, PipelineUpdate):  # the running state, as the first listing showed it
            assert item.pipeline["status"] == "running"
            item = await asyncio.wait_for(subscription.get(), 10)
        assert isinstance(item, PollError)
        assert item.pipeline_id == 1
        assert isinstance(item.error, DataOpsMalformedResponseError)
        assert "field updated_at" in str(item.error)
        assert api.count(ONE) == 2  # read again on its own before failing


async def test_a_waiter_whose_row_is_malformed_but_whose_read_is_sound_goes_on(
    api: HostileApi, pauses: list[float]
) -> None:
    pipeline = api.set(1, "running")
    out: list[Any] = []
    task = start(waiter(1).run(), out)
    await until(lambda: api.count(ONE) >= 1, "the first read")
    api.extra_rows = [short(pipeline, updated_at="not-a-date")]
    await until(lambda: api.count(ONE) >= 2, "the read caused by the malformed row")
    assert not out
    api.set(1, "success")
    await until(lambda: bool(out), "the event")
    await stop(task)
    assert out[0]["status"] == "success"


# -- rows 2, 3, 4: the event trigger ---------------------------------------------------------------


def event_trigger() -> events.DataOpsPipelineEventTrigger:
    return events.DataOpsPipelineEventTrigger(project=1, statuses=["success"], poll_interval=30)


@needs_event_triggers
async def test_zero_and_negative_ids_are_skipped_and_later_pipelines_reported(
    api: HostileApi, pauses: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    stamp = iso(time.time())
    api.extra_rows = [
        {"id": 0, "status": "success", "updated_at": stamp},
        {"id": -5, "status": "success", "updated_at": stamp},
    ]
    out: list[Any] = []
    task = start(event_trigger().run(), out)
    await until(lambda: api.count(LIST) >= 3, "listings with the bad rows")
    api.set(10, "success", tick=1.0)
    await until(lambda: bool(out), "pipeline 10")
    await stop(task)
    assert [payload["id"] for payload in out] == [10]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(warnings_about(caplog, "Skipping a malformed pipeline")) == 2


@needs_event_triggers
async def test_run_survives_bad_ids_a_get_answering_a_list_and_year_9999(
    api: HostileApi, pauses: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    stamp = iso(time.time())
    api.extra_rows = [
        {"id": "abc", "status": "success", "updated_at": stamp},
        {"id": None, "status": "success", "updated_at": stamp},
        {"id": 12, "status": "success", "updated_at": "9999-12-31T23:59:59-14:00"},
    ]
    api.set(11, "success", tick=1.0)
    api.gets[11] = [{"id": 11}]
    out: list[Any] = []
    task = start(event_trigger().run(), out)
    await until(lambda: api.count(ONE) >= 1, "the read of pipeline 11")
    api.set(13, "success", tick=1.0)
    await until(lambda: bool(out), "pipeline 13")
    assert not task.done()  # run() is still watching
    await stop(task)
    assert [payload["id"] for payload in out] == [13]
    assert warnings_about(caplog, "row is not an object: list")  # 11's read, skipped
    assert warnings_about(caplog, "updated_at is implausible")  # 12


@needs_event_triggers
async def test_other_errors_back_off_doubling_and_the_watch_goes_on(
    api: HostileApi, pauses: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    failures = {"left": 3}
    advance = WatchState.advance

    def flaky(self: WatchState, rows: Any) -> bool:
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("a bug")
        return advance(self, rows)

    monkeypatch.setattr(WatchState, "advance", flaky)
    api.set(1, "success", tick=1.0)
    out: list[Any] = []
    task = start(event_trigger().run(), out)
    await until(lambda: failures["left"] == 0, "three failures")
    api.set(2, "success", tick=1.0)
    await until(lambda: 2 in [payload["id"] for payload in out], "pipeline 2")
    await stop(task)
    assert [wait for wait in pauses if wait in (30.0, 60.0, 120.0)][:3] == [30.0, 60.0, 120.0]


@needs_event_triggers
async def test_a_time_in_2100_never_moves_or_saves_the_watermark(api: HostileApi, pauses: list[float]) -> None:
    api.extra_rows = [{"id": 20, "status": "success", "updated_at": "2100-01-01T00:00:00.000Z"}]
    trigger = event_trigger()
    watch = events.Watch(WatchState.fresh(events.utcnow()))
    reports: list[events.Report] = []
    task = start(trigger.follow(watch), reports)
    await until(lambda: api.count(LIST) >= 2, "listings with the row from 2100")
    api.set(21, "success", tick=1.0)
    await until(lambda: any(r.payload and r.payload["id"] == 21 for r in reports), "pipeline 21")
    await stop(task)
    limit = time.time() + DAY
    assert all(report.state.watermark.timestamp() < limit for report in reports)
    assert watch.state.watermark.timestamp() < limit
    assert 20 not in watch.state.seen


# -- row 5: a Date header from 2100 -----------------------------------------------------------------


async def test_a_date_header_in_2100_is_ignored(api: HostileApi, pauses: list[float]) -> None:
    api.date = "Fri, 01 Jan 2100 00:00:00 GMT"
    api.set(77, "running")
    out: list[Any] = []
    task = start(waiter(77).run(), out)
    await until(lambda: api.count(LIST) >= 3, "three listings")
    poller = the_poller()
    assert poller._bound is not None
    assert poller._bound < time.time() + DAY
    api.set(77, "success")
    await until(lambda: bool(out), "pipeline 77")
    await stop(task)
    assert out[0]["status"] == "success"


def test_a_server_clock_a_few_hours_ahead_is_plausible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timestamps, "wall_clock", lambda: 1_000_000.0)
    clock = timestamps.ServerClock()
    assert clock.note_date(1_000_000.0 + 3 * 3600) is not None  # 3 h ahead: measured as skew
    assert clock.plausible(1_000_000.0 + 3 * 3600 + DAY - 1)
    assert not clock.plausible(1_000_000.0 + 3 * 3600 + DAY + 1)
    assert clock.note_date(1_000_000.0 + 2 * DAY) is None  # a date cannot ratchet the skew
    assert not clock.plausible(float("inf"))
    assert not clock.plausible(float("nan"))
    with pytest.raises(ValueError, match="implausible"):
        clock.read("2100-01-01T00:00:00Z")


# -- row 6: a server ignoring per_page or page -------------------------------------------------------


async def test_pages_longer_than_asked_are_cut(
    api: HostileApi, pauses: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    for pipeline_id in range(1, 2001):
        api.set(pipeline_id, "running")
    api.ignore_per_page = True
    listing = ChangeListing(RowChecker(1, DataOpsAsyncHook()), api.now - 100)
    seen: set[int] = set()
    longest = 0
    async for page in listing.pages():
        longest = max(longest, len(page.rows))
        seen.update(row.pipeline_id for row in page.rows)
    assert listing.complete
    assert seen == set(range(1, 2001))
    assert longest == LISTING_PER_PAGE  # memory per page bounded by per_page
    assert listing.requests <= 2000 // (LISTING_PER_PAGE - 1) + 2
    assert warnings_about(caplog, "answered 2000 rows for per_page=100")


async def test_a_server_ignoring_page_ends_the_dense_millisecond_not_the_watch(
    api: HostileApi, pauses: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    api.set(1, "running")
    for pipeline_id in range(100, 330):
        api.set(pipeline_id, "success", tick=0.0)  # 230 updates within one millisecond
    api.set(500, "success", tick=1.0)  # the pending one, after them
    api.ignore_page = True
    listing = ChangeListing(RowChecker(1, DataOpsAsyncHook()), api.now - 100)
    seen: set[int] = set()
    async for page in listing.pages():
        seen.update(row.pipeline_id for row in page.rows)
    assert listing.complete
    assert 500 in seen
    assert listing.requests <= 5
    assert warnings_about(caplog, "ignores `page`")


# -- row 7: sync paginate ----------------------------------------------------------------------------


@pytest.mark.parametrize("paging", ["next_link_to_self", "x_next_page"])
def test_sync_paginate_ends_a_page_loop_with_a_clear_error(api: HostileApi, sleeps: list[float], paging: str) -> None:
    api.jobs = [{"id": 1, "name": "build", "status": "success"}, {"id": 2, "name": "test", "status": "success"}]
    if paging == "next_link_to_self":
        api.next_link_to_self = True
    else:
        api.x_next_page = "1"
    with pytest.raises(DataOpsMalformedResponseError, match=r"again after .* it ignores paging"):
        DataOpsHook().list_pipeline_jobs(1, 5)
    assert api.count(JOBS) <= 3


# -- row 8: a project that is gone or hidden --------------------------------------------------------


@needs_event_triggers
@pytest.mark.parametrize("status", [404, 403])
async def test_a_missing_project_backs_off_with_one_error_then_hourly_reminders(
    api: HostileApi,
    pauses: list[float],
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    status: int,
) -> None:
    now = {"t": 0.0}
    monkeypatch.setattr(backoff, "monotonic", lambda: now["t"])
    api.project_status = status
    backoffs: list[float] = []

    async def pause(seconds: float) -> None:
        backoffs.append(seconds)
        now["t"] += seconds
        await asyncio.sleep(0.005)

    monkeypatch.setattr(events, "pause_after_error", pause)
    task = start(event_trigger().run(), [])
    await until(lambda: len(backoffs) >= 12, "twelve backoffs")
    await stop(task)
    assert backoffs[:7] == [30.0, 60.0, 120.0, 240.0, 480.0, 600.0, 600.0]
    out, err = capfd.readouterr()  # the trigger logs through Airflow's logger
    errors = [line for line in (out + err).splitlines() if "error" in line and "Reading pipelines of 1" in line]
    # 30+60+...+600 x 6 passes an hour once by the twelfth wait: the first error and one reminder
    assert len(errors) == 2, errors
    assert f"HTTP {status}" in errors[0]
    assert "of 1 failed" in errors[0]
    assert "still, after" in errors[1]
    poller_waits = [wait for wait in pauses if wait >= 30.0]
    assert max(poller_waits) >= 0.9 * 240  # the shared poller slows down too


# -- the handover: no burst of first reads -----------------------------------------------------------


async def test_waiters_that_hand_over_their_state_cost_no_reads(api: HostileApi, pauses: list[float]) -> None:
    states = {pipeline_id: api.set(pipeline_id, "running") for pipeline_id in range(1, 201)}
    results: list[list[Any]] = [[] for _ in states]
    tasks = [
        start(DataOpsPipelineTrigger(project=1, pipeline_id=pipeline_id, poll_interval=1, known_state=state).run(), out)
        for (pipeline_id, state), out in zip(states.items(), results, strict=True)
    ]
    await until(lambda: api.count(LIST) >= 2, "two listings")
    for pipeline_id in states:
        api.set(pipeline_id, "success")
    await until(lambda: all(results), "an event for each waiter")
    await stop(*tasks)
    assert {out[0]["status"] for out in results} == {"success"}
    assert api.count(ONE) == 0  # no first reads: the listing from the oldest handed-over state told all


async def test_a_change_between_the_handover_and_the_subscription_is_not_missed(
    api: HostileApi, pauses: list[float]
) -> None:
    api.set(2, "running")
    with subscribe(project=1, poll_interval=1) as early:
        early.watch(2)
        await until(lambda: api.count(LIST) >= 2, "the poller running past the handover below")
        handed = api.set(1, "running")  # the operator read this, then deferred ...
        api.set(1, "success")  # ... and it finished before the trigger subscribed
        await until(lambda: api.count(LIST) >= 4, "the poller's bound past that change")
        out: list[Any] = []
        task = start(DataOpsPipelineTrigger(project=1, pipeline_id=1, poll_interval=1, known_state=handed).run(), out)
        await until(lambda: bool(out), "the event")
        await stop(task)
    assert out[0]["status"] == "success"
    assert api.count(ONE) == 1  # only the early waiter's first read


async def test_an_implausible_handed_over_state_is_read_instead(api: HostileApi, pauses: list[float]) -> None:
    api.set(1, "running")
    out: list[Any] = []
    known = {"status": "running", "updated_at": "2100-01-01T00:00:00Z"}
    task = start(DataOpsPipelineTrigger(project=1, pipeline_id=1, poll_interval=1, known_state=known).run(), out)
    await until(lambda: api.count(ONE) == 1, "the read")
    api.set(1, "success")
    await until(lambda: bool(out), "the event")
    await stop(task)
    assert out[0]["status"] == "success"
