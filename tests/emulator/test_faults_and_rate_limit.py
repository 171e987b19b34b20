"""Each fault kind and the rate limiter, seen by real HTTP clients."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest
import requests

pytestmark = pytest.mark.integration

TRIGGER_PATH = r"^/api/v4/projects/[^/]+/trigger/pipeline$"


def trigger(emu, session=requests):
    return session.post(
        f"{emu.api_url}/projects/demo%2Fdataops-project/trigger/pipeline",
        data={"token": emu.trigger_token, "ref": "main"},
        timeout=10,
    )


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_status_fault_with_json_body(emu, auth, status):
    emu.inject_fault(method="GET", path=r"^/api/v4/user$", status=status)
    failed = requests.get(f"{emu.api_url}/user", headers=auth, timeout=10)
    assert failed.status_code == status
    assert "message" in failed.json()
    assert requests.get(f"{emu.api_url}/user", headers=auth, timeout=10).status_code == 200  # times=1


def test_429_fault_with_retry_after_seconds_and_plain_text(emu, auth):
    emu.inject_fault(status=429, content_type="text/plain", headers={"Retry-After": "2"}, times=2)
    for _ in range(2):
        response = requests.get(f"{emu.api_url}/user", headers=auth, timeout=10)
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "2"
        assert response.text == "Retry later"
        assert response.headers["content-type"].startswith("text/plain")
    assert requests.get(f"{emu.api_url}/user", headers=auth, timeout=10).status_code == 200


def test_429_fault_with_an_http_date_and_an_html_502(emu, auth):
    date = email.utils.formatdate(time.time() + 5, usegmt=True)
    emu.inject_fault(status=429, content_type="text/plain", headers={"Retry-After": date})
    assert requests.get(f"{emu.api_url}/user", headers=auth, timeout=10).headers["Retry-After"] == date
    emu.inject_fault(status=502, content_type="text/html", body="<html><body>Bad gateway</body></html>")
    html = requests.get(f"{emu.api_url}/user", headers=auth, timeout=10)
    assert html.status_code == 502
    assert html.headers["content-type"].startswith("text/html")
    assert html.text == "<html><body>Bad gateway</body></html>"


def test_fault_only_matches_its_method_and_path(emu, auth):
    emu.inject_fault(method="POST", path=TRIGGER_PATH, status=503, times=0)
    assert requests.get(f"{emu.api_url}/user", headers=auth, timeout=10).status_code == 200
    assert trigger(emu).status_code == 503
    assert trigger(emu).status_code == 503  # times=0: always
    emu.clear_faults()
    assert trigger(emu).status_code == 201


def test_latency_fault(emu, auth):
    emu.inject_fault("latency", path=r"^/api/v4/user$", seconds=0.3)
    began = time.perf_counter()
    response = requests.get(f"{emu.api_url}/user", headers=auth, timeout=10)
    assert response.status_code == 200
    assert time.perf_counter() - began >= 0.3
    emu.inject_fault("latency", seconds=0.3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{emu.api_url}/user", headers=auth, timeout=0.05)
    # The server still answers the abandoned request; wait for it so it cannot leak into the next test.
    deadline = time.monotonic() + 2
    while len(emu.requests()) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [entry["fault"] for entry in emu.requests()] == ["latency", "latency"]


def test_drop_before_creates_nothing(emu):
    emu.inject_fault("drop_before", method="POST", path=TRIGGER_PATH)
    with pytest.raises(requests.exceptions.ConnectionError) as caught:
        trigger(emu)
    assert "Connection aborted" in str(caught.value) or "RemoteDisconnected" in str(caught.value)
    assert emu.pipelines() == []
    assert emu.requests()[-1]["status"] == "dropped"
    assert emu.requests()[-1]["fault"] == "drop_before"
    assert trigger(emu).status_code == 201  # the next request goes through


def test_drop_after_creates_the_pipeline_but_loses_the_response(emu):
    emu.inject_fault("drop_after", method="POST", path=TRIGGER_PATH)
    with requests.Session() as session:
        with pytest.raises(requests.exceptions.ConnectionError):
            trigger(emu, session)
        assert len(emu.pipelines()) == 1
        assert trigger(emu, session).status_code == 201  # the session recovers with a new connection
    assert len(emu.pipelines()) == 2
    assert [entry["status"] for entry in emu.requests()] == ["dropped", 201]


async def test_drop_with_httpx(emu):
    emu.inject_fault("drop_after", method="POST", path=TRIGGER_PATH)
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(
                f"{emu.api_url}/projects/1/trigger/pipeline",
                data={"token": emu.trigger_token, "ref": "main"},
            )
    assert len(emu.pipelines()) == 1


def test_rate_limit_headers_and_429(emu, auth):
    emu.set_rate_limit(3)
    for remaining in (2, 1, 0):
        ok = requests.get(f"{emu.api_url}/user", headers=auth, timeout=10)
        assert ok.status_code == 200
        assert ok.headers["RateLimit-Limit"] == "3"
        assert ok.headers["RateLimit-Remaining"] == str(remaining)
        assert ok.headers["RateLimit-Name"] == "throttle_authenticated_api"
    over = requests.get(f"{emu.api_url}/user", headers=auth, timeout=10)
    assert over.status_code == 429
    assert over.text.strip() == "Retry later"
    assert over.headers["content-type"].startswith("text/plain")
    assert over.headers["RateLimit-Observed"] == "4"
    assert over.headers["RateLimit-Remaining"] == "0"
    reset = int(over.headers["RateLimit-Reset"])
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    assert email.utils.parsedate_to_datetime(over.headers["RateLimit-ResetTime"]).timestamp() == reset
    # Unauthenticated callers have their own budget (by IP), with its own name.
    anonymous = requests.get(f"{emu.api_url}/projects", timeout=10)
    assert anonymous.headers["RateLimit-Name"] == "throttle_unauthenticated_api"
    # A new window starts once the clock passes RateLimit-Reset.
    emu.advance(61)
    assert requests.get(f"{emu.api_url}/user", headers=auth, timeout=10).status_code == 200


def test_no_rate_limit_headers_by_default_and_control_api_is_never_throttled(emu, auth):
    assert "RateLimit-Limit" not in requests.get(f"{emu.api_url}/user", headers=auth, timeout=10).headers
    emu.set_rate_limit(1)
    for _ in range(3):
        assert requests.get(f"{emu.url}/-/emulator/health", timeout=10).status_code == 200


def test_in_process_emulator_with_rate_limit_argument():
    from airflow_provider_dataops.emulator import DataOpsEmulator

    with DataOpsEmulator(rate_limit=1) as emulator:
        headers = {"PRIVATE-TOKEN": emulator.access_token}
        assert requests.get(f"{emulator.api_url}/user", headers=headers, timeout=10).status_code == 200
        assert requests.get(f"{emulator.api_url}/user", headers=headers, timeout=10).status_code == 429


def _date(response: requests.Response) -> float:
    dates = [value for key, value in response.raw.headers.items() if key.lower() == "date"]
    assert len(dates) == 1, dates
    return email.utils.parsedate_to_datetime(dates[0]).timestamp()


def test_answers_are_dated_by_the_emulators_clock(emu, auth):
    # GitLab's Date and its RateLimit-Reset come from one clock; so do the emulator's, moved or not.
    emu.set_rate_limit(100)
    before = _date(requests.get(f"{emu.api_url}/user", headers=auth, timeout=10))
    emu.advance(3600)
    api = requests.get(f"{emu.api_url}/user", headers=auth, timeout=10)
    control = requests.get(f"{emu.url}/-/emulator/requests", timeout=10)
    for response in (api, control):
        assert 3599 <= _date(response) - before <= 3602
    assert 0 < int(api.headers["RateLimit-Reset"]) - _date(api) <= 60


def test_a_faults_own_date_is_kept(emu, auth):
    broken = "Thu, 01 Jan 2099 00:00:00 GMT"  # a broken server's clock, for the client to distrust
    emu.inject_fault(status=503, headers={"Date": broken}, times=1)
    response = requests.get(f"{emu.api_url}/user", headers=auth, timeout=10)
    assert response.status_code == 503
    assert _date(response) == email.utils.parsedate_to_datetime(broken).timestamp()
