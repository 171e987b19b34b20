"""Artifact downloads without a server: argument checks, destinations, redirects, safe extraction, the operator."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import requests
import requests_mock as rm

from airflow_provider_dataops.errors import (
    DataOpsConfigError,
    DataOpsError,
    DataOpsNotFoundError,
    DataOpsTransportError,
)
from airflow_provider_dataops.hooks.dataops import DataOpsHook
from airflow_provider_dataops.operators.artifacts import DataOpsJobArtifactOperator, default_extract_dir
from airflow_provider_dataops.outputs.archives import ExtractionLimits, UnsafeArchiveError, extract_zip
from airflow_provider_dataops.outputs.destinations import FileObject, LocalFile, StoragePath, destination_for

from .conftest import ACCESS_TOKEN, API

JOB_URL = f"{API}/projects/1/jobs/7/artifacts"
STORAGE_URL = "https://storage.example.net/bucket/artifacts.zip?X-Amz-Signature=abc"


# -- arguments are refused before any request ----------------------------------------------------


@pytest.mark.parametrize(
    "artifact_path", ["", "/etc/passwd", "../secrets", "a/../../b", "a//b", "./a", "C:/x", "a\\b", "a\nb", None]
)
def test_bad_artifact_paths_are_refused_before_a_request(
    hook: DataOpsHook, requests_mock: rm.Mocker, tmp_path: Path, artifact_path: Any
) -> None:
    with pytest.raises(DataOpsConfigError, match="artifact_path must be a relative path"):
        hook.download_job_artifact(1, 7, artifact_path, tmp_path / "out")
    assert requests_mock.call_count == 0
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("destination", "message"),
    [
        ("s3://bucket/key", "wrap it in ObjectStoragePath"),
        ("", "destination must be"),
        (42, "destination must be"),
        (io.StringIO(), "binary mode"),
    ],
)
def test_bad_destinations_are_refused_before_a_request(
    hook: DataOpsHook, requests_mock: rm.Mocker, destination: Any, message: str
) -> None:
    with pytest.raises(DataOpsConfigError, match=message):
        hook.download_job_artifacts(1, 7, destination)
    assert requests_mock.call_count == 0


def test_by_ref_forms_check_and_encode_ref_and_job_name(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{API}/projects/g%2Fp/jobs/artifacts/feature%2Fx/raw/target/run%20results.json", content=b"{}")
    written = hook.download_ref_artifact(
        "g/p", ref="feature/x", job_name="Build all Models", artifact_path="target/run results.json",
        destination=io.BytesIO(),
    )  # fmt: skip
    assert written["size"] == 2
    assert requests_mock.last_request.qs == {"job": ["build all models"]}  # requests_mock lower-cases values
    with pytest.raises(DataOpsConfigError, match="job_name must be"):
        hook.download_ref_artifacts(1, ref="main", job_name=" ", destination=io.BytesIO())
    with pytest.raises(DataOpsConfigError, match="ref must be"):
        hook.download_ref_artifacts(1, ref="a b", job_name="x", destination=io.BytesIO())
    assert requests_mock.call_count == 1


# -- the redirect and the token ------------------------------------------------------------------


def test_redirect_to_object_storage_drops_the_token(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(JOB_URL, status_code=302, headers={"Location": STORAGE_URL})
    requests_mock.get(STORAGE_URL, content=b"PK-zip-bytes")
    buffer = io.BytesIO()
    written = hook.download_job_artifacts(1, 7, buffer)
    first, second = requests_mock.request_history
    assert first.headers["PRIVATE-TOKEN"] == ACCESS_TOKEN
    assert "PRIVATE-TOKEN" not in second.headers
    assert (buffer.getvalue(), written["size"]) == (b"PK-zip-bytes", 12)


def test_a_broken_body_restarts_the_download_and_the_file_appears_once(
    hook: DataOpsHook, requests_mock: rm.Mocker, tmp_path: Path, sleeps: list[float]
) -> None:
    calls = {"n": 0}

    class Breaking(io.BytesIO):
        def read(self, *args: Any, **kwargs: Any) -> bytes:
            calls["n"] += 1
            raise requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead")

    requests_mock.get(
        JOB_URL, [{"body": Breaking(b"x")}, {"content": b"complete archive"}]
    )  # the first body breaks, the second arrives
    target = tmp_path / "artifacts.zip"
    written = hook.download_job_artifacts(1, 7, str(target))
    assert target.read_bytes() == b"complete archive"
    assert written["path"] == str(target)
    assert len(sleeps) == 1
    assert sorted(os.listdir(tmp_path)) == ["artifacts.zip"]


def test_a_failed_download_leaves_no_partial_file_and_no_token_in_the_error(
    hook: DataOpsHook, requests_mock: rm.Mocker, tmp_path: Path
) -> None:
    requests_mock.get(JOB_URL, exc=requests.exceptions.ConnectionError(f"reset while sending {ACCESS_TOKEN}"))
    with pytest.raises(DataOpsTransportError) as error:
        hook.download_job_artifacts(1, 7, tmp_path / "artifacts.zip")
    assert ACCESS_TOKEN not in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_a_server_echoing_the_token_does_not_put_it_in_the_error_or_the_log(
    hook: DataOpsHook, requests_mock: rm.Mocker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    requests_mock.get(f"{JOB_URL}/report.xml", status_code=404, text=f"no file for token {ACCESS_TOKEN}")
    with pytest.raises(DataOpsNotFoundError) as error:
        hook.download_job_artifact(1, 7, "report.xml", tmp_path / "report.xml")
    assert ACCESS_TOKEN not in str(error.value)
    assert ACCESS_TOKEN not in caplog.text
    assert list(tmp_path.iterdir()) == []


# -- destinations --------------------------------------------------------------------------------


def test_destination_kinds(tmp_path: Path) -> None:
    assert isinstance(destination_for(str(tmp_path / "a")), LocalFile)
    assert isinstance(destination_for(tmp_path / "a"), LocalFile)
    assert isinstance(destination_for(io.BytesIO()), FileObject)

    class Storage:
        protocol = "s3"

        def open(self, mode: str) -> Any:
            return io.BytesIO()

    assert isinstance(destination_for(Storage()), StoragePath)


def test_local_file_commits_atomically_and_discards_cleanly(tmp_path: Path) -> None:
    target = LocalFile(tmp_path / "sub" / "file.bin")
    with target.attempt() as stream:
        stream.write(b"partial")
    assert not (tmp_path / "sub" / "file.bin").exists()
    with target.attempt() as stream:  # a retry starts over
        stream.write(b"whole")
    target.commit()
    assert (tmp_path / "sub" / "file.bin").read_bytes() == b"whole"
    assert os.listdir(tmp_path / "sub") == ["file.bin"]
    failed = LocalFile(tmp_path / "sub" / "other.bin")
    with failed.attempt() as stream:
        stream.write(b"partial")
    failed.discard()
    assert os.listdir(tmp_path / "sub") == ["file.bin"]


def test_a_seekable_file_object_is_rewound_for_a_retry() -> None:
    buffer = io.BytesIO(b"header:")
    buffer.seek(0, io.SEEK_END)
    target = FileObject(buffer)
    with target.attempt() as stream:
        stream.write(b"broken")
    with target.attempt() as stream:
        stream.write(b"good")
    assert buffer.getvalue() == b"header:good"


def test_a_storage_path_that_cannot_rename_is_deleted_only_after_this_download_opened_it() -> None:
    path = mock.MagicMock(spec=["open", "unlink", "is_dir", "protocol"])
    path.is_dir.return_value = False
    StoragePath(path).discard()  # failed before any byte: the object there is not ours to delete
    path.unlink.assert_not_called()
    target = StoragePath(path)
    with target.attempt():
        pass
    target.discard()
    path.unlink.assert_called_once()


# -- extraction ----------------------------------------------------------------------------------


def make_zip(path: Path, entries: dict[str, bytes], *, symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return path


def test_extracts_files_and_replaces_older_ones(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", {"target/run_results.json": b"{}", "report.xml": b"<x/>"})
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "report.xml").write_bytes(b"old")
    assert extract_zip(archive, tmp_path / "out") == ["target/run_results.json", "report.xml"]
    assert (tmp_path / "out" / "report.xml").read_bytes() == b"<x/>"
    assert sorted(os.listdir(tmp_path)) == ["a.zip", "out"]  # the staging directory is gone


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../evil.txt", "'..' segment"),
        ("a/../../evil.txt", "'..' segment"),
        ("/abs/evil.txt", "absolute name"),
        ("C:/evil.txt", "drive letter"),
        ("a\\..\\evil.txt", "backslash"),
    ],
)
def test_zip_slip_is_refused_and_nothing_is_written(tmp_path: Path, name: str, why: str) -> None:
    archive = make_zip(tmp_path / "a.zip", {"fine.txt": b"ok", name: b"pwned"})
    with pytest.raises(UnsafeArchiveError, match=why):
        extract_zip(archive, tmp_path / "out")
    assert sorted(os.listdir(tmp_path)) == ["a.zip"]  # not even the target directory was made


def test_symlinks_and_paths_through_existing_symlinks_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        extract_zip(make_zip(tmp_path / "l.zip", {}, symlink="link"), tmp_path / "out")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "escape").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafeArchiveError, match="outside"):
        extract_zip(make_zip(tmp_path / "s.zip", {"escape/evil.txt": b"x"}), tmp_path / "out")
    assert os.listdir(tmp_path / "elsewhere") == []


def test_zip_bombs_are_refused_from_declared_sizes(tmp_path: Path) -> None:
    bomb = make_zip(tmp_path / "bomb.zip", {"zeros.bin": bytes(8 << 20)})
    with pytest.raises(UnsafeArchiveError, match="expands more than 200 times"):
        extract_zip(bomb, tmp_path / "out")
    many = make_zip(tmp_path / "many.zip", {f"f{i}": b"" for i in range(5)})
    with pytest.raises(UnsafeArchiveError, match="max_entries=4"):
        extract_zip(many, tmp_path / "out", ExtractionLimits(max_entries=4))
    big = make_zip(tmp_path / "big.zip", {"a": os.urandom(2000)})
    with pytest.raises(UnsafeArchiveError, match="max_total_bytes=1000"):
        extract_zip(big, tmp_path / "out", ExtractionLimits(max_total_bytes=1000))
    assert not (tmp_path / "out").exists()


def test_a_size_that_lies_is_caught_while_extracting(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "liar.zip", {"a.bin": os.urandom(4096)})
    data = bytearray(archive.read_bytes())
    central = data.index(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")  # declare 10 bytes uncompressed
    archive.write_bytes(bytes(data))
    with pytest.raises(DataOpsError):
        extract_zip(archive, tmp_path / "out", ExtractionLimits(max_total_bytes=100))
    assert not (tmp_path / "out").exists()


def test_not_a_zip(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(b"not a zip")
    with pytest.raises(DataOpsError, match="not a readable zip archive"):
        extract_zip(tmp_path / "x.zip", tmp_path / "out")


@pytest.mark.parametrize("limits", [{"max_ratio": 0}, {"max_entries": True}, {"nope": 1}, "big"])
def test_bad_extract_limits(limits: Any) -> None:
    with pytest.raises(DataOpsConfigError):
        DataOpsJobArtifactOperator(
            task_id="t", project=1, job_name="j", pipeline_id=1, destination="/tmp/a.zip", extract_limits=limits
        )


# -- the operator --------------------------------------------------------------------------------

JOBS = [
    {"id": 11, "name": "Generate Docs", "status": "success", "artifacts_file": {"size": 1}},
    {"id": 9, "name": "Generate Docs", "status": "success", "artifacts_file": {"size": 1}},
    {"id": 10, "name": "Build all Models", "status": "running"},
]
WRITTEN = {"path": "/data/run_results.json", "size": 5, "sha256": "ab"}
DEFAULT_LIMITS = {"max_bytes": 32 << 30, "download_timeout": 6 * 3600.0}


def operator(**kwargs: Any) -> DataOpsJobArtifactOperator:
    arguments: dict[str, Any] = {"task_id": "artifacts", "project": "g/p", "job_name": "Generate Docs"}
    arguments.update(kwargs)
    return DataOpsJobArtifactOperator(**arguments)


def with_hook(op: DataOpsJobArtifactOperator) -> mock.MagicMock:
    hook = mock.MagicMock()
    hook.list_pipeline_jobs.return_value = JOBS
    hook.download_job_artifact.return_value = WRITTEN
    hook.download_job_artifacts.return_value = WRITTEN
    op.__dict__["hook"] = hook
    return hook


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"destination": "/x"}, "exactly one of pipeline_id"),
        ({"destination": "/x", "pipeline_id": 1, "ref": "main"}, "exactly one of pipeline_id"),
        ({"destination": "/x", "pipeline_id": 1, "artifact_path": "a", "extract": True}, "whole archive"),
        ({"destination": "/x", "pipeline_id": 1, "extract_to": "/y"}, "set extract=True too"),
        ({"destination": "/x", "pipeline_id": 1, "artifact_path": "../a"}, "artifact_path"),
        ({"destination": "/x", "pipeline_id": "seven"}, "pipeline_id"),
        ({"destination": "/x", "ref": "a b"}, "ref must be"),
        ({"destination": "/x", "pipeline_id": 1, "extract": "yes"}, "extract must be True or False"),
        ({"destination": 3, "pipeline_id": 1}, "destination must be"),
    ],
)
def test_operator_arguments_fail_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DataOpsConfigError, match=message):
        operator(**kwargs)


def test_operator_templates_are_checked_once_rendered() -> None:
    op = operator(destination="{{ var }}", pipeline_id="{{ ti.xcom_pull('run', key='pipeline_id') }}")
    op.pipeline_id = "not a number"
    with pytest.raises(DataOpsConfigError, match="pipeline_id"):
        op.execute({})


def test_operator_downloads_from_the_newest_job_of_that_name() -> None:
    op = operator(pipeline_id="42", artifact_path="target/run_results.json", destination="/data/run_results.json")
    hook = with_hook(op)
    assert op.execute({}) == {**WRITTEN, "job_id": 11, "pipeline_id": 42}
    hook.download_job_artifact.assert_called_once_with(
        "g/p", 11, "target/run_results.json", "/data/run_results.json", **DEFAULT_LIMITS
    )


def test_operator_by_ref_uses_the_newest_successful_pipeline() -> None:
    op = operator(ref="main", destination="/data/a.zip")
    hook = with_hook(op)
    hook.list_pipelines.return_value = iter([{"id": 77}, {"id": 70}])
    assert op.execute({})["pipeline_id"] == 77
    hook.list_pipelines.assert_called_once_with("g/p", ref="main", status="success", order_by="id", sort="desc")
    hook.download_job_artifacts.assert_called_once_with("g/p", 11, "/data/a.zip", **DEFAULT_LIMITS)
    hook.list_pipelines.return_value = iter([])
    with pytest.raises(DataOpsError, match="no successful pipeline on 'main'"):
        op.execute({})


def test_operator_explains_a_missing_job_or_missing_artifacts() -> None:
    from airflow.providers.common.compat.sdk import AirflowFailException

    op = operator(pipeline_id=1, job_name="Nope", destination="/data/a.zip")
    with_hook(op)
    with pytest.raises(AirflowFailException, match="its jobs are: Build all Models, Generate Docs"):
        op.execute({})
    op = operator(pipeline_id=1, job_name="Build all Models", destination="/data/a.zip")
    hook = with_hook(op)
    with pytest.raises(DataOpsError, match="is running and has no artifacts"):
        op.execute({})
    hook.download_job_artifacts.assert_not_called()


def test_operator_extract_needs_a_local_destination() -> None:
    op = operator(pipeline_id=1, destination="s3://bucket/a.zip", extract=True)
    hook = with_hook(op)
    with mock.patch("airflow.providers.common.compat.sdk.ObjectStoragePath") as storage_path:
        storage_path.return_value = mock.MagicMock(protocol="s3", **{"is_dir.return_value": False})
        with pytest.raises(DataOpsConfigError, match="extract needs a local destination"):
            op.execute({})
    hook.list_pipeline_jobs.assert_not_called()


def test_default_extract_dir() -> None:
    assert default_extract_dir(Path("/d/artifacts.zip")) == Path("/d/artifacts")
    assert default_extract_dir(Path("/d/artifacts")) == Path("/d/artifacts.d")


# -- lifecycle contract rows (docs/operators.rst) ------------------------------------------------


def test_retry_and_clear_download_again_and_replace_the_file(
    hook: DataOpsHook, requests_mock: rm.Mocker, tmp_path: Path
) -> None:
    requests_mock.get(f"{API}/projects/1/pipelines/5/jobs", json=JOBS)
    requests_mock.get(f"{API}/projects/1/jobs/11/artifacts/report.xml", [{"content": b"v1"}, {"content": b"v2"}])
    op = operator(project=1, pipeline_id=5, artifact_path="report.xml", destination=str(tmp_path / "report.xml"))
    op.__dict__["hook"] = hook
    first, second = op.execute({}), op.execute({})  # a retry, or a clear, is a new try: same job, new download
    assert (first["job_id"], second["job_id"]) == (11, 11)
    assert (tmp_path / "report.xml").read_bytes() == b"v2"
    assert os.listdir(tmp_path) == ["report.xml"]


def test_kill_or_timeout_during_a_download_leaves_no_partial_file(
    hook: DataOpsHook, requests_mock: rm.Mocker, tmp_path: Path
) -> None:
    from airflow.providers.common.compat.sdk import AirflowTaskTimeout

    requests_mock.get(f"{API}/projects/1/pipelines/5/jobs", json=JOBS)
    requests_mock.get(f"{API}/projects/1/jobs/11/artifacts", content=b"x" * (3 << 20))
    (tmp_path / "a.zip").write_bytes(b"from an earlier run")
    op = operator(project=1, pipeline_id=5, destination=str(tmp_path / "a.zip"))
    op.__dict__["hook"] = hook
    written: list[int] = []

    def timeout_after_first_chunk(self: Any, chunk: bytes) -> None:
        written.append(len(chunk))
        raise AirflowTaskTimeout("execution_timeout")  # what Airflow raises in the task on a timeout or kill

    with (
        mock.patch("airflow_provider_dataops.outputs.destinations.Tally.add", timeout_after_first_chunk),
        pytest.raises(AirflowTaskTimeout),
    ):
        op.execute({})
    assert written == [1 << 20]
    assert os.listdir(tmp_path) == ["a.zip"]
    assert (tmp_path / "a.zip").read_bytes() == b"from an earlier run"
