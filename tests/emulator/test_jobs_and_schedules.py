"""Manual jobs (play, cancel, retry) and pipeline schedules over HTTP, against the manual-clock emulator."""

from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.integration


def call(emu, method, path, auth, **body):
    return requests.request(method, f"{emu.api_url}{path}", headers=auth, json=body or None, timeout=10)


def start(emu, auth, outcome="manual_deploy"):
    variables = [{"key": "DATAOPS_EMULATOR_OUTCOME", "value": outcome}]
    return call(emu, "POST", "/projects/1/pipeline", auth, ref="main", variables=variables).json()["id"]


def jobs(emu, auth, pipeline_id, **params):
    path = f"{emu.api_url}/projects/1/pipelines/{pipeline_id}/jobs"
    return requests.get(path, headers=auth, params=params, timeout=10).json()


def status(emu, auth, pipeline_id):
    return call(emu, "GET", f"/projects/1/pipelines/{pipeline_id}", auth).json()["status"]


def deploy_job(emu, auth, pipeline_id):
    return next(job for job in jobs(emu, auth, pipeline_id) if job["name"] == "Deploy to Production")


# -- manual jobs --------------------------------------------------------------------------------


def test_manual_deploy_outcome_stops_at_a_deploy_job(emu, auth):
    pid = start(emu, auth)
    emu.advance(10)
    assert status(emu, auth, pid) == "manual"
    listed = jobs(emu, auth, pid)
    assert [(job["stage"], job["name"], job["status"]) for job in listed[:2]] == [
        ("Deploy", "Deploy to Production", "manual"),
        ("Generate Docs", "Generate Docs", "success"),
    ]
    assert len(listed) == 5


def test_playing_the_manual_job_runs_the_pipeline_to_success(emu, auth):
    pid = start(emu, auth)
    emu.advance(10)
    job = deploy_job(emu, auth, pid)
    played = call(emu, "POST", f"/projects/1/jobs/{job['id']}/play", auth)
    assert played.status_code == 200
    assert played.json()["id"] == job["id"]
    assert played.json()["status"] == "pending"
    assert status(emu, auth, pid) == "running"
    emu.advance(2)
    assert status(emu, auth, pid) == "success"
    trace = requests.get(f"{emu.api_url}/projects/1/jobs/{job['id']}/trace", headers=auth, timeout=10).text
    assert "Promoting TRANSFORM to PRODUCTION" in trace


def test_a_play_with_a_failed_outcome_fails_the_pipeline(emu, auth):
    pid = start(emu, auth)
    emu.advance(10)
    job = deploy_job(emu, auth, pid)
    variables = [{"key": "DATAOPS_EMULATOR_OUTCOME", "value": "failed"}]
    call(emu, "POST", f"/projects/1/jobs/{job['id']}/play", auth, job_variables_attributes=variables)
    emu.advance(2)
    assert status(emu, auth, pid) == "failed"
    assert deploy_job(emu, auth, pid)["failure_reason"] == "script_failure"


def test_a_job_that_is_not_manual_is_unplayable(emu, auth):
    pid = start(emu, auth)
    emu.advance(10)
    job = deploy_job(emu, auth, pid)
    assert call(emu, "POST", f"/projects/1/jobs/{job['id']}/play", auth).status_code == 200
    again = call(emu, "POST", f"/projects/1/jobs/{job['id']}/play", auth)
    assert (again.status_code, again.json()) == (400, {"message": "400 Bad request - Unplayable Job"})
    finished = jobs(emu, auth, pid)[-1]
    assert call(emu, "POST", f"/projects/1/jobs/{finished['id']}/play", auth).status_code == 400
    assert call(emu, "POST", "/projects/1/jobs/999/play", auth).json() == {"message": "404 Not found"}


def test_the_manual_outcome_is_playable_too(emu, auth):
    pid = start(emu, auth, "manual")
    emu.advance(10)
    [docs] = jobs(emu, auth, pid, scope="manual")
    assert docs["name"] == "Generate Docs"
    call(emu, "POST", f"/projects/1/jobs/{docs['id']}/play", auth)
    emu.advance(2)
    assert status(emu, auth, pid) == "success"


def test_cancel_job_stops_a_running_job_and_leaves_a_finished_one(emu, auth):
    pid = start(emu, auth, "success")
    emu.advance(5)  # the second job runs
    running = next(job for job in jobs(emu, auth, pid) if job["status"] == "running")
    answer = call(emu, "POST", f"/projects/1/jobs/{running['id']}/cancel", auth)
    assert (answer.status_code, answer.json()["status"]) == (201, "canceling")
    emu.advance(1)
    assert call(emu, "GET", f"/projects/1/jobs/{running['id']}", auth).json()["status"] == "canceled"
    first = jobs(emu, auth, pid)[-1]
    assert first["status"] == "success"
    assert call(emu, "POST", f"/projects/1/jobs/{first['id']}/cancel", auth).json()["status"] == "success"


def test_a_canceled_job_skips_the_later_stages_and_a_retry_runs_them(emu, auth):
    pid = start(emu, auth, "success")
    emu.advance(5)
    running = next(job for job in jobs(emu, auth, pid) if job["status"] == "running")
    later = [job["name"] for job in jobs(emu, auth, pid) if job["status"] == "created"]
    assert later  # the stages after the running one
    call(emu, "POST", f"/projects/1/jobs/{running['id']}/cancel", auth)
    emu.advance(20)  # well past the pipeline's planned end
    by_name = {job["name"]: job for job in jobs(emu, auth, pid)}
    assert by_name[running["name"]]["status"] == "canceled"
    assert {name: by_name[name]["status"] for name in later} == dict.fromkeys(later, "skipped")
    assert all(by_name[name]["started_at"] is None for name in later)
    assert status(emu, auth, pid) == "canceled"
    call(emu, "POST", f"/projects/1/jobs/{running['id']}/retry", auth)
    emu.advance(20)
    assert {job["name"]: job["status"] for job in jobs(emu, auth, pid)} == dict.fromkeys(by_name, "success")
    assert status(emu, auth, pid) == "success"


def test_a_canceled_job_skips_a_later_manual_job(emu, auth):
    pid = start(emu, auth)  # ends in a manual deploy stage
    emu.advance(5)
    running = next(job for job in jobs(emu, auth, pid) if job["status"] == "running")
    call(emu, "POST", f"/projects/1/jobs/{running['id']}/cancel", auth)
    emu.advance(20)
    assert deploy_job(emu, auth, pid)["status"] == "skipped"
    assert status(emu, auth, pid) == "canceled"


def test_retry_job_makes_a_new_job_that_replaces_the_old_one(emu, auth):
    pid = start(emu, auth, "failed")
    emu.advance(10)
    [failed] = jobs(emu, auth, pid, scope="failed")
    retried = call(emu, "POST", f"/projects/1/jobs/{failed['id']}/retry", auth)
    assert retried.status_code == 201
    new = retried.json()
    assert new["id"] != failed["id"]
    assert new["name"] == failed["name"]
    assert failed["id"] not in [job["id"] for job in jobs(emu, auth, pid)]
    assert failed["id"] in [job["id"] for job in jobs(emu, auth, pid, include_retried="true")]
    emu.advance(10)
    assert status(emu, auth, pid) == "success"
    again = call(emu, "POST", f"/projects/1/jobs/{failed['id']}/retry", auth)
    assert (again.status_code, again.json()) == (403, {"message": "403 Forbidden - Job is not retryable"})


def test_a_running_job_is_not_retryable(emu, auth):
    pid = start(emu, auth, "success")
    emu.advance(3)
    running = next(job for job in jobs(emu, auth, pid) if job["status"] == "running")
    assert call(emu, "POST", f"/projects/1/jobs/{running['id']}/retry", auth).status_code == 403


# -- pipeline schedules -------------------------------------------------------------------------

SCHEDULES = "/projects/demo%2Fdataops-project/pipeline_schedules"


def create(emu, auth, **fields):
    body = {"description": "Nightly", "ref": "main", "cron": "0 1 * * *", **fields}
    return call(emu, "POST", SCHEDULES, auth, **body)


def test_schedule_crud(emu, auth):
    created = create(emu, auth, cron_timezone="Europe/London")
    assert created.status_code == 201
    schedule = created.json()
    assert schedule["active"] is True
    assert schedule["cron_timezone"] == "Europe/London"
    assert schedule["owner"]["username"] == "dataops-user"
    assert schedule["last_pipeline"] is None
    sid = schedule["id"]
    paused = call(emu, "PUT", f"{SCHEDULES}/{sid}", auth, active=False)
    assert (paused.status_code, paused.json()["active"], paused.json()["next_run_at"]) == (200, False, None)
    listed = requests.get(f"{emu.api_url}{SCHEDULES}", headers=auth, params={"scope": "inactive"}, timeout=10)
    assert [item["id"] for item in listed.json()] == [sid]
    active = requests.get(f"{emu.api_url}{SCHEDULES}", headers=auth, params={"scope": "active"}, timeout=10)
    assert active.json() == []
    owned = call(emu, "POST", f"{SCHEDULES}/{sid}/take_ownership", auth)
    assert owned.status_code == 201
    deleted = call(emu, "DELETE", f"{SCHEDULES}/{sid}", auth)
    assert (deleted.status_code, deleted.content) == (204, b"")
    gone = call(emu, "GET", f"{SCHEDULES}/{sid}", auth)
    assert (gone.status_code, gone.json()) == (404, {"message": "404 Pipeline Schedule Not Found"})


def test_play_starts_a_schedule_pipeline(emu, auth):
    sid = create(emu, auth).json()["id"]
    played = call(emu, "POST", f"{SCHEDULES}/{sid}/play", auth)
    assert (played.status_code, played.json()) == (201, {"message": "201 Created"})
    [pipeline] = emu.pipelines()
    assert (pipeline["source"], pipeline["ref"]) == ("schedule", "main")
    last = call(emu, "GET", f"{SCHEDULES}/{sid}", auth).json()["last_pipeline"]
    assert (last["id"], last["source"]) == (pipeline["id"], "schedule")


@pytest.mark.parametrize(
    ("fields", "body"),
    [
        ({"cron": ""}, {"error": "cron is missing"}),
        ({"cron": "every day"}, {"message": {"cron": [" is invalid syntax"]}}),
        ({"cron_timezone": "Mars/Olympus"}, {"message": {"cron_timezone": [" is invalid syntax"]}}),
    ],
)
def test_schedule_validation(emu, auth, fields, body):
    answer = create(emu, auth, **fields)
    assert (answer.status_code, answer.json()) == (400, body)


def test_schedules_need_a_token_and_a_valid_scope(emu, auth):
    assert call(emu, "GET", SCHEDULES, {}).status_code == 401
    bad = requests.get(f"{emu.api_url}{SCHEDULES}", headers=auth, params={"scope": "paused"}, timeout=10)
    assert (bad.status_code, bad.json()) == (400, {"error": "scope does not have a valid value"})
    assert call(emu, "GET", "/projects/999/pipeline_schedules", auth).status_code == 404
