"""No token ever reaches an exception message, a log record or a repr."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
import requests
import requests_mock as rm

from airflow_provider_dataops.errors import MAX_MESSAGE_CHARS, DataOpsAPIError, DataOpsError, truncate
from airflow_provider_dataops.hooks import dataops_async
from airflow_provider_dataops.hooks.dataops import DataOpsHook
from airflow_provider_dataops.hooks.dataops_async import DataOpsAsyncHook

from .conftest import ACCESS_TOKEN, TRIGGER_TOKEN, set_connection

SECRETS = (ACCESS_TOKEN, TRIGGER_TOKEN)


def _texts(error: BaseException) -> list[str]:
    """The error and everything chained to it, as a user or a log would see them."""
    texts = []
    current: BaseException | None = error
    while current is not None:
        texts += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return texts


SCENARIOS = {
    "401": {"status_code": 401, "json": {"message": "401 Unauthorized"}},
    "403": {"status_code": 403, "json": {"message": "403 Forbidden"}},
    "404": {"status_code": 404, "json": {"message": "404 Not Found"}},
    "echoed token": {"status_code": 400, "json": {"message": f"token {ACCESS_TOKEN} and {TRIGGER_TOKEN} are invalid"}},
    "echoed in html": {
        "status_code": 502,
        "text": f"<html><body>{ACCESS_TOKEN}</body></html>",
        "headers": {"Content-Type": "text/html"},
    },
    "429": {"status_code": 429, "text": "Retry later", "headers": {"Retry-After": "1"}},
    "500": {"status_code": 500, "text": "oops"},
    "reset": {"exc": requests.ConnectionError("Connection aborted.")},
    "timeout": {"exc": requests.ReadTimeout("read timed out")},
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("route", ["access", "trigger"])
def test_no_token_in_errors_or_logs(
    monkeypatch: pytest.MonkeyPatch,
    sleeps: list[float],
    requests_mock: rm.Mocker,
    caplog: pytest.LogCaptureFixture,
    scenario: str,
    route: str,
) -> None:
    extra = {"trigger_token": TRIGGER_TOKEN}
    if route == "access":
        set_connection(monkeypatch, extra=extra)
    else:
        set_connection(monkeypatch, password=None, extra=extra)
    hook = DataOpsHook(retry_policy={"max_attempts": 3})
    response = SCENARIOS[scenario]
    requests_mock.register_uri(rm.ANY, rm.ANY, **response)
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    calls = [
        lambda: hook.trigger_pipeline(1, "main", variables={"A": "1"}),
        lambda: hook.get_pipeline(1, 2),
        lambda: hook.cancel_pipeline(1, 2),
        lambda: list(hook.list_pipelines(1)),
        lambda: hook.get_job_log(1, 3),
    ]
    for call in calls:
        with pytest.raises(DataOpsError) as raised:
            call()
        errors.append(raised.value)
    _, message = hook.test_connection()
    texts = [message, caplog.text, *(text for error in errors for text in _texts(error))]
    texts += [record.getMessage() for record in caplog.records]
    # A trigger-only connection does not know the access token, so only its own token can be redacted.
    for secret in SECRETS if route == "access" else (TRIGGER_TOKEN,):
        assert not [text for text in texts if secret in text], f"{secret} leaked"
    assert requests_mock.call_count > 0
    # Tokens went only where they belong: the header, or the trigger form body.
    for request in requests_mock.request_history:
        assert ACCESS_TOKEN not in request.url
        assert TRIGGER_TOKEN not in request.url


def test_hook_repr_and_settings_repr_hide_tokens(hook: DataOpsHook) -> None:
    assert ACCESS_TOKEN not in repr(hook.settings)
    assert ACCESS_TOKEN not in repr(hook)


# -- redaction before truncation -----------------------------------------------------------------

# Every offset that puts the token across, just before or just after the cut.
OFFSETS = range(MAX_MESSAGE_CHARS - len(ACCESS_TOKEN) - 3, MAX_MESSAGE_CHARS + 3)


def _leaked_prefixes(text: str, secret: str) -> list[str]:
    """Starts of ``secret`` (4 characters or more, past its public ``glpat-``) found in ``text``."""
    return [secret[:k] for k in range(4, len(secret) + 1) if secret[:k] in text]


@pytest.mark.parametrize("offset", OFFSETS)
def test_truncate_redacts_first_then_cuts(offset: int) -> None:
    text = "x" * offset + ACCESS_TOKEN + " and more text after the token"
    result = truncate(text, [ACCESS_TOKEN, TRIGGER_TOKEN])
    assert len(result) <= MAX_MESSAGE_CHARS
    assert _leaked_prefixes(result, ACCESS_TOKEN) == []
    assert not any(result.rstrip("…").endswith(ACCESS_TOKEN[:k]) for k in range(1, len(ACCESS_TOKEN)))


def test_truncate_replaces_a_secret_cut_at_the_end() -> None:
    # Whole tokens are gone before the cut; a start of one (here, an echo missing its last
    # character) is what the cut can still leave at the end.
    text = "x" * (MAX_MESSAGE_CHARS - 10) + ACCESS_TOKEN[:-1] + "y" * 100
    assert truncate(text, [ACCESS_TOKEN]) == "x" * (MAX_MESSAGE_CHARS - 10) + "***…"
    short = "y" * 20
    assert truncate(short, [ACCESS_TOKEN]) == short  # nothing cut, nothing to guess


def test_truncate_keeps_text_that_only_resembles_no_secret() -> None:
    text = "z" * (MAX_MESSAGE_CHARS + 50)
    assert truncate(text, [ACCESS_TOKEN]) == "z" * (MAX_MESSAGE_CHARS - 1) + "…"


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("offset", OFFSETS)
def test_server_message_echoing_the_token_near_the_cut_never_shows_it(
    kind: str,
    offset: int,
    conn: None,
    sleeps: list[float],
    requests_mock: rm.Mocker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = {"message": "x" * offset + ACCESS_TOKEN + " is not a valid token for this project"}
    if kind == "sync":
        requests_mock.get(rm.ANY, status_code=400, json=body)
        with pytest.raises(DataOpsAPIError) as raised:
            DataOpsHook().get_pipeline(1, 2)
    else:
        client = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(400, json=body)))
        monkeypatch.setattr(dataops_async, "shared_client", lambda settings: client)
        with pytest.raises(DataOpsAPIError) as raised:
            asyncio.run(DataOpsAsyncHook().get_pipeline(1, 2))
    error = raised.value
    for text in (str(error), repr(error), error.server_message):
        assert _leaked_prefixes(text, ACCESS_TOKEN) == [], text[-40:]
    assert error.server_message.endswith("…")
