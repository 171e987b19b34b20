"""The pipeline event trigger in Airflow 3.3's ack mode: state saved only for events stored.

Driven by Airflow's own ``SharedStreamManager`` the way the triggerer drives it (subscribe, filter,
bind each event, confirm what the database stored), over the fake API and state store of
``test_event_trigger``. A "stop" drops what was not stored yet, as the triggerer does on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any

import pytest

from airflow_provider_dataops.follow.event_watch import WatchState
from airflow_provider_dataops.follow.project_poll import PipelineUpdate
from airflow_provider_dataops.triggers import events
from airflow_provider_dataops.triggers.state_store import lend, lent

from .test_event_trigger import (
    T0,
    FakeAccessor,
    FakeApi,
    api_fixture,  # noqa: F401 (the fixture named api)
    make,
    until,
)

shared_stream = pytest.importorskip("airflow.triggers.shared_stream", reason="ack mode needs Airflow 3.3")
AdvanceItem, AdvanceOutcome = shared_stream.AdvanceItem, shared_stream.AdvanceOutcome


class PollingFeed:
    """The shared poller as the trigger sees it, polling the fake API every few milliseconds."""

    def __init__(self, api: FakeApi) -> None:
        self.api = api
        self.items: deque[Any] = deque()
        self.known = {pid: p["updated_at"] for pid, p in api.pipelines.items()}

    def __enter__(self) -> PollingFeed:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    async def get(self, timeout: float | None = None) -> Any:
        await asyncio.sleep(0.005)
        for pid, pipeline in sorted(self.api.pipelines.items(), key=lambda item: item[1]["updated_at"]):
            if self.known.get(pid) != pipeline["updated_at"]:
                self.known[pid] = pipeline["updated_at"]
                self.items.append(PipelineUpdate(dict(pipeline)))
        return self.items.popleft() if self.items else None


@pytest.fixture
def feed(monkeypatch: pytest.MonkeyPatch, api: FakeApi) -> None:
    monkeypatch.setattr(events, "subscribe", lambda **kwargs: PollingFeed(api))


class Triggerer:
    """The parts of Airflow 3.3's triggerer that ack mode rests on, on a clock the test moves."""

    def __init__(self) -> None:
        self.clock = 0.0
        self.manager = shared_stream.SharedStreamManager(ack_timeout=0.1, _now=lambda: self.clock)
        self.queued: list[tuple[int | None, dict[str, Any]]] = []  # yielded, not stored yet
        self.tasks: dict[int, asyncio.Task[None]] = {}

    def start(self, trigger_id: int, trigger: events.DataOpsPipelineEventTrigger, store: Any) -> None:
        trigger.asset_state_store = store
        self.tasks[trigger_id] = asyncio.create_task(self._run(trigger_id, trigger))

    async def _run(self, trigger_id: int, trigger: events.DataOpsPipelineEventTrigger) -> None:
        key = trigger.shared_stream_key()
        stream = self.manager.subscribe(trigger_id=trigger_id, trigger=trigger, key=key)
        try:
            async for event in trigger.filter_shared_stream(stream):
                seq = self.manager.bind_pending_event(trigger_id=trigger_id, key=key)
                self.queued.append((seq, event.payload))
        finally:
            await self.manager.unsubscribe(trigger_id, key)

    def store_events(self, database: list[dict[str, Any]]) -> None:
        """The supervisor stores what is queued and confirms it at the next state sync."""
        database.extend(payload for _, payload in self.queued)
        self.manager.confirm_persisted(seq for seq, _ in self.queued if seq is not None)
        self.queued.clear()

    async def stop(self) -> None:
        """SIGTERM: the triggers are cancelled and whatever is still queued is dropped."""
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        await self.manager.stop_all()
        self.queued.clear()


def saved_ids(store: FakeAccessor) -> set[int]:
    return {int(pid) for pid in json.loads(store.values[make().state_key])["seen"]}


def queued_ids(triggerer: Triggerer) -> list[int]:
    return [payload["id"] for _, payload in triggerer.queued]


async def first_event_yielded(api: FakeApi, store: FakeAccessor) -> Triggerer:
    """A triggerer whose watcher started, saw pipeline 1 succeed and yielded its event (unconfirmed)."""
    triggerer = Triggerer()
    triggerer.start(1, make(), store)
    await until(lambda: make().state_key in store.values, "the first start saved")
    api.set(1, "success")
    await until(lambda: queued_ids(triggerer) == [1], "the event yielded")
    return triggerer


@pytest.mark.usefixtures("feed")
async def test_the_state_advances_only_once_airflow_confirmed_the_event_stored(api: FakeApi) -> None:
    store, database = FakeAccessor(), []
    triggerer = await first_event_yielded(api, store)
    for _ in range(5):  # polls go on; the unconfirmed report stays unsaved
        await asyncio.sleep(0.01)
    assert saved_ids(store) == set()
    triggerer.store_events(database)
    await until(lambda: saved_ids(store) == {1}, "the state saved after the confirmation")
    await triggerer.stop()
    assert [payload["id"] for payload in database] == [1]


@pytest.mark.usefixtures("feed")
async def test_a_stop_before_the_event_is_stored_reports_it_again_and_only_once(api: FakeApi) -> None:
    store, database = FakeAccessor(), []
    first = await first_event_yielded(api, store)
    await first.stop()  # dropped before the database saw it: lost on main's save-at-yield
    assert database == []

    second = Triggerer()
    second.start(1, make(), store)
    await until(lambda: queued_ids(second) == [1], "the event yielded again")
    second.store_events(database)
    await until(lambda: saved_ids(store) == {1}, "the state saved")
    api.set(2, "success")
    await until(lambda: queued_ids(second) == [2], "the next event")
    second.store_events(database)
    await until(lambda: saved_ids(store) == {1, 2}, "the state saved")
    await second.stop()

    third = Triggerer()  # a restart after confirmed events replays none of them
    third.start(1, make(), store)
    api.set(3, "success")
    await until(lambda: queued_ids(third) == [3], "only the new pipeline")
    third.store_events(database)
    await until(lambda: saved_ids(store) == {1, 2, 3}, "the state saved")
    await third.stop()
    assert [payload["id"] for payload in database] == [1, 2, 3]


@pytest.mark.usefixtures("feed")
async def test_an_event_never_confirmed_fails_the_trigger_and_is_reported_at_its_next_start(
    api: FakeApi,
) -> None:
    store, database = FakeAccessor(), []
    triggerer = await first_event_yielded(api, store)
    triggerer.queued.clear()  # the database never stored it
    triggerer.clock += 1  # past the ack timeout
    await until(lambda: triggerer.tasks[1].done(), "the trigger failed by the ack timeout")
    assert isinstance(triggerer.tasks[1].exception(), shared_stream.AckTimeout)
    assert saved_ids(store) == set()
    await triggerer.stop()

    again = Triggerer()
    again.start(1, make(), store)
    await until(lambda: queued_ids(again) == [1], "reported again")
    again.store_events(database)
    await until(lambda: saved_ids(store) == {1}, "the state saved")
    await again.stop()
    assert [payload["id"] for payload in database] == [1]


@pytest.mark.usefixtures("feed")
async def test_a_report_not_confirmed_rewinds_the_watch_to_the_last_saved_state(api: FakeApi) -> None:
    """The producer alone, as the manager drives it: open_stream, then advance in order."""
    store = FakeAccessor()
    trigger = make()
    store.values[trigger.state_key] = json.dumps(WatchState.fresh(T0).to_json())  # watching since T0
    producer = events.DataOpsPipelineEventTrigger.create_shared_stream_producer(trigger.serialize()[1])
    with lend(trigger.state_key, store):
        stream = producer.open_stream()
        api.set(1, "success")
        api.set(2, "success")
        reports = [await asyncio.wait_for(anext(stream), 5) for _ in range(3)]
        assert [payload and payload["id"] for payload, _ in reports] == [1, 2, None]  # None: the watermark
        clean, failed = AdvanceOutcome(acked=1, failed=0), AdvanceOutcome(acked=0, failed=1)
        await producer.advance([AdvanceItem(reports[0][1], clean), AdvanceItem(reports[1][1], failed)])
        assert saved_ids(store) == {1}
        await producer.advance([AdvanceItem(reports[2][1], clean)])  # before the rewind: not saved
        assert saved_ids(store) == {1}
        payload, again = await asyncio.wait_for(anext(stream), 5)
        assert payload is not None
        assert payload["id"] == 2
        await producer.advance([AdvanceItem(again, clean)])
        assert saved_ids(store) == {1, 2}
        await stream.aclose()
    assert lent(trigger.state_key) == []


def test_only_a_trigger_with_a_state_store_uses_ack_mode() -> None:
    trigger = make()
    assert trigger.shared_stream_key() is None  # run() then watches with its state in memory
    trigger.asset_state_store = FakeAccessor()
    assert trigger.shared_stream_key() == trigger.state_key == make(poll_interval=5).state_key


@pytest.mark.usefixtures("feed")
async def test_the_producer_looks_for_its_lender_every_moment_not_every_poll(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    async def pause(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:  # the subscribing trigger arrives while the producer looks
            lender.__enter__()
        await asyncio.sleep(0)

    monkeypatch.setattr(events, "pause_after_error", pause)
    trigger = make()
    lender = lend(trigger.state_key, FakeAccessor())
    producer = events.PipelineEventProducer(trigger)
    stream = producer.open_stream()
    task = asyncio.ensure_future(stream.__anext__())
    await until(lambda: producer.watch is not None, "the producer loading its state")
    task.cancel()
    lender.__exit__(None, None, None)
    assert waits == [events.LENDER_WAIT] * 3  # not the 30 s poll interval: a restart resumes at once
    assert lent(trigger.state_key) == []
