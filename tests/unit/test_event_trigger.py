"""The pipeline event trigger against a fake API, a fake clock and a fake asset state store.

Each test drives ``run()`` poll by poll: the sleep between two polls applies the next step of a
script (pipelines finish, the clock moves) and stops the trigger when the script ends.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from airflow_provider_dataops.api.timestamps import format_api_time
from airflow_provider_dataops.errors import DataOpsConfigError
from airflow_provider_dataops.follow.event_watch import REREAD_WINDOW, WatchState
from airflow_provider_dataops.follow.project_poll import PipelineUpdate
from airflow_provider_dataops.hooks import dataops_async
from airflow_provider_dataops.triggers import events

from .conftest import ACCESS_TOKEN

pytestmark = pytest.mark.skipif(not events.HAS_EVENT_TRIGGERS, reason="Airflow 2 has no AssetWatcher")

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


class FakeApi:
    """Pipelines of one project, listed and read like GitLab does, on a clock the test moves."""

    def __init__(self) -> None:
        self.now = T0
        self.pipelines: dict[int, dict[str, Any]] = {}
        self.variables: dict[int, list[dict[str, str]]] = {}
        self.requests: list[httpx.Request] = []
        self.fail_next = 0
        self.feeds: list[Any] = []  # subscriptions to the (fake) shared poll, by the drive fixture

    def tick(self, seconds: float = 1) -> None:
        self.now += timedelta(seconds=seconds)

    def set(self, pid: int, status: str, ref: str = "main", file: str | None = None) -> None:
        """Pipeline ``pid`` changes to ``status`` now (a new one is created)."""
        self.tick()
        stamp = format_api_time(self.now)
        pipeline = self.pipelines.setdefault(
            pid, {"id": pid, "iid": pid, "project_id": 1, "ref": ref, "sha": "abc", "created_at": stamp}
        )
        finished = status in ("success", "failed", "canceled", "skipped")
        pipeline.update(status=status, updated_at=stamp, finished_at=stamp if finished else None)
        pipeline["web_url"] = f"https://dataops.example.com/p/-/pipelines/{pid}"
        if file is not None:
            self.variables[pid] = [{"key": "_PIPELINE_FILE_NAME", "value": file, "variable_type": "env_var"}]

    def touch(self, pid: int) -> None:
        """Something unrelated to the status updates the pipeline."""
        self.tick()
        self.pipelines[pid]["updated_at"] = format_api_time(self.now)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail_next:
            self.fail_next -= 1
            # a server that echoes what it was sent, token included
            return httpx.Response(500, json={"message": f"500 for {request.headers.get('PRIVATE-TOKEN')}"})
        path = request.url.path
        if path.endswith("/variables"):
            return httpx.Response(200, json=self.variables.get(int(path.split("/")[-2]), []))
        if path.endswith("/pipelines"):
            query = {key: values[0] for key, values in parse_qs(urlsplit(str(request.url)).query).items()}
            after = datetime.fromisoformat(query.get("updated_after", "1970-01-01T00:00:00Z").replace("Z", "+00:00"))
            rows = sorted(
                (p for p in self.pipelines.values() if datetime.fromisoformat(p["updated_at"]) >= after),
                key=lambda p: (p["updated_at"], p["id"]),
                reverse=query.get("sort") == "desc",
            )
            per_page, page = int(query["per_page"]), int(query["page"])
            short = ("id", "iid", "project_id", "status", "ref", "sha", "web_url", "created_at", "updated_at")
            body = [{key: p[key] for key in short} for p in rows[(page - 1) * per_page : page * per_page]]
            return httpx.Response(200, json=body)
        return httpx.Response(200, json=self.pipelines[int(path.split("/")[-1])])

    def count(self, suffix: str) -> int:
        return sum(1 for request in self.requests if request.url.path.endswith(suffix))


class FakeAccessor:
    """One asset's state store; values go through JSON as they do through Airflow's API."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.broken = False

    async def aget(self, key: str, default: Any = None) -> Any:
        if self.broken:
            raise ConnectionError("state store down")
        return json.loads(self.values[key]) if key in self.values else default

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = json.dumps(value)


class FakeAccessors:
    """``AssetStateStoreAccessors`` for several watched assets (its private dictionaries)."""

    def __init__(self, *names: str) -> None:
        self._by_name = {name: FakeAccessor() for name in names}
        self._by_uri: dict[str, FakeAccessor] = {}


class Stop(Exception):
    """Ends a test's run of the trigger when its script is used up."""


@pytest.fixture(name="api")
def api_fixture(monkeypatch: pytest.MonkeyPatch, conn: None) -> FakeApi:
    fake = FakeApi()
    client = httpx.AsyncClient(transport=httpx.MockTransport(fake.handle))
    monkeypatch.setattr(dataops_async, "shared_client", lambda settings: client)
    monkeypatch.setattr(events, "utcnow", lambda: fake.now)
    return fake


class FakeFeed:
    """The shared poller as the trigger sees it: each wait applies the next step of the script, then
    delivers every pipeline whose ``updated_at`` changed since the feed last looked (from subscribing)."""

    def __init__(self, api: FakeApi, step: Callable[[], None]) -> None:
        self.api, self.step = api, step
        self.items: deque[Any] = deque()
        self.known = {pid: p["updated_at"] for pid, p in api.pipelines.items()}
        self.subscriptions: list[dict[str, Any]] = []

    def __enter__(self) -> FakeFeed:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    async def get(self, timeout: float | None = None) -> Any:
        if not self.items:
            self.step()
            for pid, pipeline in sorted(self.api.pipelines.items(), key=lambda item: item[1]["updated_at"]):
                if self.known.get(pid) != pipeline["updated_at"]:
                    self.known[pid] = pipeline["updated_at"]
                    self.items.append(PipelineUpdate(dict(pipeline)))
        return self.items.popleft() if self.items else None


@pytest.fixture
def drive(monkeypatch: pytest.MonkeyPatch, api: FakeApi) -> Callable[..., Any]:
    """Run a trigger through a script of steps, one per wait (on the shared poll, or after an error).

    Returns the payloads it yielded until the script ran out.
    """

    async def run(trigger: events.DataOpsPipelineEventTrigger, *steps: Callable[[], Any], store: Any = None):
        feeds: list[FakeFeed] = []
        script = list(steps)

        def step() -> None:
            if not script:
                raise Stop
            script.pop(0)()

        async def pause(seconds: float) -> None:
            step()

        monkeypatch.setattr(events, "pause_after_error", pause)

        def subscribe(**kwargs: Any) -> FakeFeed:
            feed = FakeFeed(api, step)
            feed.subscriptions.append(kwargs)
            feeds.append(feed)
            api.feeds.append(feed)
            return feed

        monkeypatch.setattr(events, "subscribe", subscribe)
        trigger.asset_state_store = store
        payloads: list[dict[str, Any]] = []

        async def collect() -> None:
            async for event in trigger.run():
                payloads.append(event.payload)

        with pytest.raises(Stop):
            await collect()
        (feed,) = feeds
        assert feed.subscriptions == [
            {
                "project": trigger.project,
                "poll_interval": trigger.poll_interval,
                "dataops_conn_id": "dataops_default",
                "watch_all": True,
            }
        ]
        return payloads

    return run


def make(**kwargs: Any) -> events.DataOpsPipelineEventTrigger:
    return events.DataOpsPipelineEventTrigger(**{"project": "demo/p", "poll_interval": 30, **kwargs})


def ids(payloads: list[dict[str, Any]]) -> list[int]:
    return [payload["id"] for payload in payloads]


async def test_reports_each_pipeline_once_when_it_reaches_a_watched_status(api: FakeApi, drive) -> None:
    api.set(1, "success")  # finished before the watcher started: not reported
    api.tick(5)
    payloads = await drive(
        make(),
        lambda: (api.set(2, "running"), api.set(3, "failed")),
        lambda: api.set(2, "success"),
        lambda: api.tick(30),  # nothing new; 2 is still listed in the overlap window
        lambda: api.set(4, "success", ref="dev"),
    )
    assert ids(payloads) == [2, 4]
    first = payloads[0]
    assert first["status"] == "success"
    assert first["ref"] == "main"
    assert first["project"] == "demo/p"
    assert first["finished_at"] == api.pipelines[2]["finished_at"]
    assert first["web_url"].endswith("/pipelines/2")
    assert set(first) >= {"id", "status", "ref", "sha", "web_url", "finished_at", "project", "project_id"}
    assert json.loads(json.dumps(first)) == first
    listing = next(r for r in api.requests if r.url.path.endswith("/pipelines"))
    assert listing.url.raw_path.startswith(b"/api/v4/projects/demo%2Fp/pipelines?")
    assert dict(listing.url.params) | {"updated_after": "x"} == {
        "updated_after": "x",
        "order_by": "updated_at",
        "sort": "asc",
        "per_page": "100",
        "page": "1",
    }
    assert listing.headers["PRIVATE-TOKEN"] == ACCESS_TOKEN
    # one per-pipeline read for each pipeline in a watched status, not one per poll
    assert api.count("/pipelines/2") == 1
    assert api.count("/pipelines/1") == 1


async def test_filters_on_ref_and_statuses(api: FakeApi, drive) -> None:
    payloads = await drive(
        make(ref="main", statuses=["failed", "canceled"]),
        lambda: (api.set(1, "success"), api.set(2, "failed"), api.set(3, "canceled", ref="dev")),
        lambda: api.set(4, "canceled"),
    )
    assert ids(payloads) == [2, 4]
    assert [p["status"] for p in payloads] == ["failed", "canceled"]


async def test_a_retried_pipeline_that_finishes_again_is_reported_again(api: FakeApi, drive) -> None:
    payloads = await drive(
        make(statuses=["failed"]),
        lambda: api.set(1, "failed"),
        lambda: api.set(1, "running"),
        lambda: api.set(1, "failed"),
    )
    assert ids(payloads) == [1, 1]
    assert payloads[0]["finished_at"] != payloads[1]["finished_at"]


async def test_an_old_pipeline_touched_later_is_not_reported(api: FakeApi, drive) -> None:
    api.set(1, "success")
    api.tick(1)
    payloads = await drive(make(), lambda: api.tick(600), lambda: api.touch(1))
    assert payloads == []


async def test_catching_up_more_than_a_page_after_a_restart(api: FakeApi, drive) -> None:
    store = FakeAccessor()
    assert await drive(make(), store=store) == []
    for pid in range(1, 251):  # while no triggerer runs
        api.set(pid, "success")
    api.requests.clear()
    assert ids(await drive(make(), store=store)) == list(range(1, 251))
    bounds = [r.url.params["updated_after"] for r in api.requests if r.url.path.endswith("/pipelines")]
    assert len(bounds) == 3
    assert bounds == sorted(set(bounds))  # each full page moves the bound to its last row


async def test_restart_with_the_state_store_neither_replays_nor_misses(api: FakeApi, drive) -> None:
    store = FakeAccessor()
    first = await drive(make(), lambda: api.set(1, "success"), store=store)
    assert ids(first) == [1]
    # the triggerer is down while 2 finishes and 1 is touched; a new trigger object takes over
    api.tick(300)
    api.set(2, "success")
    api.touch(1)
    api.tick(300)
    second = await drive(make(), lambda: api.set(3, "success"), store=store)
    assert ids(second) == [2, 3]
    saved = json.loads(store.values[make().state_key])
    assert saved["started"] == format_api_time(T0)  # still the first start


async def test_a_crash_between_event_and_save_reports_again_rather_than_never(api: FakeApi, drive) -> None:
    store = FakeAccessor()
    real_set = store.aset
    saves: list[Any] = []

    async def keep_only_the_first(key: str, value: Any) -> None:
        saves.append(value)
        if len(saves) == 1:  # the first start is stored; then the triggerer dies after the event
            await real_set(key, value)

    store.aset = keep_only_the_first  # type: ignore[method-assign]
    assert ids(await drive(make(), lambda: api.set(1, "success"), store=store)) == [1]
    assert len(saves) > 1
    store.aset = real_set  # type: ignore[method-assign]
    assert ids(await drive(make(), lambda: api.tick(1), store=store)) == [1]


async def test_the_first_start_is_saved_before_the_first_poll(api: FakeApi, drive) -> None:
    store = FakeAccessor()
    assert await drive(make(), store=store) == []
    api.tick(600)  # the triggerer was down; 1 finished meanwhile
    api.set(1, "success")
    assert ids(await drive(make(), store=store)) == [1]


async def test_the_start_is_taken_before_a_slow_first_read_of_the_store(api: FakeApi, drive) -> None:
    store = FakeAccessor()
    real_get = store.aget

    async def slow_get(key: str, default: Any = None) -> Any:
        api.set(1, "success")  # finishes while the store answers
        api.tick(5)
        return await real_get(key, default)

    store.aget = slow_get  # type: ignore[method-assign]
    assert ids(await drive(make(), store=store)) == [1]


async def test_reparse_that_only_changes_the_interval_continues(api: FakeApi, drive) -> None:
    store = FakeAccessor()
    assert ids(await drive(make(poll_interval=30), lambda: api.set(1, "success"), store=store)) == [1]
    api.set(2, "success")  # between the old trigger's end and the new one's start
    assert ids(await drive(make(poll_interval=10), lambda: api.tick(1), store=store)) == [2]
    assert make(poll_interval=10).state_key == make(poll_interval=30).state_key


async def test_reparse_that_changes_what_is_watched_starts_afresh(api: FakeApi, drive) -> None:
    store = FakeAccessor()
    assert ids(await drive(make(), lambda: api.set(1, "success"), store=store)) == [1]
    api.set(2, "failed")
    api.tick(1)
    wider = make(statuses=["success", "failed"])
    assert wider.state_key != make().state_key
    assert ids(await drive(wider, lambda: api.set(3, "failed"), store=store)) == [3]


async def test_without_a_state_store_a_restart_starts_from_now(api: FakeApi, drive) -> None:
    """The documented fallback: nothing twice, but what finished while down is missed."""
    assert ids(await drive(make(), lambda: api.set(1, "success"))) == [1]
    api.set(2, "success")
    api.tick(1)
    assert ids(await drive(make(), lambda: api.set(3, "success"))) == [3]


async def test_several_assets_share_one_state(api: FakeApi, drive) -> None:
    store = FakeAccessors("a", "b")
    assert ids(await drive(make(), lambda: api.set(1, "success"), store=store)) == [1]
    key = make().state_key
    assert store._by_name["a"].values[key] == store._by_name["b"].values[key]
    store._by_name["c"] = FakeAccessor()  # a third asset gets the same watcher later
    api.set(2, "success")
    assert ids(await drive(make(), lambda: api.tick(1), store=store)) == [2]


async def test_an_unreadable_state_store_stops_polling_until_it_answers(api: FakeApi, drive) -> None:
    store = FakeAccessor()
    assert ids(await drive(make(), lambda: api.set(1, "success"), store=store)) == [1]
    store.broken = True
    api.requests.clear()
    api.set(2, "success")

    subscribed = len(api.feeds)

    def repair() -> None:
        assert api.requests == []  # no poll while the state is unknown
        assert len(api.feeds) == subscribed  # not even a subscription to the shared poll
        store.broken = False

    assert ids(await drive(make(), repair, lambda: api.tick(1), store=store)) == [2]


async def test_api_errors_are_waited_out_without_loss_or_leaks(
    api: FakeApi, drive, sleeps: list[float], capfd: pytest.CaptureFixture[str]
) -> None:
    def outage() -> None:
        api.set(1, "success")
        api.fail_next = 100  # more than the retry policy's attempts

    payloads = await drive(make(), outage, lambda: setattr(api, "fail_next", 0))
    assert ids(payloads) == [1]
    out, err = capfd.readouterr()
    assert "Reading pipelines of demo/p failed: GET" in out + err
    assert "trying again in 30 s" in out + err  # the first wait is the poll interval
    assert "500 for" in out + err  # the echo is logged, without the token
    assert ACCESS_TOKEN not in out + err + json.dumps(payloads)


async def test_pipeline_file_filter_reads_variables_once_per_pipeline(api: FakeApi, drive) -> None:
    payloads = await drive(
        make(pipeline_file="full-ci.yml"),
        lambda: (api.set(1, "success", file="full-ci.yml"), api.set(2, "success", file="other-ci.yml")),
        lambda: api.set(3, "success"),  # no variable: the project's default file
        lambda: api.tick(1),
    )
    assert ids(payloads) == [1]
    assert payloads[0]["pipeline_file"] == "full-ci.yml"
    assert api.count("/variables") == 3


def test_serialize_is_json_safe_and_order_free() -> None:
    trigger = make(statuses=("success", "failed", "success"), ref="main", pipeline_file="full-ci.yml")
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_dataops.triggers.events.DataOpsPipelineEventTrigger"
    assert kwargs == {
        "project": "demo/p",
        "ref": "main",
        "statuses": ["failed", "success"],
        "pipeline_file": "full-ci.yml",
        "dataops_conn_id": "dataops_default",
        "poll_interval": 30.0,
    }
    assert json.loads(json.dumps(kwargs)) == kwargs
    same = make(statuses=["failed", "success"], ref="main", pipeline_file="full-ci.yml")
    assert events.DataOpsPipelineEventTrigger.hash(*same.serialize()) == events.DataOpsPipelineEventTrigger.hash(
        classpath, kwargs
    )
    assert events.DataOpsPipelineEventTrigger(**kwargs).serialize() == (classpath, kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"project": ""}, "project must be"),
        ({"project": 0}, "project must be"),
        ({"ref": "bad ref"}, "ref must be"),
        ({"statuses": "success"}, "statuses must be a non-empty list"),
        ({"statuses": []}, "statuses must be a non-empty list"),
        ({"statuses": ["succeeded"]}, "statuses must be a non-empty list"),
        ({"pipeline_file": "full.yml"}, "pipeline_file must be"),
        ({"dataops_conn_id": ""}, "dataops_conn_id must be"),
        ({"poll_interval": 0}, "poll_interval must be"),
        ({"poll_interval": float("nan")}, "poll_interval must be"),
    ],
)
def test_bad_arguments_fail_before_any_request(api: FakeApi, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DataOpsConfigError, match=message):
        make(**kwargs)
    assert api.requests == []


def test_state_round_trips_and_ignores_foreign_values() -> None:
    state = WatchState.fresh(T0)
    state.decide({"id": 5, "updated_at": format_api_time(T0), "finished_at": format_api_time(T0)})
    assert WatchState.from_json(json.loads(json.dumps(state.to_json()))) == state
    for foreign in (None, "x", {"version": 99}, {"version": 1, "started": "no"}):
        assert WatchState.from_json(foreign) is None
    assert state.since == T0 - REREAD_WINDOW


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not within 10 s: {what}")


async def test_watchers_of_one_project_share_the_process_poller(api: FakeApi) -> None:
    """The real shared poller: one per project and connection, feeding each watcher what it watches."""
    from airflow_provider_dataops.follow import project_poll

    got: dict[str, list[int]] = {"success": [], "failed": []}

    async def collect(status: str) -> None:
        async for event in make(statuses=[status], poll_interval=0.02).run():
            got[status].append(event.payload["id"])

    tasks = [asyncio.create_task(collect(status)) for status in got]
    try:
        await until(lambda: api.count("/pipelines") >= 4, "the catch-ups and the poller's first polls")
        (poller,) = project_poll.pollers().values()
        assert poller.key.project == "demo/p"
        api.set(1, "success")
        api.set(2, "failed")
        await until(lambda: got == {"success": [1], "failed": [2]}, "one event each")
        polls = api.count("/pipelines")
        await until(lambda: api.count("/pipelines") >= polls + 3, "three more polls")
        assert got == {"success": [1], "failed": [2]}
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await until(lambda: not project_poll.pollers(), "the poller to end with its last subscriber")
