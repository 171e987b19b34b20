"""Pipeline test reports over HTTP: derived from the outcome variable, in GitLab's shapes."""

from __future__ import annotations

import pytest
import requests

from tests.emulator.test_api import get, trigger

pytestmark = pytest.mark.integration


def reports(emu, auth, pid, project="1"):
    base = f"/projects/{project}/pipelines/{pid}"
    return get(emu, f"{base}/test_report", auth), get(emu, f"{base}/test_report_summary", auth)


def test_successful_run_reports_passing_cases(emu, auth):
    pid = trigger(emu).json()["id"]
    emu.advance(10)
    report, summary = (response.json() for response in reports(emu, auth, pid))
    last_job = max(get(emu, f"/projects/1/pipelines/{pid}/jobs", auth).json(), key=lambda job: job["id"])
    assert summary == {
        "total": {"time": 2.1, "count": 3, "success": 3, "failed": 0, "skipped": 0, "error": 0, "suite_error": None},
        "test_suites": [
            {
                "name": "Generate Docs",
                "total_time": 2.1,
                "total_count": 3,
                "success_count": 3,
                "failed_count": 0,
                "skipped_count": 0,
                "error_count": 0,
                "build_ids": [last_job["id"]],
                "suite_error": None,
            }
        ],
    }
    assert {key: report[key] for key in ("total_time", "total_count", "success_count", "failed_count")} == {
        "total_time": 2.1,
        "total_count": 3,
        "success_count": 3,
        "failed_count": 0,
    }
    (suite,) = report["test_suites"]
    assert suite["name"] == "Generate Docs"
    assert suite["test_cases"][0] == {
        "status": "success",
        "name": "model.dataops.stg_orders",
        "classname": "models.staging",
        "file": "models/staging/stg_orders.sql",
        "execution_time": 0.4,
        "system_output": None,
        "stack_trace": None,
        "attachment_url": None,
    }


def test_failing_run_reports_the_failing_case_with_its_output(emu, auth):
    pid = trigger(emu, DATAOPS_EMULATOR_OUTCOME="failed").json()["id"]
    emu.advance(10)
    report, summary = (response.json() for response in reports(emu, auth, pid))
    assert summary["total"]["count"] == 3
    assert (summary["total"]["success"], summary["total"]["failed"]) == (2, 1)
    (suite,) = report["test_suites"]
    (failed,) = [case for case in suite["test_cases"] if case["status"] == "failed"]
    assert failed["name"] == "model.dataops.dim_customers"
    assert "invalid identifier 'ORDER_TOTAL'" in failed["system_output"]
    assert (report["failed_count"], suite["failed_count"]) == (1, 1)


def test_tests_failed_outcome_succeeds_with_an_allowed_failure(emu, auth):
    pid = trigger(emu, DATAOPS_EMULATOR_OUTCOME="tests_failed").json()["id"]
    emu.advance(10)
    assert get(emu, f"/projects/1/pipelines/{pid}", auth).json()["status"] == "success"
    (failed_job,) = get(emu, f"/projects/1/pipelines/{pid}/jobs", auth, scope="failed").json()
    assert (failed_job["name"], failed_job["allow_failure"]) == ("Generate Docs", True)
    assert reports(emu, auth, pid)[1].json()["total"]["failed"] == 1
    # A job that must not fail stays allow_failure: false.
    other = get(emu, f"/projects/1/pipelines/{pid}/jobs", auth, scope="success").json()
    assert {job["allow_failure"] for job in other} == {False}


@pytest.mark.parametrize("outcome", ["canceled", "manual", "skipped"])
def test_runs_whose_reporting_job_never_finished_have_an_empty_report(emu, auth, outcome):
    pid = trigger(emu, DATAOPS_EMULATOR_OUTCOME=outcome).json()["id"]
    emu.advance(10)
    report, summary = reports(emu, auth, pid)
    assert (report.status_code, summary.status_code) == (200, 200)
    assert report.json() == {
        "total_time": 0,
        "total_count": 0,
        "success_count": 0,
        "failed_count": 0,
        "skipped_count": 0,
        "error_count": 0,
        "test_suites": [],
    }
    assert summary.json()["total"]["count"] == 0
    assert summary.json()["test_suites"] == []


def test_report_appears_when_the_reporting_job_finishes(emu, auth):
    pid = trigger(emu).json()["id"]
    emu.advance(5)
    assert reports(emu, auth, pid)[1].json()["total"]["count"] == 0
    emu.advance(5)
    assert reports(emu, auth, pid)[1].json()["total"]["count"] == 3


def test_a_retried_failure_reports_the_rerun(emu, auth):
    pid = trigger(emu, DATAOPS_EMULATOR_OUTCOME="failed").json()["id"]
    emu.advance(10)
    requests.post(f"{emu.api_url}/projects/1/pipelines/{pid}/retry", headers=auth, timeout=10).raise_for_status()
    emu.advance(10)
    assert reports(emu, auth, pid)[1].json()["total"]["failed"] == 0


def test_report_404s_like_gitlab(emu, auth):
    for response in reports(emu, auth, 999):
        assert response.status_code == 404
        assert response.json() == {"message": "404 Not found"}
    for response in reports(emu, auth, 1, project="demo%2Fnope"):
        assert response.status_code == 404
        assert response.json() == {"message": "404 Project Not Found"}
    pid = trigger(emu).json()["id"]
    for response in reports(emu, {}, pid):
        assert response.status_code == 401
