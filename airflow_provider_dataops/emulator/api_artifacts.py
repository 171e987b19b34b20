"""Job artifact routes, and the "object storage" the archive downloads redirect to.

As on GitLab with object storage and direct downloads, an archive request (by job id, or by ref and
job name) answers ``302`` with a signed URL that needs no token; single files come from the API
itself (GitLab's Workhorse unpacks them). The signed URL points at another host name of the same
emulator (``localhost`` for ``127.0.0.1`` and back), so a client that forwards its token to
another host is caught: the state's ``storage_log`` records whether a token came along.

GitLab's answers: an unknown job ``404 Not found``; a job without artifacts ``404 Not Found``; an
invalid artifact path ``400 Bad request``; a file missing from the archive Workhorse's plain-text
``404 page not found``; no successful pipeline (or no such job in it) for a ref ``404 Not found``.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import secrets
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

import airflow_provider_dataops.emulator.routing  # noqa: F401  (registers {name:id})
from airflow_provider_dataops.emulator import errors
from airflow_provider_dataops.emulator.api import PREFIX, Api, base_url, request_token
from airflow_provider_dataops.emulator.artifacts import (
    ARCHIVE_NAME,
    Entry,
    archive_chunks,
    archive_size,
    entries,
    find_entry,
    has_artifacts,
)
from airflow_provider_dataops.emulator.model import Job, Pipeline, Project
from airflow_provider_dataops.emulator.state import EmulatorState

#: How a handler finds the job whose artifacts it serves (404 when there is none).
FindJob = Callable[[Request], tuple[Job, Pipeline]]

#: Path prefix of the emulated object storage (outside ``/api/v4``: it takes no token).
STORAGE_PREFIX = "/-/object-storage"
#: Seconds a signed URL stays valid.
URL_LIFETIME = 600
#: The other name of a loopback address, so a redirect leaves the API's host.
_OTHER_HOST = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}


def storage_base(api_base: str) -> str:
    """The object storage's base URL: the API's, under its other loopback host name when it has one.

    :param api_base: e.g. ``http://127.0.0.1:8080``.
    """
    parts = urlsplit(api_base)
    other = _OTHER_HOST.get(parts.hostname or "")
    if other is None:
        return api_base
    return parts._replace(netloc=f"{other}:{parts.port}" if parts.port else other).geturl()


def valid_artifact_path(path: str) -> bool:
    """GitLab's ``Artifacts::Path#valid?``: not empty, no NUL byte, no way out of the archive."""
    return bool(path) and "\0" not in path and not path.startswith("/") and ".." not in path.split("/")


def _bytes(chunks: Iterator[bytes | memoryview]) -> Iterator[bytes]:
    for chunk in chunks:
        yield bytes(chunk)


class ArtifactApi(Api):
    """The artifact routes of the API, and the object storage route.

    :param state: the emulator's state.
    """

    def __init__(self, state: EmulatorState) -> None:
        super().__init__(state)
        self._secret = secrets.token_bytes(32)

    def routes(self) -> list[Route]:
        """The API's artifact routes, then the object storage's."""
        table: list[tuple[str, Callable[[Request], Any]]] = [
            # 302 to the archive in object storage
            ("/projects/{id}/jobs/{job_id:id}/artifacts", self._archive(self._job_with_artifacts)),
            # one file of the archive
            ("/projects/{id}/jobs/{job_id:id}/artifacts/{artifact_path:path}", self._file(self._job_with_artifacts)),
            # the same for the newest successful pipeline of a ref (?job=name)
            ("/projects/{id}/jobs/artifacts/{ref_name:path}/download", self._archive(self._newest_successful_job)),
            (
                "/projects/{id}/jobs/artifacts/{ref_name:path}/raw/{artifact_path:path}",
                self._file(self._newest_successful_job),
            ),
        ]
        routes = [Route(PREFIX + path, handler, methods=["GET"]) for path, handler in table]
        storage = f"{STORAGE_PREFIX}/{{project_id:id}}/job-artifacts/{{job_id:id}}/{ARCHIVE_NAME}"
        routes.append(Route(storage, self.storage_archive, methods=["GET"]))
        return routes

    # -- finding the job ----------------------------------------------------------------------

    def _job_with_artifacts(self, request: Request) -> tuple[Job, Pipeline]:
        job, pipeline = self._job(request)
        with self.state.lock:
            if not has_artifacts(job, self.state.now()):
                raise errors.not_found()
        return job, pipeline

    def _newest_successful_job(self, request: Request) -> tuple[Job, Pipeline]:
        user = self._user(request)
        name = request.query_params.get("job")
        if not name:
            raise errors.param_error("job is missing")
        project = self._project(request, user)
        ref = unquote(request.path_params["ref_name"])
        with self.state.lock:
            now = self.state.now()
            successful = [
                pipeline
                for pipeline in self.state.project_pipelines(project)
                if pipeline.ref == ref and pipeline.status(now) == "success"
            ]
            if successful:
                newest = max(successful, key=lambda pipeline: pipeline.id)
                jobs = [job for job in newest.current_jobs() if job.name == name and has_artifacts(job, now)]
                if jobs:
                    return max(jobs, key=lambda job: job.id), newest
        raise errors.message(404, "404 Not found")

    # -- answers ------------------------------------------------------------------------------

    def _redirect_to_storage(self, request: Request, project: Project, job: Job) -> Response:
        expires = int(self.state.now()) + URL_LIFETIME
        query = urlencode({"Expires": expires, "Signature": self._sign(project.id, job.id, expires)})
        key = f"{project.id}/job-artifacts/{job.id}/{ARCHIVE_NAME}"
        location = f"{storage_base(base_url(request))}{STORAGE_PREFIX}/{key}"
        return RedirectResponse(f"{location}?{query}", status_code=302)

    def _sign(self, project_id: int, job_id: int, expires: int) -> str:
        message = f"{project_id}/{job_id}:{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    @staticmethod
    def _file_response(files: tuple[Entry, ...], path: str) -> Response:
        path = unquote(path)
        if not valid_artifact_path(path):
            raise errors.message(400, "400 Bad request")
        entry = find_entry(files, path)
        if entry is None:
            return PlainTextResponse("404 page not found\n", status_code=404)
        media_type = mimetypes.guess_type(entry.name)[0] or "application/octet-stream"
        headers = {"content-length": str(entry.length)}
        if entry.data is not None:
            return Response(entry.data, media_type=media_type, headers=headers)
        return StreamingResponse(_bytes(entry.chunks()), media_type=media_type, headers=headers)

    # -- handlers -----------------------------------------------------------------------------

    def _archive(self, find: FindJob) -> Callable[[Request], Awaitable[Response]]:
        """A handler answering with a 302 to the archive of the job ``find`` names."""

        async def archive(request: Request) -> Response:
            job, pipeline = find(request)
            return self._redirect_to_storage(request, pipeline.project, job)

        return archive

    def _file(self, find: FindJob) -> Callable[[Request], Awaitable[Response]]:
        """A handler answering with the file ``artifact_path`` of the job ``find`` names."""

        async def file(request: Request) -> Response:
            job, pipeline = find(request)
            return self._file_response(entries(job, pipeline), request.path_params["artifact_path"])

        return file

    async def storage_archive(self, request: Request) -> Response:
        """The object storage: the archive for a valid, unexpired signature; S3's 403 otherwise."""
        project_id, job_id = request.path_params["project_id"], request.path_params["job_id"]
        credentials = request_token(request) is not None
        record = {"job_id": job_id, "host": request.url.hostname, "status": 403, "credentials": credentials}
        with self.state.lock:
            self.state.storage_log.append(record)
        expires = request.query_params.get("Expires", "")
        signature = request.query_params.get("Signature", "")
        if not expires.isdigit() or not hmac.compare_digest(signature, self._sign(project_id, job_id, int(expires))):
            return _s3_error("SignatureDoesNotMatch", "The request signature we calculated does not match.")
        if int(expires) < self.state.now():
            return _s3_error("AccessDenied", "Request has expired")
        project = self.state.find_project(str(project_id))
        found = self.state.find_job(project, job_id) if project is not None else None
        if found is None:
            return _s3_error("NoSuchKey", "The specified key does not exist.", 404)
        files = entries(*found)
        record["status"] = 200
        headers = {
            "content-length": str(archive_size(files)),
            "content-disposition": f'attachment; filename="{ARCHIVE_NAME}"',
        }
        return StreamingResponse(archive_chunks(files), media_type="application/zip", headers=headers)


def _s3_error(code: str, text: str, status: int = 403) -> Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{text}</Message></Error>'
    return Response(body, status_code=status, media_type="application/xml")
