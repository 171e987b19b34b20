"""Each transport behaviour, run against both hooks: DataOpsHook (requests) and DataOpsAsyncHook (httpx).

Both share one core (airflow_provider_dataops.api.transport); these tests hold the two send loops to it.
The sync hook is driven through requests-mock, the async hook through httpx.MockTransport; the local
configuration errors use the real libraries against a loopback socket that never answers.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import requests_mock as rm
from urllib3.exceptions import MaxRetryError, NewConnectionError

from airflow_provider_dataops import __version__
from airflow_provider_dataops.api import transport
from airflow_provider_dataops.api.connection import ConnectionSettings
from airflow_provider_dataops.api.retry import RetryPolicy
from airflow_provider_dataops.api.transport import decode_json
from airflow_provider_dataops.errors import (
    DataOpsAPIError,
    DataOpsConfigError,
    DataOpsMalformedResponseError,
    DataOpsNotFoundError,
    DataOpsRateLimitError,
    DataOpsRedirectError,
    DataOpsRequestMaybeAppliedError,
    DataOpsServerError,
    DataOpsTLSError,
    DataOpsTransportError,
)
from airflow_provider_dataops.hooks import dataops_async
from airflow_provider_dataops.hooks.dataops import DataOpsHook
from airflow_provider_dataops.hooks.dataops_async import DataOpsAsyncHook

from .conftest import ACCESS_TOKEN, API, TRIGGER_TOKEN, set_connection

PIPELINE = {"id": 7, "status": "running", "web_url": "https://dataops.example.com/g/p/-/pipelines/7"}
PIPELINE_URL = f"{API}/projects/1/pipelines/7"


@dataclass
class Reply:
    """A scripted answer; ``json`` wins over ``body``."""

    status: int = 200
    json: Any = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def content(self) -> bytes:
        return json.dumps(self.json).encode() if self.json is not None else self.body


@dataclass(frozen=True)
class Seen:
    """A request as the server saw it."""

    method: str
    url: str
    headers: dict[str, str]
    query: dict[str, str]


Handler = Callable[[Seen], "Reply | Exception"]
FAILURES = ("read_timeout", "refused", "reset", "tls")


class Driver:
    """Runs one transport behaviour through one hook; subclasses bind the HTTP library."""

    name: str

    def hook(self, **kwargs: Any) -> Any:
        raise NotImplementedError

    def serve(self, handler: Handler) -> list[Seen]:
        raise NotImplementedError

    def call(self, hook: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def request(self, hook: Any, method: str, path: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    def failure(self, kind: str) -> Exception:
        raise NotImplementedError

    def force_settings(self, hook: Any, settings: ConnectionSettings) -> None:
        raise NotImplementedError


class SyncDriver(Driver):
    name = "sync"

    def __init__(self, mocker: rm.Mocker) -> None:
        self.mocker = mocker

    def hook(self, **kwargs: Any) -> DataOpsHook:
        return DataOpsHook(**kwargs)

    def serve(self, handler: Handler) -> list[Seen]:
        seen: list[Seen] = []

        def answer(request: Any, context: Any) -> bytes:
            query = {key: values[-1] for key, values in request.qs.items()}
            seen.append(Seen(request.method, request.url, dict(request.headers), query))
            reply = handler(seen[-1])
            if isinstance(reply, Exception):
                raise reply
            context.status_code = reply.status
            context.headers.update(reply.headers)
            return reply.content()

        self.mocker.register_uri(rm.ANY, rm.ANY, content=answer)
        return seen

    def call(self, hook: DataOpsHook, name: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(hook, name)(*args, **kwargs)

    def request(self, hook: DataOpsHook, method: str, path: str, **kwargs: Any) -> Any:
        return hook.request(method, path, **kwargs)

    def failure(self, kind: str) -> Exception:
        if kind == "read_timeout":
            return requests.ReadTimeout("read timed out")
        if kind == "connect_timeout":
            return requests.ConnectTimeout("connect timed out")
        if kind == "refused":
            reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] refused")  # type: ignore[arg-type]
            return requests.ConnectionError(MaxRetryError(None, "/", reason=reason))  # type: ignore[arg-type]
        if kind == "reset":
            return requests.ConnectionError(ConnectionResetError(104, "reset"))
        return requests.exceptions.SSLError(
            MaxRetryError(None, "/", reason=ssl.SSLCertVerificationError("self-signed"))
        )  # type: ignore[arg-type]

    def force_settings(self, hook: DataOpsHook, settings: ConnectionSettings) -> None:
        hook.__dict__["settings"] = settings


class AsyncDriver(Driver):
    name = "async"

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch

    def hook(self, **kwargs: Any) -> DataOpsAsyncHook:
        return DataOpsAsyncHook(**kwargs)

    def serve(self, handler: Handler) -> list[Seen]:
        seen: list[Seen] = []

        def answer(request: httpx.Request) -> httpx.Response:
            query = dict(request.url.params)
            seen.append(Seen(request.method, str(request.url), dict(request.headers), query))
            reply = handler(seen[-1])
            if isinstance(reply, Exception):
                if isinstance(reply, httpx.RequestError):
                    reply.request = request
                raise reply
            return httpx.Response(reply.status, headers=reply.headers, content=reply.content())

        client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
        self.monkeypatch.setattr(dataops_async, "shared_client", lambda settings: client)
        return seen

    def _run(self, coroutine: Any) -> Any:
        async def run() -> Any:
            try:
                return await coroutine
            finally:
                for client in dataops_async.loop_shared().clients.values():
                    await client.aclose()

        return asyncio.run(run())

    def call(self, hook: DataOpsAsyncHook, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._run(getattr(hook, name)(*args, **kwargs))

    def request(self, hook: DataOpsAsyncHook, method: str, path: str, **kwargs: Any) -> Any:
        return self._run(hook.request_json(method, path, **kwargs))

    def failure(self, kind: str) -> Exception:
        if kind == "read_timeout":
            return httpx.ReadTimeout("read timed out")
        if kind == "connect_timeout":
            return httpx.ConnectTimeout("connect timed out")
        if kind == "refused":
            return httpx.ConnectError("[Errno 111] Connection refused")
        if kind == "reset":
            return httpx.RemoteProtocolError("peer closed connection")
        error = httpx.ConnectError("handshake failed")
        error.__cause__ = ssl.SSLCertVerificationError("self-signed")
        return error

    def force_settings(self, hook: DataOpsAsyncHook, settings: ConnectionSettings) -> None:
        hook._settings = settings


@pytest.fixture(params=["sync", "async"])
def driver(
    request: pytest.FixtureRequest, conn: None, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Driver]:
    if request.param == "sync":
        with rm.Mocker() as mocker:
            yield SyncDriver(mocker)
    else:
        yield AsyncDriver(monkeypatch)


def answers(*replies: Reply | Exception) -> Handler:
    """Answer with these in turn; the last one repeats."""
    remaining = list(replies)

    def handler(seen: Seen) -> Reply | Exception:
        return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    return handler


# -- building the request -----------------------------------------------------------------------


def test_token_user_agent_and_path_encoded_once(driver: Driver) -> None:
    seen = driver.serve(answers(Reply(json=PIPELINE)))
    driver.call(driver.hook(), "get_pipeline", "group/we?ird#name", "12")
    (request,) = seen
    headers = {key.lower(): value for key, value in request.headers.items()}
    assert headers["private-token"] == ACCESS_TOKEN
    assert headers["user-agent"] == f"airflow-provider-dataops/{__version__}"
    assert headers["accept"] == "application/json"
    assert "/api/v4/projects/group%2Fwe%3Fird%23name/pipelines/12" in request.url
    assert "%25" not in request.url


def test_newest_pipeline_is_one_query_on_both_paths(driver: Driver) -> None:
    seen = driver.serve(answers(Reply(json=[{"id": 9, "status": "pending"}])))
    assert driver.call(driver.hook(), "newest_pipeline", "demo/p", "main") == {"id": 9, "status": "pending"}
    assert seen[0].query == {"ref": "main", "order_by": "id", "sort": "desc", "per_page": "1"}
    assert "/api/v4/projects/demo%2Fp/pipelines?" in seen[0].url


def test_newest_pipeline_needs_a_list(driver: Driver) -> None:
    driver.serve(answers(Reply(json={"message": "not a list"})))
    with pytest.raises(DataOpsMalformedResponseError, match="did not return a list"):
        driver.call(driver.hook(), "newest_pipeline", 1, "main")


@pytest.mark.parametrize(
    ("name", "args", "fragment"),
    [
        ("get_pipeline", ("../admin", 1), "project"),
        ("get_pipeline", (1, "7;drop"), "pipeline_id"),
        ("get_pipeline", (True, 7), "project"),
        ("newest_pipeline", (1, "bad ref"), "ref"),
        ("newest_pipeline", (1, ""), "ref"),
        ("cancel_pipeline", (1, 0), "pipeline_id"),
    ],
)
def test_bad_arguments_fail_before_any_request(driver: Driver, name: str, args: tuple, fragment: str) -> None:
    seen = driver.serve(answers(Reply(json=PIPELINE)))
    with pytest.raises(DataOpsConfigError, match=fragment):
        driver.call(driver.hook(), name, *args)
    assert seen == []


@pytest.mark.parametrize(
    ("method", "path", "fragment"),
    [
        ("FETCH", "/user", "method"),
        ("GET", "https://evil.example/api/v4/user", "endpoint"),
        ("GET", "/user?admin=1", "endpoint"),
        ("GET", "/projects/%2e%2e/x", "endpoint"),
    ],
)
def test_bad_request_fails_before_sending(driver: Driver, method: str, path: str, fragment: str) -> None:
    seen = driver.serve(answers(Reply(json={})))
    with pytest.raises(DataOpsConfigError, match=fragment):
        driver.request(driver.hook(), method, path)
    assert seen == []


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"dataops_conn_id": ""}, "dataops_conn_id"),
        ({"dataops_conn_id": None}, "dataops_conn_id"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"timeout": float("inf")}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": 1e12}, "timeout"),
        ({"retry_policy": "fast"}, "retry_policy"),
        ({"retry_policy": {"attempts": 3}}, "retry_policy accepts"),
    ],
)
def test_hook_arguments_are_checked_at_construction(driver: Driver, kwargs: dict, fragment: str) -> None:
    with pytest.raises(DataOpsConfigError, match=fragment):
        driver.hook(**kwargs)


def test_timeout_override_reaches_the_transport(driver: Driver) -> None:
    driver.serve(answers(Reply(json=PIPELINE)))
    hook = driver.hook(timeout=5)
    driver.call(hook, "get_pipeline", 1, 7)
    if isinstance(driver, SyncDriver):
        assert driver.mocker.last_request.timeout == (5.0, 5.0)
    else:
        settings = asyncio.run(hook.get_settings())
        assert (settings.timeout, settings.connect_timeout) == (5.0, 5.0)


def test_trigger_token_only_connection_refuses_reads_before_sending(
    driver: Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(monkeypatch, password=None, extra={"trigger_token": TRIGGER_TOKEN})
    seen = driver.serve(answers(Reply(json=PIPELINE)))
    for name in ("get_pipeline", "cancel_pipeline"):
        with pytest.raises(DataOpsConfigError, match="holds only a pipeline trigger token"):
            driver.call(driver.hook(), name, 1, 7)
    with pytest.raises(DataOpsConfigError, match="holds only a pipeline trigger token"):
        driver.call(driver.hook(), "newest_pipeline", 1, "main")
    assert seen == []


def test_both_tokens_are_registered_with_the_secret_masker(driver: Driver, monkeypatch: pytest.MonkeyPatch) -> None:
    import airflow.providers.common.compat.sdk as compat_sdk

    masked: list[str] = []
    monkeypatch.setattr(compat_sdk, "mask_secret", lambda secret, name=None: masked.append(secret), raising=False)
    set_connection(monkeypatch, extra={"trigger_token": TRIGGER_TOKEN})
    driver.serve(answers(Reply(json=PIPELINE)))
    driver.call(driver.hook(), "get_pipeline", 1, 7)
    assert sorted(masked) == sorted([ACCESS_TOKEN, TRIGGER_TOKEN])


# -- redirects ----------------------------------------------------------------------------------


def test_same_origin_redirect_keeps_the_token_another_origin_drops_it(driver: Driver) -> None:
    def handler(seen: Seen) -> Reply:
        if "/projects/old%2Fp/" in seen.url:
            return Reply(301, headers={"Location": f"{API}/projects/new%2Fp/pipelines/7"})
        if "/projects/new%2Fp/" in seen.url:
            return Reply(302, headers={"Location": "https://mirror.example/pipelines/7?sig=1"})
        return Reply(json=PIPELINE)

    seen = driver.serve(handler)
    assert driver.call(driver.hook(), "get_pipeline", "old/p", 7) == PIPELINE
    tokens = [{key.lower(): value for key, value in s.headers.items()}.get("private-token") for s in seen]
    assert tokens == [ACCESS_TOKEN, ACCESS_TOKEN, None]
    assert seen[2].url == "https://mirror.example/pipelines/7?sig=1"


def test_redirect_loop_stops_after_five_follows(driver: Driver) -> None:
    seen = driver.serve(answers(Reply(302, headers={"Location": PIPELINE_URL})))
    with pytest.raises(DataOpsRedirectError, match="followed 5 redirects and was redirected again") as raised:
        driver.call(driver.hook(), "get_pipeline", 1, 7)
    assert "not followed" not in str(raised.value)
    assert len(seen) == 6  # the request and five follows, not retried


def test_redirected_post_is_not_followed(driver: Driver) -> None:
    seen = driver.serve(answers(Reply(307, headers={"Location": f"{API}/projects/2/pipelines/7/cancel"})))
    with pytest.raises(DataOpsRedirectError, match=r"redirected a POST request .* it was not followed"):
        driver.call(driver.hook(), "cancel_pipeline", 1, 7)
    assert len(seen) == 1


# -- retries and throttling ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(driver: Driver, sleeps: list[float], status: int) -> None:
    seen = driver.serve(answers(Reply(status, body=b"busy"), Reply(json=PIPELINE)))
    assert driver.call(driver.hook(), "get_pipeline", 1, 7) == PIPELINE
    assert len(seen) == 2
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, DataOpsAPIError),
        (401, DataOpsAPIError),
        (403, DataOpsAPIError),
        (404, DataOpsNotFoundError),
        (409, DataOpsAPIError),
        (422, DataOpsAPIError),
    ],
)
def test_client_errors_are_not_retried(driver: Driver, status: int, cls: type) -> None:
    seen = driver.serve(answers(Reply(status, json={"message": f"{status} nope"})))
    with pytest.raises(cls, match=f"GET /projects/1/pipelines/7 -> HTTP {status}"):
        driver.call(driver.hook(), "get_pipeline", 1, 7)
    assert len(seen) == 1


def test_retry_after_is_honoured(driver: Driver, sleeps: list[float]) -> None:
    driver.serve(answers(Reply(429, body=b"Retry later", headers={"Retry-After": "7"}), Reply(json=PIPELINE)))
    driver.call(driver.hook(), "get_pipeline", 1, 7)
    assert sleeps == [7.0]


@pytest.mark.parametrize(
    "headers",
    [
        {"Retry-After": "0"},
        {"Retry-After": "-30"},
        {"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"},
        {"RateLimit-Reset": "1000000000"},  # 2001: long past
        {"RateLimit-Reset": "0"},
    ],
)
def test_a_zero_or_past_server_wait_keeps_a_floor(driver: Driver, sleeps: list[float], headers: dict) -> None:
    seen = driver.serve(answers(Reply(429, body=b"Retry later", headers=headers), Reply(json=PIPELINE)))
    driver.call(driver.hook(), "get_pipeline", 1, 7)
    assert len(seen) == 2
    assert sleeps == [1.0]


def test_quota_used_up_holds_the_next_request(driver: Driver, sleeps: list[float]) -> None:
    reset = str(int(time.time()) + 5)
    driver.serve(answers(Reply(json=PIPELINE, headers={"RateLimit-Remaining": "0", "RateLimit-Reset": reset})))
    hook = driver.hook()
    driver.call(hook, "get_pipeline", 1, 7)
    assert sleeps == []
    driver.call(hook, "get_pipeline", 1, 7)
    assert len(sleeps) == 1
    assert 3 <= sleeps[0] <= 6


@pytest.mark.parametrize(
    ("date", "reset", "expected"),
    [
        (-3600, -3570, 30),  # a server an hour behind: still the 30 s to its reset, not an early knock
        (0, 30, 30),
        (7200, 7230, 30),
        (3 * 86400, 5, 5),  # a Date more than a day ahead is not the server's clock: ours is used
    ],
)
def test_a_reset_time_is_measured_on_the_servers_clock(
    driver: Driver, sleeps: list[float], date: int, reset: int, expected: int
) -> None:
    now = int(time.time())
    headers = {
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": str(now + reset),
        "Date": email.utils.formatdate(now + date, usegmt=True),
    }
    driver.serve(answers(Reply(json=PIPELINE, headers=headers)))
    hook = driver.hook()
    driver.call(hook, "get_pipeline", 1, 7)
    driver.call(hook, "get_pipeline", 1, 7)
    assert len(sleeps) == 1
    assert expected - 2 <= sleeps[0] <= expected


@pytest.mark.parametrize("kind", ["read_timeout", "connect_timeout", "refused", "reset"])
def test_reads_are_retried_after_transport_failures(driver: Driver, kind: str) -> None:
    seen = driver.serve(answers(driver.failure(kind), Reply(json=PIPELINE)))
    assert driver.call(driver.hook(), "get_pipeline", 1, 7) == PIPELINE
    assert len(seen) == 2


def test_a_write_that_never_left_is_retried(driver: Driver) -> None:
    seen = driver.serve(answers(driver.failure("refused"), Reply(201, json={"id": 3})))
    assert driver.request(driver.hook(), "POST", "/projects", json={"name": "x"}) == {"id": 3}
    assert len(seen) == 2


@pytest.mark.parametrize("failure", ["read_timeout", "reset", "502"])
def test_a_write_with_an_unknown_outcome_is_never_repeated(driver: Driver, failure: str) -> None:
    first = Reply(502, body=b"bad gateway") if failure == "502" else driver.failure(failure)
    seen = driver.serve(answers(first, Reply(201, json={"id": 3})))
    with pytest.raises(DataOpsRequestMaybeAppliedError, match="may have been applied") as raised:
        driver.request(driver.hook(), "POST", "/projects", json={"name": "x"})
    assert len(seen) == 1
    assert isinstance(raised.value.cause, DataOpsServerError | DataOpsTransportError)


def test_tls_failure_is_not_retried(driver: Driver) -> None:
    seen = driver.serve(answers(driver.failure("tls")))
    with pytest.raises(DataOpsTLSError, match="verify_ssl"):
        driver.call(driver.hook(), "get_pipeline", 1, 7)
    assert len(seen) == 1


def test_rate_limit_error_after_the_budget(driver: Driver, sleeps: list[float]) -> None:
    driver.serve(answers(Reply(429, body=b"Retry later", headers={"Retry-After": "60"})))
    with pytest.raises(DataOpsRateLimitError, match="rate limited"):
        driver.call(driver.hook(retry_policy={"max_total_wait": 30}), "get_pipeline", 1, 7)
    assert sleeps == []


# -- bodies -------------------------------------------------------------------------------------

HTML = Reply(200, body=b"<html>proxy login</html>", headers={"Content-Type": "text/html"})


def test_a_malformed_2xx_read_is_retried_as_transient(driver: Driver) -> None:
    truncated = Reply(200, body=b'{"id": 7, "sta', headers={"Content-Type": "application/json"})
    seen = driver.serve(answers(truncated, Reply(json=PIPELINE)))
    assert driver.call(driver.hook(), "get_pipeline", 1, 7) == PIPELINE
    assert len(seen) == 2


def test_a_non_json_2xx_read_is_a_clear_error(driver: Driver) -> None:
    seen = driver.serve(answers(HTML))
    with pytest.raises(DataOpsMalformedResponseError, match="expected a JSON body, got text/html"):
        driver.call(driver.hook(retry_policy=RetryPolicy(max_attempts=2)), "get_pipeline", 1, 7)
    assert len(seen) == 2


def test_an_unreadable_2xx_to_a_write_may_have_been_applied(driver: Driver) -> None:
    seen = driver.serve(answers(Reply(201, body=b"<html>created</html>", headers={"Content-Type": "text/html"})))
    with pytest.raises(DataOpsRequestMaybeAppliedError, match="may have been applied") as raised:
        driver.request(driver.hook(), "POST", "/projects", json={"name": "x"})
    assert len(seen) == 1
    assert isinstance(raised.value.cause, DataOpsMalformedResponseError)


def test_an_answer_nested_deeper_than_python_goes_is_malformed(driver: Driver) -> None:
    nested = Reply(200, body=b"[" * 100_000 + b"]" * 100_000, headers={"Content-Type": "application/json"})
    driver.serve(answers(nested))
    with pytest.raises(DataOpsMalformedResponseError, match="expected a JSON body"):
        driver.call(driver.hook(retry_policy=RetryPolicy(max_attempts=1)), "get_pipeline", 1, 7)


@pytest.mark.parametrize(
    "body",
    [
        rb'{"id": 7, "name": "caf\u00e9 \ud83d\ude00", "ratio": 0.1, "neg": -0, "tiny": 1.5e-7}',
        b'{"a": 1, "a": 2}',  # the last duplicate wins
        b"[123456789012345678901234567890, 18446744073709551616]",
        b" [1] ",
        b"[NaN, Infinity, 1e400]",  # json.loads accepts what strict JSON does not
        rb'["\ud800"]',  # a lone surrogate
        b"\xef\xbb\xbf[1]",  # UTF-8 with a byte order mark
        '{"k": "v"}'.encode("utf-16"),
        '{"k": "v"}'.encode("utf-32-le"),
    ],
)
def test_the_fast_decode_gives_what_json_loads_gives(body: bytes) -> None:
    expected = json.loads(body)
    decoded = decode_json(body)
    assert repr(decoded) == repr(expected)  # repr: NaN is not equal to itself


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"[1] x", json.JSONDecodeError),
        (b'{"id": 7, "sta', json.JSONDecodeError),
        (b"<html>", json.JSONDecodeError),
        (b'{"a": "\xff"}', UnicodeDecodeError),
    ],
)
def test_the_fast_decode_raises_what_json_loads_raises(body: bytes, error: type[ValueError]) -> None:
    with pytest.raises(error):
        json.loads(body)
    with pytest.raises(error):
        decode_json(body)


def test_an_empty_2xx_body_is_none(driver: Driver) -> None:
    driver.serve(answers(Reply(204)))
    assert driver.request(driver.hook(), "GET", "/projects/1/pipelines/7") is None


def test_server_echo_of_the_token_is_redacted(driver: Driver) -> None:
    driver.serve(answers(Reply(404, json={"message": f"no such token {ACCESS_TOKEN}"})))
    with pytest.raises(DataOpsNotFoundError) as raised:
        driver.call(driver.hook(), "get_pipeline", 1, 7)
    assert ACCESS_TOKEN not in str(raised.value)


# -- local configuration errors: nothing leaves the machine -------------------------------------


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.fixture
def real_driver(
    request: pytest.FixtureRequest, conn: None, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> Driver:
    """A driver whose hooks use their real HTTP library (no mock)."""
    return SyncDriver(rm.Mocker()) if request.param == "sync" else AsyncDriver(monkeypatch)


CONTROL_TOKEN = "glpat-SECRETSECRET\nX"
LATIN_TOKEN = "glpat-SECRETSECRET€"


@pytest.mark.parametrize("real_driver", ["sync", "async"], indirect=True)
@pytest.mark.parametrize(
    ("case", "api_url", "token", "proxy"),
    [
        ("port out of range", "http://127.0.0.1:99999/api/v4", ACCESS_TOKEN, None),
        ("malformed proxy URL", "http://127.0.0.1:{port}/api/v4", ACCESS_TOKEN, "http://[::1"),
        ("proxy port out of range", "http://127.0.0.1:{port}/api/v4", ACCESS_TOKEN, "http://127.0.0.1:99999"),
        ("unsupported proxy scheme", "http://127.0.0.1:{port}/api/v4", ACCESS_TOKEN, "ftp://proxy.local:21"),
        ("proxy without scheme", "http://127.0.0.1:{port}/api/v4", ACCESS_TOKEN, "proxy:3128"),
        ("control character in the token", "http://127.0.0.1:{port}/api/v4", CONTROL_TOKEN, None),
        ("non-Latin-1 token", "http://127.0.0.1:{port}/api/v4", LATIN_TOKEN, None),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_local_configuration_errors_are_config_errors_at_once(
    real_driver: Driver,
    silent_port: int,
    sleeps: list[float],
    case: str,
    api_url: str,
    token: str,
    proxy: str | None,
    method: str,
) -> None:
    settings = ConnectionSettings(
        conn_id="dataops_default",
        api_url=api_url.format(port=silent_port),
        access_token=token,
        trigger_token=None,
        timeout=5.0,
        proxy=proxy,
    )
    hook = real_driver.hook()
    real_driver.force_settings(hook, settings)
    with pytest.raises(DataOpsConfigError) as raised:
        real_driver.request(hook, method, "/projects/1/pipelines/7/cancel")
    message = str(raised.value)
    assert f"{method} /projects/1/pipelines/7/cancel was not sent" in message
    assert "Nothing left this machine" in message
    assert "SECRET" not in message
    assert "unit-secret" not in message
    assert not isinstance(raised.value, DataOpsRequestMaybeAppliedError)
    assert sleeps == []  # not retried
    if real_driver.name == "sync":
        real_driver.hook().close()


@pytest.fixture
def plain_http_port() -> Iterator[int]:
    """A loopback port that answers every connection in plain HTTP, as the local emulator does."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.05)  # so the loop sees ``stop`` soon after the test
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with connection:
                connection.recv(4096)
                connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    listener.close()


@pytest.mark.parametrize("real_driver", ["sync", "async"], indirect=True)
def test_https_to_a_plain_http_loopback_server_says_how_to_write_http(
    real_driver: Driver, plain_http_port: int, sleeps: list[float]
) -> None:
    # dataops://:token@127.0.0.1:PORT means https: against the emulator, the handshake fails.
    settings = ConnectionSettings(
        conn_id="dataops_default",
        api_url=f"https://127.0.0.1:{plain_http_port}/api/v4",
        access_token=ACCESS_TOKEN,
        trigger_token=None,
        timeout=5.0,
    )
    hook = real_driver.hook()
    real_driver.force_settings(hook, settings)
    with pytest.raises(DataOpsTLSError) as raised:
        real_driver.request(hook, "GET", "/projects/1")
    message = str(raised.value)
    assert "TLS handshake failed" in message
    assert f"http://127.0.0.1:{plain_http_port}" in message
    assert f"dataops://:<token>@http%3A%2F%2F127.0.0.1:{plain_http_port}" in message
    assert ACCESS_TOKEN not in message
    assert sleeps == []  # not retried
    if real_driver.name == "sync":
        hook.close()


@pytest.mark.parametrize(
    "api_url",
    ["https://dataops.example.com/api/v4", "http://127.0.0.1:8080/api/v4", "https://10.0.0.5:8443/api/v4"],
)
def test_no_plain_http_hint_beyond_https_to_loopback(api_url: str) -> None:
    assert transport._plain_http_hint(api_url) == ""


# -- the sync path only: the environment, threads -----------------------------------------------


def test_connection_tls_and_proxy_win_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float], requests_mock: rm.Mocker
) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.setenv(name, "/etc/ssl/environment-bundle.pem")
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, "http://environment-proxy.invalid:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    set_connection(monkeypatch, extra={"verify_ssl": False, "proxy": "http://connection-proxy.invalid:8080"})
    requests_mock.get(PIPELINE_URL, json=PIPELINE)
    DataOpsHook().get_pipeline(1, 7)
    assert requests_mock.last_request.verify is False
    assert requests_mock.last_request.proxies["https"] == "http://connection-proxy.invalid:8080"


def test_without_connection_settings_the_environment_still_applies(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float], requests_mock: rm.Mocker
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/environment-bundle.pem")
    monkeypatch.setenv("HTTPS_PROXY", "http://environment-proxy.invalid:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    set_connection(monkeypatch)
    requests_mock.get(PIPELINE_URL, json=PIPELINE)
    DataOpsHook().get_pipeline(1, 7)
    assert requests_mock.last_request.verify == "/etc/ssl/environment-bundle.pem"
    assert requests_mock.last_request.proxies["https"] == "http://environment-proxy.invalid:3128"


def test_netrc_credentials_are_never_added(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, sleeps: list[float], requests_mock: rm.Mocker
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine dataops.example.com login someone password netrc-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    set_connection(monkeypatch)
    requests_mock.get(PIPELINE_URL, json=PIPELINE)
    DataOpsHook().get_pipeline(1, 7)
    assert "Authorization" not in requests_mock.last_request.headers


def test_an_unreachable_proxy_means_a_write_never_left(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float], requests_mock: rm.Mocker
) -> None:
    from urllib3.exceptions import ProxyError

    reason = ProxyError("Unable to connect to proxy", NewConnectionError(None, "[Errno 111] refused"))  # type: ignore[arg-type]
    unreachable = requests.exceptions.ProxyError(MaxRetryError(None, "/", reason=reason))  # type: ignore[arg-type]
    set_connection(monkeypatch, extra={"proxy": "http://127.0.0.1:9"})
    requests_mock.post(f"{API}/projects", [{"exc": unreachable}, {"json": {"id": 3}, "status_code": 201}])
    assert DataOpsHook().request("POST", "/projects", json={"name": "x"}) == {"id": 3}
    assert requests_mock.call_count == 2
