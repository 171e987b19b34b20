"""One chosen job fails, its retry runs the skipped jobs again, and CI lint lists the jobs of a file."""

from __future__ import annotations

import gitlab
import pytest
import requests

pytestmark = pytest.mark.integration

BUILD = "Build all Models"


def call(emu, method, path, auth, **body):
    return requests.request(method, f"{emu.api_url}{path}", headers=auth, json=body or None, timeout=10)


def start(emu, auth, **values):
    variables = [{"key": key, "value": value} for key, value in values.items()]
    return call(emu, "POST", "/projects/1/pipeline", auth, ref="main", variables=variables)


def jobs(emu, auth, pipeline_id, **params):
    path = f"{emu.api_url}/projects/1/pipelines/{pipeline_id}/jobs"
    return {job["name"]: job for job in requests.get(path, headers=auth, params=params, timeout=10).json()}


def pipeline_status(emu, auth, pipeline_id):
    return call(emu, "GET", f"/projects/1/pipelines/{pipeline_id}", auth).json()["status"]


def test_the_chosen_job_fails_and_later_stages_are_skipped(emu, auth):
    pid = start(emu, auth, DATAOPS_EMULATOR_FAIL_JOB=BUILD).json()["id"]
    emu.advance(5)
    assert pipeline_status(emu, auth, pid) == "running"
    assert jobs(emu, auth, pid)["Generate Docs"]["status"] == "created"
    emu.advance(3)  # Build ends at 8 s
    listed = jobs(emu, auth, pid)
    assert {name: job["status"] for name, job in listed.items()} == {
        "Initialise Pipeline": "success",
        "Ingest Source Data": "success",
        BUILD: "failed",
        "Generate Docs": "skipped",
    }
    assert listed[BUILD]["failure_reason"] == "script_failure"
    assert pipeline_status(emu, auth, pid) == "failed"
    trace = call(emu, "GET", f"/projects/1/jobs/{listed[BUILD]['id']}/trace", auth).text
    assert "ERROR: Job failed: exit code 1" in trace


def test_retrying_the_failed_job_reruns_the_skipped_ones_and_the_pipeline_succeeds(emu, auth):
    pid = start(emu, auth, DATAOPS_EMULATOR_FAIL_JOB="Ingest Source Data").json()["id"]
    emu.advance(10)
    before = jobs(emu, auth, pid)
    assert pipeline_status(emu, auth, pid) == "failed"
    retried = call(emu, "POST", f"/projects/1/jobs/{before['Ingest Source Data']['id']}/retry", auth).json()
    assert retried["id"] not in {job["id"] for job in before.values()}
    after = jobs(emu, auth, pid)
    # GitLab re-processes the skipped jobs under their own ids: they are created again, not new.
    assert after[BUILD]["id"] == before[BUILD]["id"]
    assert (after[BUILD]["status"], after["Generate Docs"]["status"]) == ("created", "created")
    assert pipeline_status(emu, auth, pid) == "running"
    old = call(emu, "GET", f"/projects/1/jobs/{before['Ingest Source Data']['id']}", auth).json()
    assert old["status"] == "failed"
    emu.advance(20)
    final = jobs(emu, auth, pid)
    assert {job["status"] for job in final.values()} == {"success"}
    assert pipeline_status(emu, auth, pid) == "success"
    with_retried = requests.get(
        f"{emu.api_url}/projects/1/pipelines/{pid}/jobs", headers=auth, params={"include_retried": "true"}, timeout=10
    ).json()
    assert len(with_retried) == 5


def test_a_pipeline_retry_reruns_the_skipped_jobs_too(emu, auth):
    pid = start(emu, auth, DATAOPS_EMULATOR_FAIL_JOB=BUILD).json()["id"]
    emu.advance(10)
    call(emu, "POST", f"/projects/1/pipelines/{pid}/retry", auth)
    emu.advance(20)
    assert pipeline_status(emu, auth, pid) == "success"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"DATAOPS_EMULATOR_FAIL_JOB": "Deploy"}, "must name one of the jobs that run: Initialise Pipeline"),
        (
            {"DATAOPS_EMULATOR_FAIL_JOB": BUILD, "DATAOPS_EMULATOR_OUTCOME": "canceled"},
            "needs DATAOPS_EMULATOR_OUTCOME to be one of: success, manual_deploy",
        ),
    ],
)
def test_a_bad_failing_job_is_refused(emu, auth, values, message):
    answer = start(emu, auth, **values)
    assert answer.status_code == 400
    assert message in answer.json()["message"]["base"][0]


def test_ci_lint_dry_run_lists_the_jobs_of_an_included_pipeline_file(emu, auth):
    answer = call(
        emu,
        "POST",
        "/projects/1/ci/lint",
        auth,
        content="include:\n  - local: full-ci.yml\n",
        dry_run=True,
        include_jobs=True,
        ref="main",
    ).json()
    assert answer["valid"] is True
    assert [(job["name"], job["stage"]) for job in answer["jobs"]] == [
        ("Initialise Pipeline", "Pipeline Initialisation"),
        ("Ingest Source Data", "Data Ingestion"),
        (BUILD, "Data Transformation"),
        ("Generate Docs", "Generate Docs"),
    ]
    missing = call(emu, "POST", "/projects/1/ci/lint", auth, content="include:\n  - local: other-ci.yml\n").json()
    assert (missing["valid"], missing["errors"]) == (False, ["Local file `other-ci.yml` does not exist!"])
    assert "jobs" not in missing
    as_json = call(emu, "POST", "/projects/1/ci/lint", auth, content='{"include": [{"local": "full-ci.yml"}]}').json()
    assert as_json["valid"] is True
    bad_ref = call(
        emu, "POST", "/projects/1/ci/lint", auth, content="include: [{local: full-ci.yml}]", dry_run=True, ref="nope"
    ).json()
    assert bad_ref["errors"] == ["Reference not found"]
    assert call(emu, "POST", "/projects/1/ci/lint", auth).json() == {"error": "content is missing"}
    assert call(emu, "POST", "/projects/1/ci/lint", {}, content="x").status_code == 401


def test_python_gitlab_lints_and_retries_a_job(emu):
    gl = gitlab.Gitlab(emu.url, private_token=emu.access_token)
    project = gl.projects.get(1)
    lint = project.ci_lint.create(
        {"content": "include:\n  - local: full-ci.yml\n", "dry_run": True, "include_jobs": True}
    )
    assert lint.valid is True
    assert [job["name"] for job in lint.jobs][-1] == "Generate Docs"
    pipeline = project.pipelines.create(
        {"ref": "main", "variables": [{"key": "DATAOPS_EMULATOR_FAIL_JOB", "value": "Generate Docs"}]}
    )
    emu.advance(10)
    pipeline.refresh()
    assert pipeline.status == "failed"
    [failed] = pipeline.jobs.list(scope=["failed"], get_all=True)
    project.jobs.get(failed.id, lazy=True).retry()
    emu.advance(10)
    pipeline.refresh()
    assert pipeline.status == "success"
