"""Local configuration errors are config errors when the connection is read, in both hooks.

Each case runs against DataOpsHook and DataOpsAsyncHook: a request must never be attempted, no
retry may wait, and no part of a token may reach the exception, the log or test_connection().
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import requests_mock as rm

from airflow_provider_dataops.api import connection
from airflow_provider_dataops.errors import DataOpsConfigError
from airflow_provider_dataops.hooks import dataops_async
from airflow_provider_dataops.hooks.dataops import DataOpsHook
from airflow_provider_dataops.hooks.dataops_async import DataOpsAsyncHook

from .conftest import HOST, set_connection

CONN_ID = "dataops_checks"
SECRET_BODY = "SECRETVALUE1234567890"

HOOKS = ["sync", "async"]


@pytest.fixture
def no_requests(requests_mock: rm.Mocker, monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> Callable[[], None]:
    """Fail on any HTTP request from either hook; returns a check that nothing was sent or waited."""
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    client = httpx.AsyncClient(transport=httpx.MockTransport(record))
    monkeypatch.setattr(dataops_async, "shared_client", lambda settings: client)
    requests_mock.register_uri(rm.ANY, rm.ANY, json={})

    def check() -> None:
        assert requests_mock.call_count == 0, "the sync hook sent a request"
        assert sent == [], "the async hook sent a request"
        assert sleeps == [], "a local configuration error was retried"

    return check


def read_pipeline(kind: str) -> None:
    """Make one read through the chosen hook (it reads the connection first)."""
    if kind == "sync":
        DataOpsHook(CONN_ID).get_pipeline(1, 2)
    else:
        asyncio.run(DataOpsAsyncHook(CONN_ID).get_pipeline(1, 2))


def make_hook(kind: str, **kwargs: Any) -> object:
    return DataOpsHook(**kwargs) if kind == "sync" else DataOpsAsyncHook(**kwargs)


def config_error(kind: str, monkeypatch: pytest.MonkeyPatch, **fields: Any) -> DataOpsConfigError:
    set_connection(monkeypatch, CONN_ID, **fields)
    with pytest.raises(DataOpsConfigError) as raised:
        read_pipeline(kind)
    return raised.value


# -- 1, 2: tokens that cannot be sent ----------------------------------------------------------

BAD_TOKENS = {
    "line break": f"glpat-{SECRET_BODY}\nX",
    "carriage return": f"glpat-{SECRET_BODY}\r\nX-Injected: 1",
    "NUL": f"glpat-{SECRET_BODY}\x00",
    "tab": f"glpat-{SECRET_BODY}\tX",
    "DEL": f"glpat-{SECRET_BODY}\x7f",
    "non-Latin-1": f"glpat-{SECRET_BODY}\u2603",
    "Latin-1 but not ASCII": f"glpat-{SECRET_BODY}\xe9",
    "inner space": f"glpat-{SECRET_BODY} X",
}


def _token_parts(token: str) -> list[str]:
    return [token, token.strip(), SECRET_BODY, repr(token)[1:-1]]


@pytest.mark.parametrize("kind", HOOKS)
@pytest.mark.parametrize("field", ["password", "trigger_token"])
@pytest.mark.parametrize("name", list(BAD_TOKENS))
def test_a_token_that_cannot_be_sent_is_a_config_error_that_never_quotes_it(
    kind: str,
    field: str,
    name: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    no_requests: Callable[[], None],
) -> None:
    token = BAD_TOKENS[name]
    fields: dict[str, Any] = (
        {"password": token} if field == "password" else {"password": None, "extra": {"trigger_token": token}}
    )
    caplog.set_level(logging.DEBUG)
    error = config_error(kind, monkeypatch, **fields)
    texts = [str(error), repr(error), caplog.text, *(record.getMessage() for record in caplog.records)]
    if kind == "sync":
        ok, message = DataOpsHook(CONN_ID).test_connection()
        assert not ok
        texts.append(message)
        assert "password (access token)" in message or "trigger_token" in message
    assert CONN_ID in str(error)
    assert ("password (access token)" if field == "password" else "extra 'trigger_token'") in str(error)
    for text in texts:
        for part in _token_parts(token):
            assert part not in text
    no_requests()


@pytest.mark.parametrize("kind", HOOKS)
def test_a_pasted_line_break_around_the_token_is_trimmed(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, CONN_ID, password=f"  glpat-{SECRET_BODY}\n")
    hook = DataOpsHook(CONN_ID) if kind == "sync" else None
    settings = hook.settings if hook else asyncio.run(DataOpsAsyncHook(CONN_ID).get_settings())
    assert settings.access_token == f"glpat-{SECRET_BODY}"


# -- 7: numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", HOOKS)
@pytest.mark.parametrize("timeout", [float("inf"), float("nan"), 1e12, 3601, 0, -1, True, "30"])
def test_hook_timeout_must_be_finite_and_bounded(kind: str, timeout: Any) -> None:
    with pytest.raises(DataOpsConfigError, match=r"^timeout must be a number of seconds .* at most 3600 \(1 hour\)"):
        make_hook(kind, timeout=timeout)


@pytest.mark.parametrize("kind", HOOKS)
@pytest.mark.parametrize(
    "policy",
    [
        {"max_attempts": True},
        {"max_attempts": 0},
        {"max_attempts": 1e9},
        {"max_total_wait": float("nan")},
        {"max_total_wait": float("inf")},
        {"backoff_initial": -1},
        {"backoff_max": 1e12},
        {"jitter": "yes"},
    ],
)
def test_hook_retry_policy_fields_are_checked(kind: str, policy: dict[str, Any]) -> None:
    (name,) = policy
    with pytest.raises(DataOpsConfigError, match=f"^{name} must be"):
        make_hook(kind, retry_policy=policy)


@pytest.mark.parametrize("kind", HOOKS)
@pytest.mark.parametrize("timeout", ["nan", "inf", "1e12", float("inf"), True, "-5", "soon"])
def test_connection_timeout_extra_must_be_finite_and_bounded(
    kind: str, timeout: Any, monkeypatch: pytest.MonkeyPatch, no_requests: Callable[[], None]
) -> None:
    error = config_error(kind, monkeypatch, extra={"timeout": timeout})
    assert str(error).startswith(f"connection {CONN_ID!r}: extra 'timeout' must be a number of seconds")
    no_requests()


# -- 8: host, port and proxy ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", HOOKS)
@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"host": "http://127.0.0.1:99999"}, "connection host has an invalid port"),
        ({"host": "http://127.0.0.1:0"}, "connection host has an invalid port"),
        ({"host": "https://dataops.example.com:http"}, "connection host has an invalid port"),
        ({"host": "https://dataops..example.com"}, "connection host has an invalid host name"),
        ({"host": "https://data ops.example.com"}, "connection host has an invalid host name"),
        ({"port": 70000}, "connection port must be from 1 to 65535"),
        ({"extra": {"proxy": "http://proxy:99999"}}, "extra 'proxy' has an invalid port"),
        ({"extra": {"proxy": "http://:3128"}}, "extra 'proxy' has no host name"),
        ({"extra": {"proxy": "proxy.internal:3128"}}, "extra 'proxy' must be a URL"),
        ({"extra": {"proxy": "ftp://proxy.internal:21"}}, "extra 'proxy' must be a URL"),
        ({"extra": {"proxy": "socks4://proxy.internal:1080"}}, "extra 'proxy' must be a URL"),
        ({"extra": {"proxy": "http://proxy.internal:3128/path"}}, "without a path"),
        ({"extra": {"proxy": 3128}}, "extra 'proxy' must be a URL"),
    ],
)
def test_local_configuration_errors_fail_before_any_request(
    kind: str,
    fields: dict[str, Any],
    fragment: str,
    monkeypatch: pytest.MonkeyPatch,
    no_requests: Callable[[], None],
) -> None:
    error = config_error(kind, monkeypatch, **fields)
    assert str(error).startswith(f"connection {CONN_ID!r}: ")
    assert fragment in str(error)
    no_requests()


@pytest.mark.parametrize("kind", HOOKS)
def test_proxy_credentials_never_appear_in_messages(
    kind: str, monkeypatch: pytest.MonkeyPatch, no_requests: Callable[[], None]
) -> None:
    error = config_error(kind, monkeypatch, extra={"proxy": f"http://user:{SECRET_BODY}@proxy.internal:99999"})
    assert "invalid port" in str(error)
    assert SECRET_BODY not in str(error)
    assert "user" not in str(error)


@pytest.mark.parametrize("kind", HOOKS)
def test_socks_proxy_needs_both_transports_socks_support(
    kind: str, monkeypatch: pytest.MonkeyPatch, no_requests: Callable[[], None]
) -> None:
    # Neither PySocks (requests) nor socksio (httpx); which are really installed depends on the
    # environment (selenium, a dev dependency, brings PySocks), so the test decides.
    monkeypatch.setattr(
        connection, "SOCKS_PACKAGES", {"no_such_module_y": "requests[socks]", "no_such_module_x": "httpx[socks]"}
    )
    error = config_error(kind, monkeypatch, extra={"proxy": "socks5h://proxy.internal:1080"})
    assert "needs requests[socks] and httpx[socks] installed" in str(error)
    # Only one of the two: still refused, since either hook may read the connection.
    monkeypatch.setattr(connection, "SOCKS_PACKAGES", {"json": "requests[socks]", "no_such_module_x": "httpx[socks]"})
    error = config_error(kind, monkeypatch, extra={"proxy": "socks5h://proxy.internal:1080"})
    assert "needs httpx[socks] installed" in str(error)
    no_requests()


def test_socks_proxy_is_accepted_when_both_transports_support_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "SOCKS_PACKAGES", {"json": "requests[socks]", "math": "httpx[socks]"})
    set_connection(monkeypatch, CONN_ID, extra={"proxy": "socks5://proxy.internal:1080"})
    assert DataOpsHook(CONN_ID).settings.proxy == "socks5://proxy.internal:1080"


# -- 9: an extra that is not a JSON object -------------------------------------------------------


@pytest.mark.parametrize("kind", HOOKS)
@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ([1, 2], "got a JSON array"),
        ("[1, 2]", "got a JSON array"),
        ("5", "got a JSON number"),
        ("null", "got a JSON null"),
        ('"text"', "got a JSON string"),
        (f'{{"trigger_token": "glptt-{SECRET_BODY}"', "it is not valid JSON"),
        (f"trigger_token=glptt-{SECRET_BODY}", "it is not valid JSON"),
    ],
)
def test_an_extra_that_is_not_a_json_object_is_a_clear_error(
    kind: str, extra: Any, fragment: str, monkeypatch: pytest.MonkeyPatch, no_requests: Callable[[], None]
) -> None:
    error = config_error(kind, monkeypatch, extra=extra)
    assert str(error).startswith(f"connection {CONN_ID!r}: extra must be a JSON object")
    assert fragment in str(error)
    assert SECRET_BODY not in str(error)
    no_requests()


# -- 10: verify_ssl ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", HOOKS)
@pytest.mark.parametrize("value", ["flase", "ture", "/no/such/ca-bundle.pem", 1, 0.0, ["x"]])
def test_verify_ssl_typos_are_refused(
    kind: str, value: Any, monkeypatch: pytest.MonkeyPatch, no_requests: Callable[[], None]
) -> None:
    error = config_error(kind, monkeypatch, extra={"verify_ssl": value})
    assert str(error).startswith(f"connection {CONN_ID!r}: extra 'verify_ssl' must be true, false, or the path")
    no_requests()


@pytest.mark.parametrize("kind", HOOKS)
def test_verify_ssl_accepts_an_existing_bundle_file_or_directory(
    kind: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    for value, expected in ((str(bundle), str(bundle)), (str(tmp_path), str(tmp_path)), ("FALSE", False)):
        set_connection(monkeypatch, CONN_ID, host=HOST, extra={"verify_ssl": value})
        if kind == "sync":
            settings = DataOpsHook(CONN_ID).settings
        else:
            settings = asyncio.run(DataOpsAsyncHook(CONN_ID).get_settings())
        assert settings.verify == expected


# -- 13: the connection id -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", HOOKS)
@pytest.mark.parametrize("conn_id", ["", "  ", None, 5])
def test_an_empty_connection_id_is_named(kind: str, conn_id: Any) -> None:
    with pytest.raises(DataOpsConfigError, match=r"^dataops_conn_id must be the id of a 'dataops' connection"):
        make_hook(kind, dataops_conn_id=conn_id)
