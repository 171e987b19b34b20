"""The shared project poller: one listing for many waits, and right under skew, paging and failures."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_dataops.api.timestamps import api_epoch, format_api_time
from airflow_provider_dataops.follow import project_poll
from airflow_provider_dataops.follow.project_poll import PipelineUpdate, PollError, Subscription, subscribe
from airflow_provider_dataops.hooks import dataops_async

from .conftest import ACCESS_TOKEN, set_connection
from .pipelines_api import PipelinesApi, iso


@pytest.fixture
def route(monkeypatch: pytest.MonkeyPatch, conn: None) -> Callable[[Callable[[httpx.Request], httpx.Response]], None]:
    """Send the shared client's requests to a handler."""

    def install(handler: Callable[[httpx.Request], httpx.Response]) -> None:
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        monkeypatch.setattr(dataops_async, "shared_client", lambda settings: client)

    return install


@pytest.fixture
def api(route: Callable[..., None]) -> PipelinesApi:
    fake = PipelinesApi()
    route(fake)
    return fake


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Poll pauses return at once (after yielding), so each test runs polls as fast as it asks."""
    waited: list[float] = []

    async def pause(seconds: float) -> None:
        waited.append(seconds)
        await asyncio.sleep(0)

    monkeypatch.setattr("airflow_provider_dataops.api.retry.async_sleep", pause)
    return waited


#: Only a guard against hanging: a thousand waits' first reads took over 10 s of wall time in a
#: parallel run on 2 busy cores (load 13), so the guard leaves room for a machine that busy.
GUARD_SECONDS = 60


async def updates(subscription: Subscription, count: int) -> list[project_poll.PollItem]:
    """The next ``count`` items (a test fails rather than hang when they do not come)."""
    return [await asyncio.wait_for(subscription.get(), GUARD_SECONDS) for _ in range(count)]


async def until(condition: Callable[[], bool]) -> None:
    """Let the poller run until ``condition`` holds (a guard against hanging, not a measure)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + GUARD_SECONDS
    while not condition():
        if loop.time() > give_up:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.001)


def statuses_of(items: list[Any]) -> list[tuple[int, str]]:
    return [(item.pipeline_id, item.pipeline["status"]) for item in items]


async def test_a_thousand_waits_share_one_listing_per_poll(api: PipelinesApi, steps: list[float]) -> None:
    for pipeline_id in range(1, 1001):
        api.set(pipeline_id, "running")
    subscriptions = [subscribe(project=1, poll_interval=30) for _ in range(1000)]
    for pipeline_id, subscription in enumerate(subscriptions, start=1):
        subscription.watch(pipeline_id)
    poller = next(iter(project_poll.pollers().values()))
    assert len(project_poll.pollers()) == 1
    await until(lambda: poller.requests["list"] >= 3)
    assert poller.requests["get"] == 1000  # each pipeline read once, since the listing shows only changes
    api.set(500, "success")
    seen = []
    while not seen or seen[-1] != (500, "success"):
        seen += statuses_of(await updates(subscriptions[499], 1))
    assert len(api.gets) == 1000  # no per-pipeline read after the first
    first = list(subscriptions[0].items)
    assert {item.pipeline_id for item in first} == {1}  # only its own pipeline: no one else's news
    assert all(30 * 0.9 <= waited <= 30 for waited in steps)  # the interval, up to 10 % less
    for subscription in subscriptions:
        subscription.close()
    await asyncio.sleep(0)
    assert project_poll.pollers() == {}
    assert poller._task.cancelled() or poller._task.done()


async def test_the_cursor_is_the_servers_clock_not_ours(api: PipelinesApi, steps: list[float]) -> None:
    api.now = 1_000_000_000.0  # the server lives ~25 years behind this machine
    api.set(1, "running")
    with subscribe(project=1, poll_interval=5) as subscription:
        subscription.watch(1)
        await updates(subscription, 1)
        api.set(1, "success")
        (item,) = await updates(subscription, 1)
        assert statuses_of([item]) == [(1, "success")]
        bounds = [request.url.params.get("updated_after") for request in api.lists]
        assert bounds[0] is None  # the first page learns the server's newest updated_at
        assert all(bound.startswith("2001-09-09") for bound in bounds[1:])


async def test_an_update_committed_late_within_the_overlap_is_seen_once(api: PipelinesApi, steps: list[float]) -> None:
    api.set(1, "running")
    with subscribe(project=1, poll_interval=5, watch_all=True) as subscription:
        (found,) = await updates(subscription, 1)
        assert found.current  # the first page: found, not changed
        api.now += 10
        api.set(2, "success")
        (changed,) = await updates(subscription, 1)
        assert not changed.current
        late = api.now - 5  # committed after pipeline 2 was listed, stamped before it
        api.pipelines[3] = {**api.pipelines[2], "id": 3, "_updated": round(late, 3), "updated_at": iso(late)}
        (item,) = await updates(subscription, 1)
        assert statuses_of([found, changed, item]) == [(1, "running"), (2, "success"), (3, "success")]
        lists = len(api.lists)
        await until(lambda: len(api.lists) >= lists + 5)  # several polls re-read the overlap window ...
        assert not subscription.items  # ... and deliver nothing twice


async def test_more_than_a_page_per_interval_and_updates_while_paging(api: PipelinesApi, steps: list[float]) -> None:
    api.set(1, "running")
    with subscribe(project=1, poll_interval=5, watch_all=True) as subscription:
        await updates(subscription, 1)
        for pipeline_id in range(100, 350):  # 250 changes in one interval: three pages, spanning
            api.set(pipeline_id, "success", tick=1.0)  # more than the overlap window
        first_request = len(api.lists) + 1

        def meanwhile(request: httpx.Request) -> None:  # pipeline 120 changes while page 2 is read
            if len(api.lists) == first_request + 1:
                api.set(120, "failed")

        api.on_list = meanwhile
        items = await updates(subscription, 251)
        got = statuses_of(items)
        assert {pipeline_id for pipeline_id, _ in got} == set(range(100, 350))
        assert (120, "failed") in got
        assert len(got) == len(set(got))  # nothing twice


async def test_a_burst_is_re_read_only_until_the_servers_clock_has_passed_it(
    api: PipelinesApi, steps: list[float]
) -> None:
    for pipeline_id in range(1, 301):  # 300 pipelines created within a second, then quiet
        api.set(pipeline_id, "running")
    burst_end = api.now
    with subscribe(project=1, poll_interval=5, watch_all=True) as subscription:
        await updates(subscription, 300)
        before = len(api.lists)
        await until(lambda: len(api.lists) >= before + 6)
        # the server's clock has not moved: the overlap window still holds the burst
        assert api_epoch(api.lists[-1].url.params["updated_after"]) < burst_end
        api.now += 2 * project_poll.LATE_COMMIT_WINDOW  # the server's clock moves on (its Date header says so)
        await until(lambda: len(api.lists) >= before + 20)
        bound = api_epoch(api.lists[-1].url.params["updated_after"])
        assert bound > burst_end  # past the burst: one short page per poll
        assert not subscription.items


async def test_a_dense_second_falls_back_to_offset_pages(api: PipelinesApi, steps: list[float]) -> None:
    api.set(1, "running")
    with subscribe(project=1, poll_interval=5, watch_all=True) as subscription:
        await updates(subscription, 1)
        for pipeline_id in range(100, 330):
            api.set(pipeline_id, "success", tick=0.0)  # 230 updates within one millisecond
        items = await updates(subscription, 230)
        assert {item.pipeline_id for item in items} == set(range(100, 330))
        assert any(request.url.params.get("page") == "2" for request in api.lists)


async def test_a_deleted_pipeline_ends_in_a_404_for_its_waiters_only(
    api: PipelinesApi, steps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(project_poll, "MIN_STALE_SECONDS", 0.0)
    monkeypatch.setattr(project_poll, "STALE_INTERVALS", 0)
    api.set(1, "running")
    api.set(2, "running")
    with subscribe(project=1, poll_interval=5) as one, subscribe(project=1, poll_interval=5) as two:
        one.watch(1)
        two.watch(2)
        await updates(one, 1)
        await updates(two, 1)
        api.delete(1)
        for _ in range(50):
            item = await updates(one, 1)
            if isinstance(item[0], PollError):
                break
        error = item[0]
        assert isinstance(error, PollError)
        assert error.pipeline_id == 1
        assert "HTTP 404" in str(error.error)
        assert all(not isinstance(item, PollError) for item in two.items)


async def test_quiet_pipelines_are_reread_a_few_per_poll(
    api: PipelinesApi, steps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(project_poll, "MIN_STALE_SECONDS", 0.0)
    monkeypatch.setattr(project_poll, "STALE_INTERVALS", 0)
    for pipeline_id in range(1, 11):
        api.set(pipeline_id, "running")
    with subscribe(project=1, poll_interval=5) as subscription:
        for pipeline_id in range(1, 11):
            subscription.watch(pipeline_id)
        await until(lambda: len(api.gets) >= 10)
        lists = len(api.lists)
        await until(lambda: len(api.lists) >= lists + 3)
        rereads = len(api.gets) - 10
        assert 0 < rereads <= project_poll.RECHECKS_PER_POLL * 4


async def test_a_new_waiter_gets_one_first_read_even_mid_interval(api: PipelinesApi, monkeypatch) -> None:
    api.set(1, "running")
    api.set(2, "success")
    monkeypatch.setattr("airflow_provider_dataops.api.retry.async_sleep", asyncio.sleep)
    with subscribe(project=1, poll_interval=3600) as first:  # the poller now pauses for an hour
        first.watch(1)
        await updates(first, 1)
        await until(lambda: len(api.lists) == 1)
        with subscribe(project=1, poll_interval=3600) as late:
            late.watch(2)
            (item,) = await updates(late, 1)  # read at once, not after the hour
            assert isinstance(item, PipelineUpdate)
            assert item.current
            assert item.pipeline["status"] == "success"
        another = subscribe(project=1, poll_interval=3600)
        another.watch(1)  # already watched: the poller's last copy, no second read
        (copy,) = await updates(another, 1)
        assert copy.pipeline["status"] == "running"
        assert len(api.gets) == 2
        another.close()


async def test_a_shorter_interval_takes_effect_at_once(api: PipelinesApi, monkeypatch) -> None:
    api.set(1, "running")
    monkeypatch.setattr("airflow_provider_dataops.api.retry.async_sleep", asyncio.sleep)
    with subscribe(project=1, poll_interval=3600) as slow:
        slow.watch(1)
        await until(lambda: len(api.lists) == 1)
        with subscribe(project=1, poll_interval=0.01):
            await asyncio.wait_for(until_async(lambda: len(api.lists) >= 3), 5)


async def until_async(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.005)


async def test_one_failing_connection_does_not_stall_another(
    route: Callable[..., None], steps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(monkeypatch, "broken", password="glpat-revoked-token-value")
    api = PipelinesApi()
    api.set(1, "running")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["PRIVATE-TOKEN"] != ACCESS_TOKEN:
            return httpx.Response(401, json={"message": "401 Unauthorized"})
        return api(request)

    route(handler)
    with (
        subscribe(project=1, poll_interval=5, dataops_conn_id="broken", watch_all=True) as broken,
        subscribe(project=1, poll_interval=5, watch_all=True) as working,
    ):
        (error,) = await updates(broken, 1)
        assert isinstance(error, PollError)
        assert error.pipeline_id is None
        assert "HTTP 401" in str(error.error)
        assert "glpat-revoked-token-value" not in str(error.error)
        (first,) = await updates(working, 1)
        api.set(1, "success")
        (item,) = await updates(working, 1)
        assert statuses_of([first, item]) == [(1, "running"), (1, "success")]
        assert len(project_poll.pollers()) == 2


async def test_transient_listing_failures_are_retried_by_the_hooks_policy_then_next_poll(
    route: Callable[..., None], steps: list[float]
) -> None:
    api = PipelinesApi()
    api.set(1, "running")
    failures = {"left": 3}

    def handler(request: httpx.Request) -> httpx.Response:
        if "per_page" in request.url.params and failures["left"]:
            failures["left"] -= 1
            return httpx.Response(503, text="down")
        return api(request)

    route(handler)
    with subscribe(project=1, poll_interval=5, retry_policy={"max_attempts": 2}, watch_all=True) as subscription:
        (first,) = await updates(subscription, 1)
        assert statuses_of([first]) == [(1, "running")]
        assert failures["left"] == 0


async def test_pollers_are_per_connection_project_timeout_and_policy(api: PipelinesApi, steps: list[float]) -> None:
    subscriptions = [
        subscribe(project=1, poll_interval=5),
        subscribe(project=1, poll_interval=10),
        subscribe(project="1", poll_interval=5),
        subscribe(project=2, poll_interval=5),
        subscribe(project=1, poll_interval=5, timeout=3.0),
        subscribe(project=1, poll_interval=5, retry_policy={"max_attempts": 2}),
    ]
    assert len(project_poll.pollers()) == 4
    for subscription in subscriptions:
        subscription.close()
        subscription.close()  # idempotent
    assert project_poll.pollers() == {}


async def test_get_times_out_with_none(api: PipelinesApi, steps: list[float]) -> None:
    with subscribe(project=1, poll_interval=5) as subscription:
        assert await subscription.get(timeout=0.5) is None
        assert 0.5 in steps


def test_time_round_trip() -> None:
    epoch = api_epoch("2026-01-31T12:00:00.123Z")
    assert format_api_time(epoch) == "2026-01-31T12:00:00.123Z"
    assert api_epoch("2026-01-31T12:00:00.123+00:00") == epoch
    with pytest.raises(ValueError, match="not a timestamp"):
        api_epoch(None)
