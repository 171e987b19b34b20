"""A played manual job's duration from the play's ``DATAOPS_EMULATOR_SECONDS``, against the manual clock."""

from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.integration


def call(emu, method, path, auth, **body):
    return requests.request(method, f"{emu.api_url}{path}", headers=auth, json=body or None, timeout=10)


def gate(emu, auth) -> tuple[int, int]:
    """A pipeline stopped at its manual deploy job (pipeline id, job id)."""
    variables = [{"key": "DATAOPS_EMULATOR_OUTCOME", "value": "manual_deploy"}]
    pid = call(emu, "POST", "/projects/1/pipeline", auth, ref="main", variables=variables).json()["id"]
    emu.advance(10)
    jobs = call(emu, "GET", f"/projects/1/pipelines/{pid}/jobs", auth).json()
    return pid, next(job["id"] for job in jobs if job["name"] == "Deploy to Production")


def test_the_played_job_runs_as_long_as_the_play_says(emu, auth):
    pid, job_id = gate(emu, auth)
    seconds = [{"key": "DATAOPS_EMULATOR_SECONDS", "value": "100"}]
    assert call(emu, "POST", f"/projects/1/jobs/{job_id}/play", auth, job_variables_attributes=seconds).ok
    emu.advance(99)
    assert call(emu, "GET", f"/projects/1/pipelines/{pid}", auth).json()["status"] == "running"
    emu.advance(2)
    assert call(emu, "GET", f"/projects/1/pipelines/{pid}", auth).json()["status"] == "success"


@pytest.mark.parametrize("value", ["-1", "soon", "nan"])
def test_a_bad_duration_is_refused(emu, auth, value):
    _pid, job_id = gate(emu, auth)
    seconds = [{"key": "DATAOPS_EMULATOR_SECONDS", "value": value}]
    refused = call(emu, "POST", f"/projects/1/jobs/{job_id}/play", auth, job_variables_attributes=seconds)
    assert (refused.status_code, refused.json()) == (
        400,
        {"error": "DATAOPS_EMULATOR_SECONDS of a played job must be a non-negative number of seconds"},
    )
