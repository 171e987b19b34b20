"""Unit tests of the emulator's small helpers: parameters, pagination, throttle, redaction."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import datetime, timezone

import pytest
from starlette.datastructures import URL
from starlette.responses import JSONResponse as StarletteJSON

from airflow_provider_dataops.emulator.clock import iso
from airflow_provider_dataops.emulator.errors import ApiError
from airflow_provider_dataops.emulator.faults import ConnectionDropped, drop_connection, redact_query
from airflow_provider_dataops.emulator.filters import filter_pipelines
from airflow_provider_dataops.emulator.json_response import JSONResponse
from airflow_provider_dataops.emulator.pagination import check_offset_limit, keyset_next_link, offset_page
from airflow_provider_dataops.emulator.params import decode_pairs
from airflow_provider_dataops.emulator.ratelimit import RateLimiter
from airflow_provider_dataops.emulator.serializers import project_json
from airflow_provider_dataops.emulator.state import EmulatorState


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("token", "t"), ("ref", "main")], {"token": "t", "ref": "main"}),
        ([("variables[A]", "1"), ("variables[B]", "2")], {"variables": {"A": "1", "B": "2"}}),
        ([("scope[]", "failed"), ("scope[]", "canceled")], {"scope": ["failed", "canceled"]}),
        (
            [("variables[0][key]", "A"), ("variables[0][value]", "1"), ("variables[1][key]", "B")],
            {"variables": [{"key": "A", "value": "1"}, {"key": "B"}]},
        ),
        (
            [("variables[][key]", "A"), ("variables[][value]", "1"), ("variables[][key]", "B")],
            {"variables": [{"key": "A", "value": "1"}, {"key": "B"}]},
        ),
        ([("variables", "oops")], {"variables": "oops"}),
    ],
)
def test_decode_rack_style_pairs(pairs, expected):
    assert decode_pairs(pairs) == expected


def test_offset_page_headers_and_links():
    url = URL("http://emu:1/api/v4/projects?search=x&page=2&per_page=2")
    page, headers = offset_page(list(range(5)), url, {"page": "2", "per_page": "2"})
    assert page == [2, 3]
    assert headers["x-page"] == "2"
    assert headers["x-next-page"] == "3"
    assert headers["x-prev-page"] == "1"
    assert headers["x-total"] == "5"
    assert headers["x-total-pages"] == "3"
    links = headers["link"].split(", ")
    assert links[0] == '<http://emu:1/api/v4/projects?search=x&page=1&per_page=2>; rel="prev"'
    assert [link.rsplit("rel=", 1)[1] for link in links] == ['"prev"', '"next"', '"first"', '"last"']


def test_offset_page_hides_totals_above_10000():
    _, headers = offset_page(range(10_001), URL("http://emu/x"), {})
    assert "x-total" not in headers
    assert "x-total-pages" not in headers
    assert 'rel="last"' not in headers["link"]
    assert headers["x-next-page"] == "2"


def test_offset_limit():
    check_offset_limit({"page": "500", "per_page": "100"}, "Project")
    with pytest.raises(ApiError) as caught:
        check_offset_limit({"page": "501", "per_page": "100"}, "Project")
    assert caught.value.status == 405
    assert "maximum allowed offset of 50000" in caught.value.body["error"]


def test_bad_page_parameter():
    with pytest.raises(ApiError) as caught:
        offset_page([], URL("http://emu/x"), {"page": "two"})
    assert caught.value.body == {"error": "page is invalid"}


def test_keyset_link():
    link = keyset_next_link(URL("http://emu/p?pagination=keyset&order_by=id&id_after=3"), 7, ascending=True)
    assert link == '<http://emu/p?pagination=keyset&order_by=id&id_after=7>; rel="next"'
    assert "id_before=7" in keyset_next_link(URL("http://emu/p"), 7, ascending=False)


def test_rate_limiter_windows():
    limiter = RateLimiter(2)
    first = limiter.hit("k", 120.0)
    assert (first.observed, first.remaining, first.reset_at, first.throttled) == (1, 1, 180, False)
    assert not limiter.hit("k", 130.0).throttled
    third = limiter.hit("k", 150.0)
    assert third.throttled
    assert third.retry_after(150.0) == 30
    assert not limiter.hit("other", 150.0).throttled
    assert limiter.hit("k", 180.0).observed == 1  # a new window
    limiter.limit = None
    assert limiter.hit("k", 181.0) is None
    with pytest.raises(ValueError, match="positive"):
        limiter.limit = 0


def test_redact_query():
    assert (
        redact_query(b"token=secret&ref=main&private_token=p") == "token=[REDACTED]&ref=main&private_token=[REDACTED]"
    )
    assert redact_query(b"") == ""


def test_drop_fallback_without_a_transport():
    sent = []

    async def plain_send(message):  # a function has no transport behind it
        sent.append(message)

    async def receive():
        return {"type": "http.disconnect"}

    with pytest.raises(ConnectionDropped):
        asyncio.run(drop_connection(plain_send, receive))
    assert sent[0]["type"] == "http.response.start"
    assert (b"content-length", b"1") in sent[0]["headers"]


def test_state_modules_do_not_import_airflow():
    code = (
        "import sys\n"
        "import airflow_provider_dataops.emulator.state, airflow_provider_dataops.emulator.server\n"
        "assert not [m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')], 'airflow imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_extra_names_the_pip_command():
    code = (
        "import sys\n"
        "sys.modules['uvicorn'] = None\n"
        "try:\n"
        "    import airflow_provider_dataops.emulator\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'airflow-provider-dataops[emulator]'" in result.stdout


@pytest.mark.parametrize(
    "timestamp",
    [0.0, 1.0005, 1.9999, 1_000_000_000.9995, 1_767_225_599.999999, 4_102_444_800.25, -86_400.5],
)
def test_iso_writes_gitlab_times_with_milliseconds(timestamp):
    moment = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    expected = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    assert iso(timestamp) == expected
    assert iso(None) is None


def test_a_json_answer_is_starlettes_json():
    state = EmulatorState()
    state.seed_projects(100)
    page = [project_json(project, "http://127.0.0.1:8080") for project in state.projects()[:100]]
    assert JSONResponse(page).body == StarletteJSON(page).body  # byte for byte: a listing's page
    other = {"name": "caf\u00e9 \U0001f600", "line": 'a\nb\x00"', "big": 2**70, "ids": (1, 2), "none": None}
    assert JSONResponse(other).body == StarletteJSON(other).body
    refused_by_msgspec = {None: "a None key"}  # Starlette's encoder writes it as "null"
    assert JSONResponse(refused_by_msgspec).body == StarletteJSON(refused_by_msgspec).body == b'{"null":"a None key"}'


@pytest.mark.parametrize("content", [{"bad": object()}, {(1, 2): "tuple key"}, ["\ud800"]])
def test_what_msgspec_refuses_starlette_decides(content):
    with pytest.raises((TypeError, ValueError)) as starlette_error:
        StarletteJSON(content)
    with pytest.raises(starlette_error.type):
        JSONResponse(content)


def test_updated_after_is_exclusive_as_on_gitlab_com():
    rows = [
        {"id": n, "source": "api", "_updated": updated, "_created": 50.0} for n, updated in ((1, 100.0), (2, 100.001))
    ]
    bounds = {"created_after": None, "created_before": None, "updated_after": 100.0, "updated_before": None}
    assert [row["id"] for row in filter_pipelines(rows, {}, None, bounds)] == [2]
    bounds["updated_after"] = 99.999
    assert [row["id"] for row in filter_pipelines(rows, {}, None, bounds)] == [1, 2]
