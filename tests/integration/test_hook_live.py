"""The hook against the emulator: real HTTP, real pagination headers, real faults."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from airflow_provider_dataops.api.retry import RetryPolicy
from airflow_provider_dataops.emulator import DataOpsEmulator
from airflow_provider_dataops.emulator.state import SEEDED_PROJECT_COUNT
from airflow_provider_dataops.errors import (
    DataOpsAuthenticationError,
    DataOpsBadRequestError,
    DataOpsNotFoundError,
    DataOpsRequestMaybeAppliedError,
)
from airflow_provider_dataops.hooks.dataops import DataOpsHook

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("sleeps_fast")]

PROJECT = "demo/dataops-project"


def test_connection_test_against_the_emulator(
    dataops_connection_env: DataOpsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok, message = DataOpsHook().test_connection()
    assert ok
    assert "as dataops-user" in message
    assert "token scopes: api" in message
    assert dataops_connection_env.access_token not in message

    monkeypatch.setenv(
        "AIRFLOW_CONN_DATAOPS_DEFAULT", dataops_connection_env.airflow_connection_json(trigger_only=True)
    )
    ok, message = DataOpsHook().test_connection()
    assert ok
    assert "cannot read" in message


def test_rejected_token(dataops_connection_env: DataOpsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = dataops_connection_env.airflow_connection()
    conn["password"] = "glpat-wrong"
    import json

    monkeypatch.setenv("AIRFLOW_CONN_DATAOPS_DEFAULT", json.dumps(conn))
    with pytest.raises(DataOpsAuthenticationError, match="'dataops_default' was rejected"):
        DataOpsHook().get_project(PROJECT)


def test_pipeline_round_trip(dataops_connection_env: DataOpsEmulator) -> None:
    hook = DataOpsHook()
    created = hook.trigger_pipeline(PROJECT, "main", variables={"A": 1}, pipeline_file="full-ci.yml")
    assert (created["status"], created["source"]) == ("created", "api")
    assert hook.get_pipeline(PROJECT, created["id"])["web_url"].endswith(f"/-/pipelines/{created['id']}")
    variables = {v["key"]: v["value"] for v in hook.get_pipeline_variables(PROJECT, created["id"])}
    assert variables == {"A": "1", "_PIPELINE_FILE_NAME": "full-ci.yml"}
    dataops_connection_env.advance(10)
    assert hook.get_pipeline(PROJECT, created["id"])["status"] == "success"
    jobs = hook.list_pipeline_jobs(PROJECT, created["id"])
    assert jobs
    assert all(job["status"] == "success" for job in jobs)
    assert hook.get_job_log(PROJECT, jobs[0]["id"], tail_lines=5)
    assert [p["id"] for p in hook.list_pipelines(1, ref="main", status="success")] == [created["id"]]


def test_cancel_then_retry(dataops_connection_env: DataOpsEmulator) -> None:
    hook = DataOpsHook()
    pipeline = hook.trigger_pipeline(PROJECT, "main", variables={"DATAOPS_EMULATOR_SECONDS": 60})
    assert hook.cancel_pipeline(PROJECT, pipeline["id"])["status"] in ("canceling", "canceled")
    dataops_connection_env.advance(5)
    assert hook.get_pipeline(PROJECT, pipeline["id"])["status"] == "canceled"
    hook.retry_pipeline(PROJECT, pipeline["id"])
    dataops_connection_env.advance(120)
    assert hook.get_pipeline(PROJECT, pipeline["id"])["status"] == "success"


def test_trigger_token_route_and_wrong_token(
    dataops_emulator: DataOpsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    conn = dataops_emulator.airflow_connection(trigger_only=True)
    monkeypatch.setenv("AIRFLOW_CONN_DATAOPS_DEFAULT", json.dumps(conn))
    created = DataOpsHook().trigger_pipeline(1, "main", variables={"A": True}, pipeline_file="full-ci.yml")
    assert created["source"] == "trigger"
    conn["extra"]["trigger_token"] = "glptt-wrong"
    monkeypatch.setenv("AIRFLOW_CONN_DATAOPS_DEFAULT", json.dumps(conn))
    with pytest.raises(DataOpsNotFoundError, match="trigger token is wrong"):
        DataOpsHook().trigger_pipeline(1, "main")
    logged = " ".join(str(r) for r in dataops_emulator.requests())
    assert dataops_emulator.trigger_token not in logged


def test_unknown_ref_is_a_clear_bad_request(dataops_connection_env: DataOpsEmulator) -> None:
    with pytest.raises(DataOpsBadRequestError, match="Reference not found"):
        DataOpsHook().trigger_pipeline(PROJECT, "no-such-branch")


def test_list_10000_projects_with_keyset_on_one_connection(dataops_connection_env: DataOpsEmulator) -> None:
    dataops_connection_env.seed_projects(10_000)
    hook = DataOpsHook()
    dataops_connection_env.clear_requests()
    count = sum(1 for _ in hook.list_projects())
    assert count == 10_000 + SEEDED_PROJECT_COUNT
    listing = [r for r in dataops_connection_env.requests() if r["path"] == "/api/v4/projects"]
    assert len(listing) == 101
    assert all("pagination=keyset" in r["query"] for r in listing)


def test_offset_listing_past_10000_without_totals(dataops_connection_env: DataOpsEmulator) -> None:
    dataops_connection_env.seed_projects(10_050)
    count = sum(1 for _ in DataOpsHook().paginate("/projects", params={"order_by": "id", "sort": "asc"}))
    assert count == 10_050 + SEEDED_PROJECT_COUNT


def test_offset_ceiling_switches_to_keyset(dataops_connection_env: DataOpsEmulator) -> None:
    dataops_connection_env.seed_projects(50_200)
    ids = [
        p["id"] for p in DataOpsHook().paginate("/projects", params={"order_by": "id", "sort": "asc", "simple": "true"})
    ]
    assert len(ids) == len(set(ids)) == 50_200 + SEEDED_PROJECT_COUNT
    requests = dataops_connection_env.requests()
    assert any(r["status"] == 405 for r in requests)
    assert any("pagination=keyset" in r["query"] for r in requests)


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 429, "body": "Retry later", "content_type": "text/plain", "headers": {"Retry-After": "1"}},
        {"status": 429, "body": "Retry later", "content_type": "text/plain", "headers": {"Retry-After": "HTTP-DATE"}},
        {"status": 500},
        {"status": 502, "body": "<html><body>502 Bad Gateway</body></html>", "content_type": "text/html"},
        {"status": 503},
        {"status": 504},
    ],
)
def test_get_rides_through_faults(dataops_connection_env: DataOpsEmulator, fault: dict) -> None:
    if fault.get("headers", {}).get("Retry-After") == "HTTP-DATE":
        fault["headers"] = {"Retry-After": formatdate(time.time() + 1, usegmt=True)}
    dataops_connection_env.inject_fault("status", method="GET", path=r"/projects/[^/]+$", times=3, **fault)
    assert DataOpsHook().get_project(PROJECT)["path_with_namespace"] == PROJECT
    assert [r["status"] for r in dataops_connection_env.requests()][-4:] == [fault["status"]] * 3 + [200]


def test_get_rides_through_dropped_connections_and_latency(dataops_connection_env: DataOpsEmulator) -> None:
    dataops_connection_env.inject_fault("drop_before", method="GET", path=r"/projects/[^/]+$", times=2)
    assert DataOpsHook().get_project(PROJECT)["id"] == 1
    dataops_connection_env.inject_fault("latency", method="GET", path=r"/projects/[^/]+$", seconds=2, times=1)
    hook = DataOpsHook(timeout=1)
    assert hook.get_project(PROJECT)["id"] == 1  # the slow answer timed out, the retry did not


def test_post_outcome_unknown_is_not_repeated(dataops_connection_env: DataOpsEmulator) -> None:
    dataops_connection_env.inject_fault("drop_after", method="POST", path=r"/pipeline$", times=1)
    with pytest.raises(DataOpsRequestMaybeAppliedError):
        DataOpsHook().trigger_pipeline(PROJECT, "main")
    assert len(dataops_connection_env.pipelines()) == 1
    assert len([r for r in dataops_connection_env.requests() if r["method"] == "POST"]) == 1


def test_rate_limit_is_respected_in_virtual_time(
    dataops_connection_env: DataOpsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every wait the hook asks for moves the emulator's clock instead of sleeping.
    waits: list[float] = []

    def advance(seconds: float) -> None:
        waits.append(seconds)
        dataops_connection_env.advance(seconds)

    monkeypatch.setattr("airflow_provider_dataops.api.retry.sleep", advance)
    dataops_connection_env.set_rate_limit(5)
    hook = DataOpsHook(retry_policy=RetryPolicy(max_total_wait=120))
    for _ in range(12):
        hook.get_project(PROJECT)
    statuses = [r["status"] for r in dataops_connection_env.requests()]
    # Each call succeeded; a read the server answered late (a loaded machine) may have been sent again.
    assert statuses.count(200) >= 12
    assert statuses.count(429) == 0  # the hook slowed down when RateLimit-Remaining reached 0
    # A pause each time a window's quota is used up, to the window's reset measured on the
    # emulator's clock (its Date header): two, or one when the clock's own minute turned meanwhile.
    assert 1 <= len(waits) <= 2, waits
    assert all(0 < wait <= 61 for wait in waits), waits


def test_429_retry_after_is_honoured_with_the_emulator(
    dataops_connection_env: DataOpsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr("airflow_provider_dataops.api.retry.sleep", waits.append)
    dataops_connection_env.inject_fault(
        "status",
        method="GET",
        path=r"/projects/[^/]+$",
        status=429,
        body="Retry later",
        content_type="text/plain",
        headers={"Retry-After": "42"},
        times=1,
    )
    DataOpsHook().get_project(PROJECT)
    assert waits == [42.0]


def test_create_project_and_duplicate(dataops_connection_env: DataOpsEmulator) -> None:
    hook = DataOpsHook()
    project = hook.create_project("Marketing Mart", namespace="demo", default_branch="main")
    assert project["path_with_namespace"] == "demo/marketing-mart"
    with pytest.raises(DataOpsBadRequestError) as raised:
        hook.create_project("Marketing Mart", namespace="demo")
    assert raised.value.already_exists
    assert hook.get_project("demo/marketing-mart")["id"] == project["id"]
