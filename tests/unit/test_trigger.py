"""The trigger's run loop over an httpx mock transport: one event, no blocking, deadlines, on_kill.

The trigger reads through the shared project poller: one ``GET`` of its pipeline, then the
project's pipeline listing (see test_project_poll.py for the poller itself).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_dataops.api.retry import RetryPolicy
from airflow_provider_dataops.hooks import dataops_async
from airflow_provider_dataops.hooks.dataops_async import DataOpsAsyncHook
from airflow_provider_dataops.triggers.pipeline import DataOpsPipelineTrigger

from .conftest import ACCESS_TOKEN, API
from .pipelines_api import PipelinesApi

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def transport(
    monkeypatch: pytest.MonkeyPatch, conn: None, sleeps: list[float]
) -> Callable[[Handler], list[httpx.Request]]:
    """Route the shared client through a handler; returns the list of requests it saw."""

    def install(handler: Handler) -> list[httpx.Request]:
        seen: list[httpx.Request] = []

        def record(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return handler(request)

        client = httpx.AsyncClient(transport=httpx.MockTransport(record))
        monkeypatch.setattr(dataops_async, "shared_client", lambda settings: client)
        return seen

    return install


def statuses(*values: str) -> PipelinesApi:
    """Pipeline 7 of a fake project: the first status, then the next one at each listing."""
    api = PipelinesApi()
    api.set(7, values[0])
    remaining = list(values[1:])

    def advance(request: httpx.Request) -> None:
        if remaining:
            api.set(7, remaining.pop(0))

    api.on_list = advance
    return api


async def collect(trigger: DataOpsPipelineTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


def make_trigger(**kwargs: Any) -> DataOpsPipelineTrigger:
    return DataOpsPipelineTrigger(**{"project": "demo/p", "pipeline_id": 7, "poll_interval": 5, **kwargs})


def test_serialize_round_trip_is_json_safe() -> None:
    trigger = make_trigger(deadline=123.5, manual_policy="wait", retry_policy={"max_attempts": 3})
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_dataops.triggers.pipeline.DataOpsPipelineTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert kwargs == {
        "project": "demo/p",
        "pipeline_id": 7,
        "dataops_conn_id": "dataops_default",
        "poll_interval": 5,
        "deadline": 123.5,
        "deadline_name": "timeout",
        "manual_policy": "wait",
        "cancel_on_kill": True,
        "retry_policy": RetryPolicy(max_attempts=3).to_dict(),
        "ref": None,
        "timeout": None,
        "known_state": None,
    }
    assert DataOpsPipelineTrigger(**kwargs).serialize() == (classpath, kwargs)


@pytest.mark.parametrize(
    ("final", "policy", "event_status"),
    [
        ("success", "fail", "success"),
        ("failed", "fail", "failure"),
        ("canceled", "fail", "failure"),
        ("skipped", "fail", "failure"),
        ("manual", "fail", "failure"),
        ("manual", "succeed", "success"),
    ],
)
async def test_polls_until_terminal_and_yields_exactly_one_event(
    transport, sleeps: list[float], final: str, policy: str, event_status: str
) -> None:
    seen = transport(statuses("created", "pending", "running", "canceling", final))
    events = await collect(make_trigger(manual_policy=policy))
    assert len(events) == 1
    assert events[0]["status"] == event_status, events[0]["message"]
    assert events[0]["pipeline_status"] == final
    assert events[0]["web_url"] == "https://x/-/pipelines/7"
    assert len(seen) == 5  # the first read of pipeline 7, then one listing per poll
    assert [request.url.path.rsplit("/", 1)[1] for request in seen] == ["7"] + ["pipelines"] * 4
    assert len(sleeps) == 3
    assert all(4.5 <= waited <= 5 for waited in sleeps)  # poll_interval, up to 10% less
    assert seen[0].url.raw_path == b"/api/v4/projects/demo%2Fp/pipelines/7"
    assert seen[1].url.params["order_by"] == "updated_at"
    assert seen[0].headers["PRIVATE-TOKEN"] == ACCESS_TOKEN


async def test_still_running_does_not_finish(transport, monkeypatch: pytest.MonkeyPatch) -> None:
    transport(statuses("running"))
    monkeypatch.setattr("airflow_provider_dataops.api.retry.async_sleep", asyncio.sleep)
    trigger = make_trigger(poll_interval=0.01)
    task = asyncio.create_task(trigger.run().__anext__())
    await asyncio.sleep(0.1)
    assert not task.done()
    task.cancel()


async def test_deadline_yields_timeout(transport, monkeypatch: pytest.MonkeyPatch) -> None:
    transport(statuses("running"))
    clock = {"now": 1000.0}
    monkeypatch.setattr("airflow_provider_dataops.triggers.pipeline.time.time", lambda: clock["now"])

    waits: list[float] = []

    async def advance(seconds: float) -> None:
        waits.append(seconds)
        clock["now"] += seconds

    monkeypatch.setattr("airflow_provider_dataops.api.retry.async_sleep", advance)
    events = await collect(make_trigger(deadline=1012.0, deadline_name="execution_timeout"))
    assert [e["status"] for e in events] == ["timeout"]
    assert events[0]["deadline_name"] == "execution_timeout"
    assert 12.0 in waits  # the trigger waited exactly until the deadline, not a full poll


async def test_transient_errors_are_waited_out(transport, sleeps: list[float]) -> None:
    api = statuses("success")
    failures = iter(range(8))
    transport(lambda request: httpx.Response(503, text="down") if next(failures, None) is not None else api(request))
    events = await collect(make_trigger())
    assert events[0]["status"] == "success"
    assert len(api.requests) == 1  # 8 attempts (the policy's limit) failed, the next read worked


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_permanent_errors_become_an_error_event(transport, status: int) -> None:
    transport(lambda request: httpx.Response(status, json={"message": f"{status} nope"}))
    events = await collect(make_trigger())
    assert [e["status"] for e in events] == ["error"]
    assert f"HTTP {status}" in events[0]["message"]
    assert ACCESS_TOKEN not in events[0]["message"]


@pytest.mark.parametrize(
    "malformed",
    [
        httpx.Response(200, text="<html>proxy login</html>", headers={"Content-Type": "text/html"}),
        httpx.Response(200, content=b'{"id": 7, "sta', headers={"Content-Type": "application/json"}),
    ],
)
async def test_a_malformed_200_is_retried_as_transient(transport, sleeps: list[float], malformed) -> None:
    replies = iter([malformed] * 12 + [httpx.Response(200, json={"id": 7, "status": "success"})])
    seen = transport(lambda request: next(replies))
    events = await collect(make_trigger(retry_policy={"max_attempts": 3}))
    assert [e["status"] for e in events] == ["success"]
    assert len(seen) == 13  # 3 attempts per poll for 4 polls, then the good answer


async def test_a_malformed_200_until_the_deadline_is_a_timeout_not_a_decode_error(
    transport, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport(lambda request: httpx.Response(200, text="<html>login</html>", headers={"Content-Type": "text/html"}))
    clock = {"now": 1000.0}
    monkeypatch.setattr("airflow_provider_dataops.triggers.pipeline.time.time", lambda: clock["now"])

    async def advance(seconds: float) -> None:
        clock["now"] += seconds

    monkeypatch.setattr("airflow_provider_dataops.api.retry.async_sleep", advance)
    events = await collect(make_trigger(deadline=1030.0, retry_policy={"max_attempts": 1}))
    assert [e["status"] for e in events] == ["timeout"]
    assert "JSONDecodeError" not in events[0]["message"]


async def test_a_pipeline_without_status_is_an_error_event(transport) -> None:
    transport(lambda request: httpx.Response(200, json={"id": 7, "no": "status"}))
    events = await collect(make_trigger())
    assert events[0]["status"] == "error"
    assert "pipeline 7 of project demo/p is malformed: field status" in events[0]["message"]


async def test_unexpected_exception_becomes_an_error_event(transport, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**kwargs: Any) -> None:
        raise KeyError("boom")

    monkeypatch.setattr("airflow_provider_dataops.follow.project_poll.subscribe", broken)
    events = await collect(make_trigger())
    assert events[0]["status"] == "error"
    assert "KeyError" in events[0]["message"]


async def test_on_kill_cancels_only_when_asked(transport) -> None:
    seen = transport(lambda request: httpx.Response(200, json={"id": 7, "status": "canceling"}))
    await make_trigger(cancel_on_kill=False).on_kill()
    assert seen == []
    await make_trigger().on_kill()
    assert [(r.method, r.url.raw_path) for r in seen] == [("POST", b"/api/v4/projects/demo%2Fp/pipelines/7/cancel")]


async def test_the_job_trigger_cancels_its_job_on_kill_once_it_is_known(transport) -> None:
    from airflow_provider_dataops.triggers.job import DataOpsJobTrigger

    seen = transport(lambda request: httpx.Response(200, json={"id": 44, "status": "canceled"}))
    trigger = DataOpsJobTrigger(project="demo/p", pipeline_id=7, job_name="Build", deadline=2e9, poll_interval=5)
    await trigger.on_kill()  # the job is not found yet: nothing to cancel
    assert seen == []
    trigger._job_id = 44
    await trigger.on_kill()
    assert [(r.method, r.url.raw_path) for r in seen] == [("POST", b"/api/v4/projects/demo%2Fp/jobs/44/cancel")]


async def test_cleanup_never_cancels(transport) -> None:
    seen = transport(statuses("running"))
    await make_trigger().cleanup()
    assert seen == []


async def test_shared_client_is_one_per_loop_and_setting() -> None:
    from airflow_provider_dataops.api.connection import ConnectionSettings

    a = ConnectionSettings(conn_id="a", api_url=API, access_token="x", trigger_token=None)
    b = ConnectionSettings(conn_id="b", api_url=API, access_token="y", trigger_token=None)
    c = ConnectionSettings(conn_id="c", api_url=API, access_token="z", trigger_token=None, verify=False)
    assert dataops_async.shared_client(a) is dataops_async.shared_client(b)
    assert dataops_async.shared_client(a) is not dataops_async.shared_client(c)


async def test_async_hook_reads_the_connection_without_blocking(conn: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.common.compat.sdk import BaseHook
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_3_PLUS

    if AIRFLOW_V_3_3_PLUS:  # before 3.3.2 the compat layer runs the sync lookup in a worker thread

        def blocking(*args: object, **kwargs: object) -> None:
            raise AssertionError("the synchronous connection lookup ran inside the event loop")

        monkeypatch.setattr(BaseHook, "get_connection", classmethod(blocking))
    settings = await DataOpsAsyncHook().get_settings()
    assert settings.api_url == API
    assert settings.access_token == ACCESS_TOKEN


async def test_tls_failure_is_an_error_event_without_retries(transport) -> None:
    import ssl

    calls = {"n": 0}

    def untrusted(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        raise httpx.ConnectError("handshake failed", request=request) from ssl.SSLCertVerificationError("self-signed")

    transport(untrusted)
    events = await collect(make_trigger())
    assert events[0]["status"] == "error"
    assert "TLS handshake failed" in events[0]["message"]
    assert calls["n"] == 1


async def test_triggers_of_one_loop_share_one_connection_read(conn: None, monkeypatch: pytest.MonkeyPatch) -> None:
    reads = {"n": 0}
    real = dataops_async._read_settings

    async def counting(conn_id: str):  # type: ignore[no-untyped-def]
        reads["n"] += 1
        await asyncio.sleep(0.01)
        return await real(conn_id)

    monkeypatch.setattr(dataops_async, "_read_settings", counting)
    settings = await asyncio.gather(*(DataOpsAsyncHook().get_settings() for _ in range(200)))
    assert reads["n"] == 1
    assert {s.access_token for s in settings} == {ACCESS_TOKEN}
    cache = dataops_async.loop_shared().settings
    cache["dataops_default"] = (0.0, cache["dataops_default"][1])  # past the TTL: read again
    await DataOpsAsyncHook().get_settings()
    assert reads["n"] == 2


async def test_requests_in_flight_are_capped_at_the_pool_size(
    conn: None, monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    monkeypatch.setattr(dataops_async, "LOOP_POOL_SIZE", 3)
    live = {"now": 0, "max": 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        live["now"] += 1
        live["max"] = max(live["max"], live["now"])
        await asyncio.sleep(0.005)
        live["now"] -= 1
        pipeline_id = int(request.url.path.rsplit("/", 1)[1])
        return httpx.Response(200, json={"id": pipeline_id, "status": "success"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    monkeypatch.setattr(dataops_async, "shared_client", lambda settings: client)
    # forty pipelines: the first reads of newly watched pipelines go out together
    events = await asyncio.gather(*(collect(make_trigger(pipeline_id=index)) for index in range(1, 41)))
    assert [e[0]["status"] for e in events] == ["success"] * 40
    assert live["max"] == 3


async def test_ref_mode_waits_for_a_pipeline_then_watches_it(transport, sleeps: list[float]) -> None:
    api = PipelinesApi()
    api.set(3, "success", ref="other")
    polls = iter(["nothing", "pending", "other ref", "running", "success"])

    def advance(request: httpx.Request) -> None:
        step = next(polls, "success")
        if step == "other ref":
            api.set(10, "running", ref="other")
        elif step != "nothing":
            api.set(9, step)

    api.on_list = advance
    seen = transport(api)
    events = await collect(make_trigger(pipeline_id=None, ref="main"))
    assert (events[0]["status"], events[0]["pipeline_id"]) == ("success", 9)
    newest = seen[0]  # once: the newest pipeline on the ref; later ones come from the listing
    assert dict(newest.url.params) == {"ref": "main", "order_by": "id", "sort": "desc", "per_page": "1"}
    assert sum(1 for request in seen if request.url.params.get("ref")) == 1


async def test_ref_mode_moves_to_a_newer_pipeline_on_the_ref(transport, sleeps: list[float]) -> None:
    api = PipelinesApi()
    api.set(4, "running")
    polls = iter(["start", "newer"])

    def advance(request: httpx.Request) -> None:
        if next(polls, "done") == "newer":
            api.set(5, "failed")

    api.on_list = advance
    transport(api)
    events = await collect(make_trigger(pipeline_id=None, ref="main"))
    assert (events[0]["status"], events[0]["pipeline_id"], events[0]["pipeline_status"]) == ("failure", 5, "failed")


async def test_not_modified_without_location_is_a_clear_error(transport) -> None:
    transport(lambda request: httpx.Response(304))
    events = await collect(make_trigger())
    assert events[0]["status"] == "error"
    assert "HTTP 304" in events[0]["message"]


@pytest.mark.parametrize("failure", [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError])
async def test_cancel_is_retried_whatever_the_transport_failure(transport, failure: type) -> None:
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise failure("boom", request=request)
        return httpx.Response(200, json={"id": 7, "status": "canceling"})

    transport(flaky)
    await make_trigger().on_kill()
    assert calls["n"] == 2


@pytest.mark.parametrize(
    ("failure", "sent"),
    [
        (httpx.ConnectError, False),
        (httpx.ConnectTimeout, False),
        (httpx.PoolTimeout, False),
        (httpx.ReadTimeout, True),
        (httpx.RemoteProtocolError, True),
    ],
)
def test_httpx_failures_say_whether_the_request_was_sent(failure: type, sent: bool) -> None:
    from airflow_provider_dataops.api.transport import Delivery

    request = httpx.Request("POST", API)
    assert dataops_async._delivery(failure("x", request=request)) is (Delivery.SENT if sent else Delivery.UNSENT)


async def test_triggers_of_one_project_share_one_listing(transport, sleeps: list[float]) -> None:
    api = PipelinesApi()
    for pipeline_id in (7, 8, 9):
        api.set(pipeline_id, "running")
    polls = iter(range(100))

    def advance(request: httpx.Request) -> None:
        if next(polls) == 3:
            for pipeline_id in (7, 8, 9):
                api.set(pipeline_id, "success")

    api.on_list = advance
    transport(api)
    events = await asyncio.gather(*(collect(make_trigger(pipeline_id=pipeline_id)) for pipeline_id in (7, 8, 9)))
    assert sorted((e[0]["pipeline_id"], e[0]["status"]) for e in events) == [
        (7, "success"),
        (8, "success"),
        (9, "success"),
    ]
    assert len(api.gets) == 3  # one first read each
    assert len(api.lists) == 4  # then one listing per poll for all three
