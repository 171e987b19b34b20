"""Downloads and extraction under hostile answers: nothing lost, bounds enforced, refusals up front."""

from __future__ import annotations

import io
import os
import socket
import threading
import time
import zipfile
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import requests
import requests_mock as rm

from airflow_provider_dataops.errors import DataOpsConfigError, DataOpsDownloadLimitError, DataOpsError
from airflow_provider_dataops.hooks.dataops import DataOpsHook
from airflow_provider_dataops.operators.artifacts import DataOpsJobArtifactOperator
from airflow_provider_dataops.outputs.archives import UnsafeArchiveError, extract_zip
from airflow_provider_dataops.outputs.budget import DownloadBudget

from .conftest import API

JOB_URL = f"{API}/projects/1/jobs/7/artifacts"
OLD = b"an earlier, complete download"

FAILURES = {
    "404": {"status_code": 404, "json": {"message": "404 Not Found"}},
    "401": {"status_code": 401, "json": {"message": "401 Unauthorized"}},
    "redirect-loop": {"status_code": 302, "headers": {"Location": JOB_URL}},
    "body-breaks": {"body": None},  # filled in below: a body that breaks on every attempt
}


class _Breaking(io.BytesIO):
    def read(self, *args: Any, **kwargs: Any) -> bytes:
        raise requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead")


def _answer(failure: str) -> dict[str, Any]:
    return {"body": _Breaking(b"x")} if failure == "body-breaks" else FAILURES[failure]


def _storage_path(path: Path) -> Any:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    return ObjectStoragePath(f"file://{path}")


@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize("kind", ["local", "file-object", "object-storage"])
def test_a_failed_download_leaves_an_existing_destination_as_it_was(
    hook: DataOpsHook, requests_mock: rm.Mocker, tmp_path: Path, kind: str, failure: str
) -> None:
    requests_mock.get(JOB_URL, [_answer(failure) for _ in range(10)])
    (tmp_path / "a.zip").write_bytes(OLD)
    buffer = io.BytesIO(OLD)
    buffer.seek(0, io.SEEK_END)
    destination = {
        "local": tmp_path / "a.zip",
        "file-object": buffer,
        "object-storage": _storage_path(tmp_path / "a.zip"),
    }[kind]
    with pytest.raises(DataOpsError):
        hook.download_job_artifacts(1, 7, destination)
    assert (tmp_path / "a.zip").read_bytes() == OLD
    assert os.listdir(tmp_path) == ["a.zip"]  # no temporary file or object left either
    if kind == "file-object":
        assert buffer.getvalue() == OLD


def test_an_object_is_replaced_only_by_a_complete_download(
    hook: DataOpsHook, requests_mock: rm.Mocker, tmp_path: Path
) -> None:
    requests_mock.get(JOB_URL, [{"body": _Breaking(b"x")}, {"content": b"new and complete"}])
    (tmp_path / "a.zip").write_bytes(OLD)
    written = hook.download_job_artifacts(1, 7, _storage_path(tmp_path / "a.zip"))
    assert (tmp_path / "a.zip").read_bytes() == b"new and complete"
    assert written["size"] == len(b"new and complete")
    assert os.listdir(tmp_path) == ["a.zip"]


# -- item 5: refused before the first request ---------------------------------------------------


def test_destinations_that_cannot_be_written_are_refused_before_any_request(
    hook: DataOpsHook, requests_mock: rm.Mocker, tmp_path: Path
) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_bytes(b"x")
    cases = {
        tmp_path / "dir": "is an existing directory",
        tmp_path / "file" / "a.zip": "lies under .*file, which is a file",
        tmp_path / "file" / "deeper" / "a.zip": "lies under .*file, which is a file",
        _storage_path(tmp_path / "dir"): "is an existing directory",
    }
    for destination, message in cases.items():
        with pytest.raises(DataOpsConfigError, match=message):
            hook.download_job_artifacts(1, 7, destination)
    assert requests_mock.request_history == []


def test_an_extract_to_that_is_a_file_is_refused_before_any_request(
    hook: DataOpsHook, requests_mock: rm.Mocker, tmp_path: Path
) -> None:
    (tmp_path / "out").write_bytes(b"a file")
    op = DataOpsJobArtifactOperator(
        task_id="t",
        project=1,
        job_name="j",
        pipeline_id=5,
        destination=str(tmp_path / "a.zip"),
        extract=True,
        extract_to=str(tmp_path / "out"),
    )
    op.__dict__["hook"] = hook
    with pytest.raises(DataOpsConfigError, match=r"extract_to .*out is an existing file"):
        op.execute({})
    assert requests_mock.request_history == []


# -- item 6: max_bytes and the overall deadline --------------------------------------------------


def test_a_body_over_max_bytes_is_stopped_while_streaming(
    hook: DataOpsHook, requests_mock: rm.Mocker, tmp_path: Path
) -> None:
    chunks_read: list[int] = []

    class Endless(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            chunks_read.append(len(buffer))
            buffer[:] = b"x" * len(buffer)
            return len(buffer)

    requests_mock.get(JOB_URL, body=io.BufferedReader(Endless()))
    (tmp_path / "a.zip").write_bytes(OLD)
    with pytest.raises(DataOpsDownloadLimitError, match="larger than max_bytes=3145728"):
        hook.download_job_artifacts(1, 7, tmp_path / "a.zip", max_bytes=3 << 20)
    assert sum(chunks_read) < 8 << 20  # stopped near the cap, not at the end of an endless body
    assert (tmp_path / "a.zip").read_bytes() == OLD
    assert len(requests_mock.request_history) == 1  # not retried: another try would hit the cap too


def _dripping_server() -> tuple[socket.socket, threading.Event]:
    """A server sending headers, then one byte every 0.2 s, forever (each read well under the timeout)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        connection, _ = listener.accept()
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\n\r\n")
        with connection:
            while not stop.wait(0.2):
                try:
                    connection.sendall(b"x")
                except OSError:
                    return

    threading.Thread(target=serve, daemon=True).start()
    return listener, stop


def test_a_slow_drip_is_stopped_at_the_download_timeout(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float], tmp_path: Path
) -> None:
    from .conftest import set_connection

    listener, stop = _dripping_server()
    port = listener.getsockname()[1]
    set_connection(monkeypatch, host=f"http://127.0.0.1:{port}", extra={"timeout": 5})
    (tmp_path / "a.zip").write_bytes(OLD)
    start = time.monotonic()
    try:
        with pytest.raises(DataOpsDownloadLimitError, match="not complete within download_timeout=1"):
            DataOpsHook().download_job_artifacts(1, 7, tmp_path / "a.zip", download_timeout=1)
    finally:
        stop.set()
        listener.close()
    assert time.monotonic() - start < 4  # the deadline, not the read timeout nor the body's end
    assert (tmp_path / "a.zip").read_bytes() == OLD


def test_the_defaults_let_a_10_gib_artifact_through() -> None:
    budget = DownloadBudget()
    budget.check(10 << 30, "GET x")  # no error
    assert budget.max_bytes >= 10 << 30
    assert budget.timeout >= (10 << 30) / 500_000  # 10 GiB at 0.5 MB/s


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_bytes": 0}, "max_bytes"),
        ({"max_bytes": 1.5}, "max_bytes"),
        ({"download_timeout": -1}, "download_timeout"),
    ],
)
def test_bad_limits_are_refused_before_any_request(
    hook: DataOpsHook, requests_mock: rm.Mocker, tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(DataOpsConfigError, match=message):
        hook.download_job_artifacts(1, 7, tmp_path / "a.zip", **kwargs)
    with pytest.raises(DataOpsConfigError, match=message):
        DataOpsJobArtifactOperator(task_id="t", project=1, job_name="j", pipeline_id=1, destination="/a", **kwargs)
    assert requests_mock.request_history == []


# -- item 4: extraction commits all or nothing ---------------------------------------------------


def _zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return path


class _AnyName(zipfile.ZipInfo):
    """Lets ``writestr`` store an empty name, as a hostile archive can."""

    def is_dir(self) -> bool:
        return False


def _mark_encrypted(archive: Path, name: bytes) -> None:
    """Set the "encrypted" flag of entry ``name`` (zipfile cannot write encrypted entries)."""
    data = bytearray(archive.read_bytes())
    for signature, flag_offset, name_offset in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            if data[start + name_offset : start + name_offset + len(name)] == name:
                data[start + flag_offset] |= 0x1
            start += 4
    archive.write_bytes(bytes(data))


def _snapshot(directory: Path) -> dict[str, bytes | None]:
    return {
        str(path.relative_to(directory)): (path.read_bytes() if path.is_file() else None)
        for path in sorted(directory.rglob("*"))
    }


ARCHIVES = {
    "duplicate-names": ([("keep.txt", b"new"), ("twice.txt", b"1"), ("twice.txt", b"2")], "appears twice"),
    "file-and-directory-inside": ([("keep.txt", b"new"), ("a", b"file"), ("a/b", b"inside")], "directory"),
    "empty-name": ([("keep.txt", b"new"), (_AnyName(""), b"x")], "empty or '.'"),
    "dot-name": ([("keep.txt", b"new"), (".", b"x")], "empty or '.'"),
    "dot-segment": ([("keep.txt", b"new"), ("a/./b", b"x")], "empty or '.'"),
    "300-character-name": ([("keep.txt", b"new"), ("n" * 300, b"x")], "too long"),
    "encrypted": ([("keep.txt", b"new"), ("secret.txt", b"x")], "is encrypted"),
    "file-over-existing-directory": ([("keep.txt", b"new"), ("existing_dir", b"x")], "existing directory"),
    "directory-over-existing-file": ([("keep.txt", b"new"), ("existing_file/x", b"x")], "existing file"),
}


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("case", list(ARCHIVES))
def test_a_refused_archive_leaves_the_target_exactly_as_it_was(tmp_path: Path, case: str) -> None:
    entries, reason = ARCHIVES[case]
    archive = _zip(tmp_path / "a.zip", entries)
    if case == "encrypted":
        _mark_encrypted(archive, b"secret.txt")
    target = tmp_path / "out"
    (target / "existing_dir").mkdir(parents=True)
    (target / "existing_dir" / "f").write_bytes(b"f")
    (target / "existing_file").write_bytes(b"e")
    (target / "keep.txt").write_bytes(b"old")
    before = _snapshot(target)
    with pytest.raises(UnsafeArchiveError, match=reason) as refused:
        extract_zip(archive, target)
    assert "entry " in str(refused.value)  # names the entry
    assert _snapshot(target) == before
    assert sorted(os.listdir(tmp_path)) == ["a.zip", "out"]  # no staging directory left


def test_a_move_that_fails_part_way_is_undone(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "a.zip", [("one.txt", b"new 1"), ("two.txt", b"new 2"), ("three.txt", b"new 3")])
    target = tmp_path / "out"
    target.mkdir()
    (target / "one.txt").write_bytes(b"old 1")
    before = _snapshot(target)
    real_replace = os.replace

    def failing_on_three(source: Any, destination: Any) -> None:
        if str(destination).endswith("three.txt") and ".extracting" in str(source):
            raise OSError(28, "No space left on device")
        real_replace(source, destination)

    with (
        mock.patch("airflow_provider_dataops.outputs.archives.os.replace", failing_on_three),
        pytest.raises(DataOpsError, match=r"'three.txt'.*No space left on device.*left as it was"),
    ):
        extract_zip(archive, target)
    assert _snapshot(target) == before
