"""No token ever reaches an exception message, a log record or a repr."""

from __future__ import annotations

import logging

import pytest
import requests
import requests_mock as rm

from airflow_provider_dataops.errors import DataOpsError
from airflow_provider_dataops.hooks.dataops import DataOpsHook

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
