"""A real GitLab client (python-gitlab) works against the emulator unmodified."""

from __future__ import annotations

import io
import json
import zipfile

import gitlab
import pytest

from airflow_provider_dataops.emulator.state import SEEDED_PROJECT_COUNT

pytestmark = pytest.mark.integration


def test_python_gitlab_end_to_end(emu):
    gl = gitlab.Gitlab(emu.url, private_token=emu.access_token)
    gl.auth()
    assert gl.user.username == "dataops-user"

    emu.seed_projects(30)
    total = 30 + SEEDED_PROJECT_COUNT
    listed = gl.projects.list(get_all=True, per_page=10)
    assert len(listed) == total
    iterated = list(gl.projects.list(iterator=True, per_page=10, order_by="id", sort="asc"))
    assert [project.id for project in iterated] == list(range(1, total + 1))

    project = gl.projects.get("demo/dataops-project")
    assert project.id == 1
    assert project.default_branch == "main"

    pipeline = project.pipelines.create(
        {"ref": "main", "variables": [{"key": "DATAOPS_EMULATOR_OUTCOME", "value": "failed"}]}
    )
    assert pipeline.status == "created"
    assert pipeline.source == "api"
    emu.advance(10)
    pipeline.refresh()
    assert pipeline.status == "failed"
    assert pipeline.duration == 8

    jobs = pipeline.jobs.list(get_all=True)
    assert len(jobs) == 4
    failed = pipeline.jobs.list(scope=["failed"], get_all=True)
    assert [job.failure_reason for job in failed] == ["script_failure"]
    trace = project.jobs.get(failed[0].id, lazy=True).trace()
    assert b"ERROR: Job failed: exit code 1" in trace
    summary = pipeline.test_report_summary.get()
    assert (summary.total["count"], summary.total["failed"]) == (3, 1)
    report = pipeline.test_report.get()
    assert report.failed_count == 1
    failing = [case for case in report.test_suites[0]["test_cases"] if case["status"] == "failed"]
    assert [case["name"] for case in failing] == ["model.dataops.dim_customers"]

    triggered = project.trigger_pipeline("main", emu.trigger_token, variables={"_PIPELINE_FILE_NAME": "full-ci.yml"})
    assert triggered.source == "trigger"
    assert triggered.status == "created"
    assert project.pipelines.get(triggered.id).variables.list()[0].key == "_PIPELINE_FILE_NAME"

    pipeline.retry()
    emu.advance(10)
    pipeline.refresh()
    assert pipeline.status == "success"

    created = gl.projects.create({"name": "From Python GitLab", "namespace_id": 2})
    assert created.path_with_namespace == "demo/from-python-gitlab"
    with pytest.raises(gitlab.exceptions.GitlabCreateError) as duplicate:
        gl.projects.create({"name": "From Python GitLab", "namespace_id": 2})
    assert duplicate.value.response_code == 400


def test_python_gitlab_keyset_and_errors(emu):
    emu.seed_projects(25)
    gl = gitlab.Gitlab(emu.url, private_token=emu.access_token, pagination="keyset", order_by="id", per_page=10)
    assert len(list(gl.projects.list(iterator=True))) == 25 + SEEDED_PROJECT_COUNT

    with pytest.raises(gitlab.exceptions.GitlabAuthenticationError):
        gitlab.Gitlab(emu.url, private_token="wrong").auth()
    with pytest.raises(gitlab.exceptions.GitlabGetError) as missing:
        gl.projects.get("demo/nope")
    assert missing.value.response_code == 404
    with pytest.raises(gitlab.exceptions.GitlabGetError) as no_pipeline:
        gl.projects.get(1, lazy=True).pipelines.get(999, lazy=True).test_report.get()
    assert no_pipeline.value.response_code == 404


def test_python_gitlab_manual_jobs_and_schedules(emu):
    gl = gitlab.Gitlab(emu.url, private_token=emu.access_token)
    project = gl.projects.get(1)
    variables = [{"key": "DATAOPS_EMULATOR_OUTCOME", "value": "manual_deploy"}]
    pipeline = project.pipelines.create({"ref": "main", "variables": variables})
    emu.advance(10)
    pipeline.refresh()
    assert pipeline.status == "manual"
    [gate] = pipeline.jobs.list(scope=["manual"], get_all=True)
    assert gate.name == "Deploy to Production"
    project.jobs.get(gate.id, lazy=True).play()
    emu.advance(2)
    pipeline.refresh()
    assert pipeline.status == "success"

    schedule = project.pipelineschedules.create({"description": "Nightly", "ref": "main", "cron": "0 1 * * *"})
    schedule.active = False
    schedule.save()
    assert project.pipelineschedules.get(schedule.id).active is False
    schedule.take_ownership()
    schedule.play()  # GitLab answers {"message": "201 Created"}, which replaces the object's attributes
    assert [p.source for p in project.pipelines.list(source="schedule", get_all=True)] == ["schedule"]
    project.pipelineschedules.delete(project.pipelineschedules.list(get_all=True)[0].id)
    assert project.pipelineschedules.list(get_all=True) == []


def test_python_gitlab_artifact_methods(emu):
    gl = gitlab.Gitlab(emu.url, private_token=emu.access_token)
    project = gl.projects.get(1)
    pipeline = project.pipelines.create({"ref": "main"})
    emu.advance(10)
    [docs] = [job for job in pipeline.jobs.list(get_all=True) if job.name == "Generate Docs"]
    job = project.jobs.get(docs.id)
    archive = job.artifacts()
    assert len(archive) == job.artifacts_file["size"]
    assert zipfile.ZipFile(io.BytesIO(archive)).namelist() == ["target/run_results.json", "report.xml", "logs/job.log"]
    results = json.loads(job.artifact("target/run_results.json"))
    assert [result["status"] for result in results["results"]] == ["success"] * 3
    assert project.artifacts.download("main", "Generate Docs") == archive
    assert project.artifacts.raw("main", "report.xml", "Generate Docs").startswith(b"<?xml")
    with pytest.raises(gitlab.exceptions.GitlabGetError) as missing:
        project.artifacts.download("main", "No Such Job")
    assert missing.value.response_code == 404
    # python-gitlab follows the redirect with requests, which keeps its PRIVATE-TOKEN header.
    assert [download["host"] for download in emu.storage_downloads()] == ["localhost", "localhost"]
