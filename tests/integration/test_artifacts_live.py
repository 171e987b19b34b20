"""Artifact downloads against the emulator: redirects to object storage, broken bodies, destinations."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_dataops.api.retry import RetryPolicy
from airflow_provider_dataops.emulator import DataOpsEmulator
from airflow_provider_dataops.errors import DataOpsError, DataOpsNotFoundError, DataOpsTransportError
from airflow_provider_dataops.hooks.dataops import DataOpsHook
from airflow_provider_dataops.operators.artifacts import DataOpsJobArtifactOperator
from tests.integration.conftest import task_context

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("sleeps_fast")]

PROJECT = "demo/dataops-project"
STORAGE = r"^/-/object-storage/"


def finished_pipeline(emu: DataOpsEmulator, hook: DataOpsHook, **variables: Any) -> tuple[int, dict[str, int]]:
    pipeline = hook.trigger_pipeline(PROJECT, "main", variables=variables)
    emu.advance(10)
    jobs = {job["name"]: job["id"] for job in hook.list_pipeline_jobs(PROJECT, pipeline["id"])}
    return pipeline["id"], jobs


def test_archive_follows_the_redirect_without_the_token(
    dataops_connection_env: DataOpsEmulator, tmp_path: Path
) -> None:
    hook = DataOpsHook()
    _, jobs = finished_pipeline(dataops_connection_env, hook)
    written = hook.download_job_artifacts(PROJECT, jobs["Generate Docs"], tmp_path / "out" / "artifacts.zip")
    data = (tmp_path / "out" / "artifacts.zip").read_bytes()
    assert written == {
        "path": str(tmp_path / "out" / "artifacts.zip"),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["target/run_results.json", "report.xml", "logs/job.log"]
    [download] = dataops_connection_env.storage_downloads()
    assert (download["host"], download["status"], download["credentials"]) == ("localhost", 200, False)
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["artifacts.zip"]


def test_single_file_and_by_ref_forms(dataops_connection_env: DataOpsEmulator, tmp_path: Path) -> None:
    hook = DataOpsHook()
    _, jobs = finished_pipeline(dataops_connection_env, hook)
    buffer = io.BytesIO()
    one = hook.download_job_artifact(PROJECT, jobs["Generate Docs"], "target/run_results.json", buffer)
    assert one["path"] is None
    assert [r["status"] for r in json.loads(buffer.getvalue())["results"]] == ["success"] * 3
    by_ref = hook.download_ref_artifact(
        1,
        ref="main",
        job_name="Generate Docs",
        artifact_path="target/run_results.json",
        destination=tmp_path / "r.json",
    )
    assert by_ref["sha256"] == one["sha256"]
    archive = hook.download_ref_artifacts(PROJECT, ref="main", job_name="Generate Docs", destination=tmp_path / "a.zip")
    assert archive["sha256"] == hook.download_job_artifacts(PROJECT, jobs["Generate Docs"], io.BytesIO())["sha256"]
    with pytest.raises(DataOpsNotFoundError, match="404 page not found"):
        hook.download_job_artifact(PROJECT, jobs["Generate Docs"], "target/missing.json", tmp_path / "missing.json")
    assert not (tmp_path / "missing.json").exists()


def test_object_storage_path_destination(dataops_connection_env: DataOpsEmulator, tmp_path: Path) -> None:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    hook = DataOpsHook()
    _, jobs = finished_pipeline(dataops_connection_env, hook)
    target = ObjectStoragePath(f"file://{tmp_path}/report.xml")
    written = hook.download_job_artifact(PROJECT, jobs["Generate Docs"], "report.xml", target)
    assert written["path"] == str(target)
    assert (tmp_path / "report.xml").read_bytes().startswith(b"<?xml")


def test_a_body_cut_short_is_downloaded_again_from_the_start(
    dataops_connection_env: DataOpsEmulator, tmp_path: Path
) -> None:
    hook = DataOpsHook()
    _, jobs = finished_pipeline(dataops_connection_env, hook, DATAOPS_EMULATOR_ARTIFACT_BYTES=str(3 << 20))
    dataops_connection_env.inject_fault("drop_mid", path=STORAGE, times=2)
    written = hook.download_job_artifacts(PROJECT, jobs["Generate Docs"], tmp_path / "artifacts.zip")
    statuses = [entry["status"] for entry in dataops_connection_env.requests() if entry["path"].startswith("/-/")]
    assert statuses == ["dropped", "dropped", 200]
    member = zipfile.ZipFile(tmp_path / "artifacts.zip").getinfo("target/large.bin")
    assert member.file_size == 3 << 20
    assert written["size"] == (tmp_path / "artifacts.zip").stat().st_size


def test_a_download_that_keeps_failing_leaves_no_partial_file(
    dataops_connection_env: DataOpsEmulator, tmp_path: Path
) -> None:
    hook = DataOpsHook(retry_policy=RetryPolicy(max_attempts=2, backoff_initial=0.1))
    _, jobs = finished_pipeline(dataops_connection_env, hook)
    (tmp_path / "artifacts.zip").write_bytes(b"yesterday's archive")
    dataops_connection_env.inject_fault("drop_mid", path=STORAGE, times=0)
    with pytest.raises(DataOpsTransportError, match=r"GET /projects/demo%2Fdataops-project/jobs/\d+/artifacts"):
        hook.download_job_artifacts(PROJECT, jobs["Generate Docs"], tmp_path / "artifacts.zip")
    assert [path.name for path in tmp_path.iterdir()] == ["artifacts.zip"]
    assert (tmp_path / "artifacts.zip").read_bytes() == b"yesterday's archive"


def test_an_unseekable_stream_is_not_restarted(dataops_connection_env: DataOpsEmulator) -> None:
    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.received = 0

        def writable(self) -> bool:
            return True

        def write(self, data: Any) -> int:
            self.received += len(data)
            return len(data)

    hook = DataOpsHook()
    _, jobs = finished_pipeline(dataops_connection_env, hook, DATAOPS_EMULATOR_ARTIFACT_BYTES=str(3 << 20))
    dataops_connection_env.inject_fault("drop_mid", path=STORAGE, times=1)
    pipe = Pipe()
    with pytest.raises(DataOpsError, match="cannot be restarted"):
        hook.download_job_artifacts(PROJECT, jobs["Generate Docs"], pipe)
    assert 0 < pipe.received < 3 << 20


def test_operator_finds_the_job_downloads_and_extracts(dataops_connection_env: DataOpsEmulator, tmp_path: Path) -> None:
    hook = DataOpsHook()
    pipeline_id, jobs = finished_pipeline(dataops_connection_env, hook, DATAOPS_EMULATOR_OUTCOME="tests_failed")
    operator = DataOpsJobArtifactOperator(
        task_id="artifacts",
        project=PROJECT,
        job_name="Generate Docs",
        pipeline_id=str(pipeline_id),
        destination=str(tmp_path / "artifacts.zip"),
        extract=True,
    )
    result = operator.execute(task_context())
    assert result["job_id"] == jobs["Generate Docs"]
    assert result["pipeline_id"] == pipeline_id
    assert result["extracted_to"] == str(tmp_path / "artifacts")
    assert result["files"] == ["target/run_results.json", "report.xml", "logs/job.log"]
    results = json.loads((tmp_path / "artifacts" / "target" / "run_results.json").read_text())
    assert [r["status"] for r in results["results"]] == ["success", "success", "error"]

    # By ref: the newest successful pipeline (tests_failed succeeds: the failing job may fail).
    newer, newer_jobs = finished_pipeline(dataops_connection_env, hook)
    by_ref = DataOpsJobArtifactOperator(
        task_id="by_ref",
        project=PROJECT,
        job_name="Build all Models",
        ref="main",
        artifact_path="logs/job.log",
        destination=str(tmp_path / "job.log"),
    ).execute(task_context())
    assert (by_ref["pipeline_id"], by_ref["job_id"]) == (newer, newer_jobs["Build all Models"])
    assert "Running MATE" in (tmp_path / "job.log").read_text()
