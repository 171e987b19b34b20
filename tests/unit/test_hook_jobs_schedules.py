"""Job actions (play, cancel, retry) and pipeline schedules: shapes, idempotency, argument checks."""

from __future__ import annotations

from typing import Any

import pytest
import requests_mock as rm

from airflow_provider_dataops.errors import (
    DataOpsBadRequestError,
    DataOpsConfigError,
    DataOpsRequestMaybeAppliedError,
    DataOpsServerError,
)
from airflow_provider_dataops.hooks.dataops import DataOpsHook

from .conftest import API

JOBS = f"{API}/projects/demo%2Fdataops-project/jobs"
SCHEDULES = f"{API}/projects/1/pipeline_schedules"
JOB = {"id": 9, "name": "Deploy", "status": "pending"}
SCHEDULE = {"id": 4, "description": "Nightly", "ref": "main", "cron": "0 1 * * *", "active": True}
BROKEN = [{"status_code": 502, "text": "bad gateway"}]


def test_play_job_sends_job_variables(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{JOBS}/9/play", json=JOB)
    assert hook.play_job("demo/dataops-project", "9", variables={"TARGET": "prod", "DRY_RUN": False}) == JOB
    assert requests_mock.last_request.json() == {
        "job_variables_attributes": [{"key": "TARGET", "value": "prod"}, {"key": "DRY_RUN", "value": "false"}]
    }


def test_play_job_without_variables_sends_no_body(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{JOBS}/9/play", json=JOB)
    hook.play_job("demo/dataops-project", 9)
    assert requests_mock.last_request.body is None


def test_unplayable_job_is_a_bad_request(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{JOBS}/9/play", status_code=400, json={"message": "400 Bad request - Unplayable Job"})
    with pytest.raises(DataOpsBadRequestError, match="Unplayable Job"):
        hook.play_job("demo/dataops-project", 9)
    assert requests_mock.call_count == 1


@pytest.mark.parametrize(
    ("method", "status"),
    [("play_job", 200), ("retry_job", 201)],
)
def test_job_writes_that_start_work_are_never_repeated(
    hook: DataOpsHook, requests_mock: rm.Mocker, method: str, status: int
) -> None:
    action = method.split("_")[0]
    requests_mock.post(f"{JOBS}/9/{action}", BROKEN)
    with pytest.raises(DataOpsRequestMaybeAppliedError):
        getattr(hook, method)("demo/dataops-project", 9)
    assert requests_mock.call_count == 1


def test_cancel_job_is_retried_like_a_read(hook: DataOpsHook, requests_mock: rm.Mocker, sleeps: list[float]) -> None:
    requests_mock.post(f"{JOBS}/9/cancel", [*BROKEN, {"json": {**JOB, "status": "canceling"}, "status_code": 201}])
    assert hook.cancel_job("demo/dataops-project", 9)["status"] == "canceling"
    assert requests_mock.call_count == 2
    assert len(sleeps) == 1


def test_retry_job_returns_the_new_job(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{JOBS}/9/retry", json={**JOB, "id": 10}, status_code=201)
    assert hook.retry_job("demo/dataops-project", 9)["id"] == 10


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda h: h.play_job("demo/dataops-project", 0), "job_id must be a positive integer"),
        (lambda h: h.play_job("demo%2Fp", 9), "project looks URL-encoded"),
        (lambda h: h.play_job(1, 9, variables={"bad key": "x"}), "variables"),
        (lambda h: h.play_job(1, 9, variables={"A": [1]}), r"variables\['A'\]"),
        (lambda h: h.cancel_job(1, "nine"), "job_id"),
        (lambda h: h.retry_job(1, True), "job_id"),
        (lambda h: h.get_pipeline_schedule(1, -4), "schedule_id"),
        (lambda h: h.list_pipeline_schedules(1, scope="paused"), "scope must be one of active, inactive"),
        (lambda h: h.create_pipeline_schedule(1, description="", ref="main", cron="0 1 * * *"), "description"),
        (lambda h: h.create_pipeline_schedule(1, description="N", ref="a b", cron="0 1 * * *"), "ref"),
        (lambda h: h.create_pipeline_schedule(1, description="N", ref="main", cron="daily"), "cron must have 5"),
        (lambda h: h.create_pipeline_schedule(1, description="N", ref="main", cron=None), "cron is required"),
        (lambda h: h.create_pipeline_schedule(1, description="N", ref="main", cron="0 1 * * *", active="no"), "active"),
        (lambda h: h.update_pipeline_schedule(1, 4), "at least one of"),
        (lambda h: h.update_pipeline_schedule(1, 4, cron_timezone="\n"), "cron_timezone"),
        (lambda h: h.delete_pipeline_schedule(1, "x"), "schedule_id"),
        (lambda h: h.take_pipeline_schedule_ownership(None, 4), "project"),
        (lambda h: h.play_pipeline_schedule(1, 0), "schedule_id"),
    ],
)
def test_bad_arguments_fail_before_any_request(
    hook: DataOpsHook, requests_mock: rm.Mocker, call: Any, message: str
) -> None:
    with pytest.raises(DataOpsConfigError, match=message):
        call(hook)
    assert requests_mock.call_count == 0


def test_list_and_get_schedules(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(SCHEDULES, json=[SCHEDULE])
    requests_mock.get(f"{SCHEDULES}/4", json={**SCHEDULE, "last_pipeline": None, "variables": []})
    assert list(hook.list_pipeline_schedules(1, scope="active")) == [SCHEDULE]
    assert requests_mock.last_request.qs["scope"] == ["active"]
    assert hook.get_pipeline_schedule(1, "4")["variables"] == []


def test_create_schedule_sends_only_given_attributes(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(SCHEDULES, json=SCHEDULE, status_code=201)
    hook.create_pipeline_schedule(1, description="Nightly", ref="main", cron="0 1 * * *", active=False)
    assert requests_mock.last_request.json() == {
        "description": "Nightly",
        "ref": "main",
        "cron": "0 1 * * *",
        "active": False,
    }


def test_create_schedule_is_never_repeated(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(SCHEDULES, BROKEN)
    with pytest.raises(DataOpsRequestMaybeAppliedError):
        hook.create_pipeline_schedule(1, description="Nightly", ref="main", cron="0 1 * * *")
    assert requests_mock.call_count == 1


def test_update_and_take_ownership_are_retried_like_reads(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.put(f"{SCHEDULES}/4", [*BROKEN, {"json": {**SCHEDULE, "active": False}}])
    requests_mock.post(f"{SCHEDULES}/4/take_ownership", [*BROKEN, {"json": SCHEDULE, "status_code": 201}])
    assert hook.update_pipeline_schedule(1, 4, active=False)["active"] is False
    assert requests_mock.request_history[-1].json() == {"active": False}
    assert hook.take_pipeline_schedule_ownership(1, 4) == SCHEDULE
    assert requests_mock.call_count == 4


@pytest.mark.parametrize(
    ("method", "verb", "suffix"),
    [("delete_pipeline_schedule", "DELETE", ""), ("play_pipeline_schedule", "POST", "/play")],
)
def test_delete_and_play_are_never_repeated(
    hook: DataOpsHook, requests_mock: rm.Mocker, method: str, verb: str, suffix: str
) -> None:
    requests_mock.register_uri(verb, f"{SCHEDULES}/4{suffix}", BROKEN)
    with pytest.raises(DataOpsRequestMaybeAppliedError):
        getattr(hook, method)(1, 4)
    assert requests_mock.call_count == 1


def test_delete_and_play_answers(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.delete(f"{SCHEDULES}/4", status_code=204)
    requests_mock.post(f"{SCHEDULES}/4/play", json={"message": "201 Created"}, status_code=201)
    assert hook.delete_pipeline_schedule(1, 4) is None
    assert hook.play_pipeline_schedule(1, 4) is None
    assert [r.method for r in requests_mock.request_history] == ["DELETE", "POST"]


def test_a_cancel_that_keeps_failing_is_a_server_error(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{JOBS}/9/cancel", status_code=503, json={"message": "down"})
    with pytest.raises(DataOpsServerError):
        hook.cancel_job("demo/dataops-project", 9)
    assert requests_mock.call_count > 1
