"""The sync hook's own HTTP behaviour: session, input checks, retry timing, write safety, error shapes.

What both hooks share (headers, path encoding, redirects, which failures are retried, bodies) is
in test_transport.py, run against each hook.
"""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest
import requests
import requests_mock as rm
from urllib3.exceptions import ProtocolError

from airflow_provider_dataops import __version__
from airflow_provider_dataops.api.retry import RetryPolicy
from airflow_provider_dataops.errors import (
    DataOpsAPIError,
    DataOpsAuthenticationError,
    DataOpsBadRequestError,
    DataOpsConfigError,
    DataOpsNotFoundError,
    DataOpsRateLimitError,
    DataOpsRequestMaybeAppliedError,
    DataOpsServerError,
    DataOpsTransportError,
)
from airflow_provider_dataops.hooks.dataops import DataOpsHook

from .conftest import ACCESS_TOKEN, API

PIPELINE = {"id": 7, "status": "running", "web_url": "https://dataops.example.com/g/p/-/pipelines/7"}


def reset_after_send() -> requests.ConnectionError:
    return requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")))


# -- session and headers ------------------------------------------------------------------------


def test_one_session_reused_with_auth_user_agent_and_timeouts(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{API}/projects/1", json={"id": 1})
    requests_mock.get(f"{API}/projects/2", json={"id": 2})
    assert hook.get_conn() is hook.get_conn()
    hook.get_project(1)
    hook.get_project(2)
    first, second = requests_mock.request_history
    assert first.headers["PRIVATE-TOKEN"] == ACCESS_TOKEN
    assert first.headers["User-Agent"] == f"airflow-provider-dataops/{__version__}"
    assert first.timeout == (10.0, 30.0)
    assert second.headers["PRIVATE-TOKEN"] == ACCESS_TOKEN


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda h: h.get_project("../admin"), "project"),
        (lambda h: h.get_pipeline(1, "7;drop"), "pipeline_id"),
        (lambda h: h.get_job_log(1, 0), "job_id"),
        (lambda h: h.request("GET", "https://evil.example/api/v4/user"), "endpoint"),
        (lambda h: h.request("FETCH", "/user"), "method"),
        (lambda h: h.trigger_pipeline(1, "bad ref"), "ref"),
        (lambda h: h.trigger_pipeline(1, "main", variables={"A": {"x": 1}}), r"variables\['A'\]"),
        (lambda h: h.trigger_pipeline(1, "main", pipeline_file="full.yml"), "pipeline_file"),
        (lambda h: h.create_project(), "name or path"),
        (lambda h: h.create_project("x", visibility="secret"), "visibility"),
        (lambda h: h.create_project("x", default_branch="refs/heads/main"), "default_branch"),
        (lambda h: list(h.paginate("/projects", per_page=500)), "per_page"),
        (lambda h: h.list_pipeline_jobs(1, 2, scope="broken"), "scope"),
    ],
)
def test_bad_input_fails_before_any_request(hook: DataOpsHook, requests_mock: rm.Mocker, call, fragment: str) -> None:
    with pytest.raises(DataOpsConfigError, match=fragment):
        call(hook)
    assert requests_mock.call_count == 0


# -- retries ------------------------------------------------------------------------------------


def test_retry_after_http_date_is_honoured(hook: DataOpsHook, requests_mock: rm.Mocker, sleeps: list[float]) -> None:
    when = formatdate(time.time() + 30, usegmt=True)
    requests_mock.get(
        f"{API}/user", [{"status_code": 429, "text": "Retry later", "headers": {"Retry-After": when}}, {"json": {}}]
    )
    hook.request("GET", "/user")
    assert 27 <= sleeps[0] <= 31


def test_ratelimit_reset_epoch_then_resettime(hook: DataOpsHook, requests_mock: rm.Mocker, sleeps: list[float]) -> None:
    reset = str(int(time.time()) + 20)
    reset_time = formatdate(time.time() + 40, usegmt=True)
    requests_mock.get(
        f"{API}/user",
        [
            {"status_code": 429, "text": "Retry later", "headers": {"RateLimit-Reset": reset}},
            {"status_code": 429, "text": "Retry later", "headers": {"RateLimit-ResetTime": reset_time}},
            {"json": {}},
        ],
    )
    hook.request("GET", "/user")
    assert 18 <= sleeps[0] <= 21
    assert 37 <= sleeps[1] <= 41


def test_backoff_without_headers_is_capped_and_jittered(
    conn: None, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    hook = DataOpsHook(retry_policy=RetryPolicy(max_attempts=6, backoff_initial=1, backoff_max=4, max_total_wait=100))
    requests_mock.get(f"{API}/user", status_code=503, text="down")
    with pytest.raises(DataOpsServerError):
        hook.request("GET", "/user")
    assert requests_mock.call_count == 6
    ceilings = [1, 2, 4, 4, 4]
    assert all(ceiling / 2 <= waited <= ceiling for waited, ceiling in zip(sleeps, ceilings, strict=True))


def test_total_wait_budget_can_cover_a_60_second_window_and_stops_beyond(
    conn: None, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    requests_mock.get(
        f"{API}/user", [{"status_code": 429, "text": "Retry later", "headers": {"Retry-After": "60"}}, {"json": {}}]
    )
    DataOpsHook().request("GET", "/user")  # the default budget covers one throttle window
    assert sleeps == [60.0]

    sleeps.clear()
    hook = DataOpsHook(retry_policy={"max_total_wait": 30})
    requests_mock.get(f"{API}/user", status_code=429, text="Retry later", headers={"Retry-After": "60"})
    with pytest.raises(DataOpsRateLimitError, match="rate limited"):
        hook.request("GET", "/user")
    assert sleeps == []  # a wait past the budget is not started


def test_attempts_are_configurable(conn: None, requests_mock: rm.Mocker, sleeps: list[float]) -> None:
    requests_mock.get(f"{API}/user", status_code=502, text="bad gateway")
    with pytest.raises(DataOpsServerError):
        DataOpsHook(retry_policy=RetryPolicy(max_attempts=3)).request("GET", "/user")
    assert requests_mock.call_count == 3


# -- write safety -------------------------------------------------------------------------------


def test_post_is_retried_on_429(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(
        f"{API}/projects/1/pipeline",
        [
            {"status_code": 429, "text": "Retry later", "headers": {"Retry-After": "1"}},
            {"json": PIPELINE, "status_code": 201},
        ],
    )
    assert hook.trigger_pipeline(1, "main")["id"] == 7
    assert requests_mock.call_count == 2


@pytest.mark.parametrize(
    "response",
    [
        {"status_code": 500, "text": "oops"},
        {
            "status_code": 502,
            "text": "<html><body><h1>502 Bad Gateway</h1></body></html>",
            "headers": {"Content-Type": "text/html"},
        },
        {"status_code": 503, "text": "down"},
        {"status_code": 504, "text": "timeout"},
        {"exc": requests.ReadTimeout("read timed out")},
        {"exc": reset_after_send()},
    ],
)
def test_post_that_may_have_been_applied_is_never_repeated(
    hook: DataOpsHook, requests_mock: rm.Mocker, response: dict
) -> None:
    requests_mock.post(f"{API}/projects/1/pipeline", [response, {"json": PIPELINE, "status_code": 201}])
    with pytest.raises(DataOpsRequestMaybeAppliedError, match="may have been applied") as raised:
        hook.trigger_pipeline(1, "main")
    assert requests_mock.call_count == 1
    assert raised.value.method == "POST"
    assert raised.value.path == "/projects/1/pipeline"
    assert isinstance(raised.value.cause, DataOpsServerError | DataOpsTransportError)


def test_cancel_is_idempotent_and_retried(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{API}/projects/1/pipelines/7/cancel", [{"status_code": 502, "text": "x"}, {"json": PIPELINE}])
    assert hook.cancel_pipeline(1, 7) == PIPELINE
    assert requests_mock.call_count == 2


# -- error shapes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "cls", "fragment"),
    [
        (
            {"status_code": 401, "json": {"message": "401 Unauthorized"}},
            DataOpsAuthenticationError,
            "token of connection 'dataops_default' was rejected (wrong, expired or revoked). Server said: 401 Unauthorized",
        ),
        (
            {"status_code": 404, "json": {"message": "404 Project Not Found"}},
            DataOpsNotFoundError,
            "not found or not visible to this token. Server said: 404 Project Not Found",
        ),
        (
            {"status_code": 400, "json": {"message": '400 (Bad request) "title" not given'}},
            DataOpsBadRequestError,
            '"title" not given',
        ),
        (
            {"status_code": 400, "json": {"error": "ref is missing"}},
            DataOpsBadRequestError,
            "Server said: ref is missing",
        ),
        (
            {"status_code": 400, "json": {"message": ["first problem", "second problem"]}},
            DataOpsBadRequestError,
            "first problem; second problem",
        ),
        (
            {
                "status_code": 400,
                "json": {
                    "message": {
                        "name": ["has already been taken"],
                        "path": ["has already been taken"],
                        "project_namespace.name": ["has already been taken"],
                    }
                },
            },
            DataOpsBadRequestError,
            "name: has already been taken; path: has already been taken; project_namespace.name: has already been taken",
        ),
        (
            {"status_code": 400, "json": {"message": {"error": {"spam": ["detected"]}}}},
            DataOpsBadRequestError,
            "error.spam: detected",
        ),
        (
            {"status_code": 429, "text": "Retry later", "headers": {"Content-Type": "text/plain"}},
            DataOpsRateLimitError,
            "Server said: Retry later",
        ),
        (
            {
                "status_code": 502,
                "text": "<html><head><style>x{}</style></head><body><h1>502 Bad Gateway</h1>"
                + "x" * 2000
                + "</body></html>",
                "headers": {"Content-Type": "text/html"},
            },
            DataOpsServerError,
            "Server said: 502 Bad Gateway xxx",
        ),
    ],
)
def test_error_shapes(
    conn: None, requests_mock: rm.Mocker, sleeps: list[float], response: dict, cls: type, fragment: str
) -> None:
    hook = DataOpsHook(retry_policy=RetryPolicy(max_attempts=1))
    requests_mock.get(f"{API}/projects/1", **response)
    with pytest.raises(cls) as raised:
        hook.get_project(1)
    assert fragment in str(raised.value)
    assert str(raised.value).startswith("GET /projects/1 -> HTTP ")
    assert len(str(raised.value)) < 700  # HTML pages are truncated
    assert "<h1>" not in str(raised.value)


def test_already_taken_is_recognisable(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{API}/projects", status_code=400, json={"message": {"name": ["has already been taken"]}})
    with pytest.raises(DataOpsBadRequestError) as raised:
        hook.create_project("x")
    assert raised.value.already_exists


def test_trigger_route_404_mentions_the_trigger_token(conn_trigger_only: None, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{API}/projects/1/trigger/pipeline", status_code=404, json={"message": "404 Not Found"})
    with pytest.raises(DataOpsNotFoundError, match="or the trigger token is wrong"):
        DataOpsHook().trigger_pipeline(1, "main")


def test_non_json_page_is_a_clear_error(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(
        f"{API}/projects/1/pipelines", text="<html>proxy login</html>", headers={"Content-Type": "text/html"}
    )
    with pytest.raises(DataOpsAPIError, match="expected a JSON body, got text/html"):
        list(hook.list_pipelines(1))


def test_close_releases_the_session_and_a_later_call_opens_a_new_one(
    hook: DataOpsHook, requests_mock: rm.Mocker
) -> None:
    requests_mock.get(f"{API}/projects/1", json={"id": 1})
    first = hook.get_conn()
    hook.close()
    assert hook.get_conn() is not first
    assert hook.get_project(1) == {"id": 1}
