"""Job artifacts over HTTP: real zips built from the outcome, GitLab's answers, the object storage."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ElementTree
import zipfile

import pytest
import requests

from airflow_provider_dataops.emulator.api_artifacts import storage_base, valid_artifact_path
from airflow_provider_dataops.emulator.artifacts import Entry, archive_chunks, archive_size
from tests.emulator.test_api import get, trigger

pytestmark = pytest.mark.integration


def finished_jobs(emu, auth, outcome="success", **variables):
    pid = trigger(emu, DATAOPS_EMULATOR_OUTCOME=outcome, **variables).json()["id"]
    emu.advance(10)
    jobs = get(emu, f"/projects/1/pipelines/{pid}/jobs", auth).json()
    return pid, {job["name"]: job for job in jobs}


def test_a_running_job_has_no_artifacts_and_a_finished_one_has_an_archive(emu, auth):
    pid = trigger(emu).json()["id"]
    [job, *_] = get(emu, f"/projects/1/pipelines/{pid}/jobs", auth).json()
    assert (job["artifacts"], "artifacts_file" in job) == ([], False)
    no_archive = get(emu, f"/projects/1/jobs/{job['id']}/artifacts", auth)
    assert (no_archive.status_code, no_archive.json()) == (404, {"message": "404 Not Found"})

    emu.advance(10)
    job = get(emu, f"/projects/1/jobs/{job['id']}", auth).json()
    archive = get(emu, f"/projects/1/jobs/{job['id']}/artifacts", auth)
    assert archive.status_code == 200
    assert job["artifacts_file"] == {"filename": "artifacts.zip", "size": len(archive.content)}
    assert [item["file_type"] for item in job["artifacts"]] == ["archive", "junit"]
    assert job["artifacts_expire_at"] is not None
    names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    assert names == ["target/run_results.json", "report.xml", "logs/job.log"]


def test_run_results_and_junit_agree_with_the_test_report(emu, auth):
    pid, jobs = finished_jobs(emu, auth, outcome="failed")
    job_id = jobs["Generate Docs"]["id"]
    results = get(emu, f"/projects/1/jobs/{job_id}/artifacts/target/run_results.json", auth).json()
    statuses = {result["unique_id"]: result["status"] for result in results["results"]}
    assert statuses == {
        "model.dataops.stg_orders": "success",
        "model.dataops.stg_customers": "success",
        "model.dataops.dim_customers": "error",
    }
    assert all({"timing", "execution_time", "thread_id"} <= set(result) for result in results["results"])
    report = get(emu, f"/projects/1/pipelines/{pid}/test_report", auth).json()
    failing = [
        case["name"] for suite in report["test_suites"] for case in suite["test_cases"] if case["status"] != "success"
    ]
    assert failing == [uid for uid, status in statuses.items() if status != "success"]

    junit = ElementTree.fromstring(get(emu, f"/projects/1/jobs/{job_id}/artifacts/report.xml", auth).content)
    suite = junit.find("testsuite")
    assert suite is not None
    assert (suite.get("name"), suite.get("tests"), suite.get("failures")) == ("Generate Docs", "3", "1")
    [failure] = junit.iter("failure")
    assert "DIM_CUSTOMERS" in (failure.text or "")


def test_single_file_errors_are_gitlabs(emu, auth):
    _, jobs = finished_jobs(emu, auth)
    job_id = jobs["Generate Docs"]["id"]
    missing = get(emu, f"/projects/1/jobs/{job_id}/artifacts/target/nope.json", auth)
    assert (missing.status_code, missing.text) == (404, "404 page not found\n")
    escaping = get(emu, f"/projects/1/jobs/{job_id}/artifacts/target/%2E%2E/report.xml", auth)
    assert (escaping.status_code, escaping.json()) == (400, {"message": "400 Bad request"})
    unknown_job = get(emu, "/projects/1/jobs/999999/artifacts/report.xml", auth)
    assert (unknown_job.status_code, unknown_job.json()) == (404, {"message": "404 Not found"})
    assert get(emu, f"/projects/1/jobs/{job_id}/artifacts/report.xml").status_code == 401


def test_archive_redirects_to_object_storage_on_another_host_that_needs_no_token(emu, auth):
    _, jobs = finished_jobs(emu, auth)
    job_id = jobs["Build all Models"]["id"]
    redirect = requests.get(f"{emu.api_url}/projects/1/jobs/{job_id}/artifacts", headers=auth, allow_redirects=False)
    assert redirect.status_code == 302
    location = redirect.headers["location"]
    assert location.startswith(f"http://localhost:{emu.port}/-/object-storage/1/job-artifacts/{job_id}/")
    fetched = requests.get(location, timeout=10)
    assert fetched.status_code == 200
    assert fetched.headers["content-length"] == str(len(fetched.content))
    assert emu.storage_downloads() == [{"job_id": job_id, "host": "localhost", "status": 200, "credentials": False}]
    forged = requests.get(location.replace("Signature=", "Signature=0"), timeout=10)
    assert forged.status_code == 403
    assert b"SignatureDoesNotMatch" in forged.content
    emu.advance(3600)
    assert b"Request has expired" in requests.get(location, timeout=10).content


def test_by_ref_endpoints_use_the_newest_successful_pipeline(emu, auth):
    _, first = finished_jobs(emu, auth)
    finished_jobs(emu, auth, outcome="failed")  # newer, but not successful
    base = "/projects/demo%2Fdataops-project/jobs/artifacts/main"
    raw = get(emu, f"{base}/raw/target/run_results.json", auth, job="Generate Docs")
    assert raw.status_code == 200
    assert {result["status"] for result in raw.json()["results"]} == {"success"}
    archive = get(emu, f"{base}/download", auth, job="Generate Docs")
    direct = get(emu, f"/projects/1/jobs/{first['Generate Docs']['id']}/artifacts", auth)
    assert archive.content == direct.content
    assert get(emu, f"{base}/download", auth).json() == {"error": "job is missing"}
    for response in (
        get(emu, f"{base}/download", auth, job="No Such Job"),
        get(emu, "/projects/1/jobs/artifacts/feature/download", auth, job="Generate Docs"),
    ):
        assert (response.status_code, response.json()) == (404, {"message": "404 Not found"})


def test_a_generated_large_file_is_streamed_and_sized(emu, auth):
    _, jobs = finished_jobs(emu, auth, DATAOPS_EMULATOR_ARTIFACT_BYTES=str(3 * 1024 * 1024 + 5))
    job = jobs["Generate Docs"]
    archive = get(emu, f"/projects/1/jobs/{job['id']}/artifacts", auth)
    assert len(archive.content) == job["artifacts_file"]["size"]
    member = zipfile.ZipFile(io.BytesIO(archive.content)).getinfo("target/large.bin")
    assert member.file_size == 3 * 1024 * 1024 + 5
    single = get(emu, f"/projects/1/jobs/{job['id']}/artifacts/target/large.bin", auth)
    assert len(single.content) == 3 * 1024 * 1024 + 5
    assert "large" not in json.dumps(jobs["Build all Models"])
    assert trigger(emu, DATAOPS_EMULATOR_ARTIFACT_BYTES="lots").status_code == 400


def test_archives_are_valid_zips_produced_in_pieces():
    files = (Entry("a.txt", b"x" * 10_000), Entry("big.bin", size=2_500_000))
    pieces = list(archive_chunks(files))
    assert max(len(piece) for piece in pieces) <= 1_100_000  # never the whole archive at once
    archive = zipfile.ZipFile(io.BytesIO(b"".join(pieces)))
    assert archive.testzip() is None
    assert archive_size(files) == sum(len(piece) for piece in pieces)


@pytest.mark.parametrize(
    ("api", "storage"),
    [
        ("http://127.0.0.1:8080", "http://localhost:8080"),
        ("http://localhost:9", "http://127.0.0.1:9"),
        ("http://emulator.internal:80", "http://emulator.internal:80"),
    ],
)
def test_storage_is_on_the_other_loopback_name(api, storage):
    assert storage_base(api) == storage


@pytest.mark.parametrize(
    ("path", "valid"), [("a/b.json", True), ("", False), ("/etc/passwd", False), ("a/../b", False)]
)
def test_artifact_path_rules(path, valid):
    assert valid_artifact_path(path) is valid


def test_drop_mid_fault_cuts_the_body_after_half_its_length(emu, auth):
    _, jobs = finished_jobs(emu, auth)
    job_id = jobs["Generate Docs"]["id"]
    emu.inject_fault("drop_mid", path="/artifacts/report.xml$")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        get(emu, f"/projects/1/jobs/{job_id}/artifacts/report.xml", auth)
    assert emu.requests()[-1]["status"] == "dropped"
    assert get(emu, f"/projects/1/jobs/{job_id}/artifacts/report.xml", auth).status_code == 200
