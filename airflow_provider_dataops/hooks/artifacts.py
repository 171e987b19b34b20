"""Job artifact methods of :class:`~airflow_provider_dataops.hooks.dataops.DataOpsHook`.

Every argument is checked here, before any request; the hook's ``_download`` streams the answer
to a :mod:`~airflow_provider_dataops.outputs.destinations` destination under the shared retry policy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import quote

from airflow_provider_dataops.api.paths import api_path, check_job_name, check_ref, numeric_id, resource_id
from airflow_provider_dataops.errors import DataOpsConfigError
from airflow_provider_dataops.outputs.budget import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT
from airflow_provider_dataops.outputs.destinations import DownloadResult

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")


def check_artifact_path(artifact_path: Any) -> str:
    """A path inside a job's artifacts archive, such as ``target/run_results.json``, URL-encoded.

    :raises DataOpsConfigError: for an absolute path, ``..``, ``.`` or empty segments, backslashes or
        control characters: such a path cannot name a file of the archive.
    """
    if (
        not isinstance(artifact_path, str)
        or not artifact_path
        or artifact_path.startswith("/")
        or _DRIVE.match(artifact_path)
        or "\\" in artifact_path
        or _CONTROL.search(artifact_path)
        or any(segment in ("", ".", "..") for segment in artifact_path.split("/"))
    ):
        raise DataOpsConfigError(
            "artifact_path must be a relative path inside the job's artifacts such as 'target/run_results.json' "
            f"(no leading '/', no '.', '..' or empty segments, no backslashes), got {artifact_path!r}"
        )
    return "/".join(quote(segment, safe="") for segment in artifact_path.split("/"))


class _Downloader(Protocol):
    """What these methods need from the hook they are mixed into."""

    def _download(
        self,
        endpoint: str,
        destination: Any,
        *,
        params: Mapping[str, Any] | None = None,
        max_bytes: Any = ...,
        download_timeout: Any = ...,
    ) -> DownloadResult: ...


def _job_artifacts_path(project: Any, job_id: Any) -> str:
    return api_path("projects", resource_id(project, "project"), "jobs", numeric_id(job_id, "job_id"), "artifacts")


def _ref_artifacts_path(project: Any, ref: Any) -> str:
    return api_path("projects", resource_id(project, "project"), "jobs", "artifacts", quote(check_ref(ref), safe=""))


class JobArtifactMethods:
    """Download a job's artifacts: one file or the zip archive, by job id or by ref and job name.

    ``destination`` is a local path, a binary file object or an Airflow ``ObjectStoragePath``
    (see :func:`~airflow_provider_dataops.outputs.destinations.destination_for`). The body is streamed in
    chunks, so memory stays flat for any size; a transient failure restarts the download from the
    first byte; a destination (file or object) is replaced only by a complete download. Each method
    returns the written ``{"path", "size", "sha256"}``.

    Each method also takes ``max_bytes`` (default 32 GiB) and ``download_timeout`` (seconds for the
    whole download, retries included; default 6 hours), enforced while streaming: past either, the
    download stops with :class:`~airflow_provider_dataops.errors.DataOpsDownloadLimitError` and the
    destination is left as it was.
    """

    def download_job_artifact(
        self: _Downloader,
        project: int | str,
        job_id: int | str,
        artifact_path: str,
        destination: Any,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        download_timeout: float = DEFAULT_TIMEOUT,
    ) -> DownloadResult:
        """One file of a job's artifacts (``GET /projects/:id/jobs/:job_id/artifacts/*artifact_path``).

        :param project: Numeric id or full path.
        :param job_id: The job's id.
        :param artifact_path: Path inside the archive, such as ``target/run_results.json``.
        :param destination: Where to write it.
        :param max_bytes: Largest body accepted (default 32 GiB).
        :param download_timeout: Seconds for the whole download, retries included (default 6 hours).
        :raises DataOpsNotFoundError: no such job, the job has no artifacts, or no such file in them.
        :raises DataOpsDownloadLimitError: past ``max_bytes`` or ``download_timeout``.
        """
        encoded = check_artifact_path(artifact_path)
        return self._download(
            f"{_job_artifacts_path(project, job_id)}/{encoded}",
            destination,
            max_bytes=max_bytes,
            download_timeout=download_timeout,
        )

    def download_job_artifacts(
        self: _Downloader,
        project: int | str,
        job_id: int | str,
        destination: Any,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        download_timeout: float = DEFAULT_TIMEOUT,
    ) -> DownloadResult:
        """A job's whole artifacts archive, a zip (``GET /projects/:id/jobs/:job_id/artifacts``).

        DataOps.live answers with a redirect to object storage; it is followed without the token.

        :param project: Numeric id or full path.
        :param job_id: The job's id.
        :param destination: Where to write the zip.
        :param max_bytes: Largest body accepted (default 32 GiB).
        :param download_timeout: Seconds for the whole download, retries included (default 6 hours).
        :raises DataOpsNotFoundError: no such job, or the job has no artifacts.
        :raises DataOpsDownloadLimitError: past ``max_bytes`` or ``download_timeout``.
        """
        return self._download(
            _job_artifacts_path(project, job_id), destination, max_bytes=max_bytes, download_timeout=download_timeout
        )

    def download_ref_artifact(
        self: _Downloader,
        project: int | str,
        *,
        ref: str,
        job_name: str,
        artifact_path: str,
        destination: Any,
        max_bytes: int = DEFAULT_MAX_BYTES,
        download_timeout: float = DEFAULT_TIMEOUT,
    ) -> DownloadResult:
        """One file of job ``job_name``'s artifacts in the newest successful pipeline of ``ref``.

        ``GET /projects/:id/jobs/artifacts/:ref_name/raw/*artifact_path?job=``.

        :param ref: Branch or tag.
        :param job_name: The job's name, such as ``Build all Models``.
        :param max_bytes: Largest body accepted (default 32 GiB).
        :param download_timeout: Seconds for the whole download, retries included (default 6 hours).
        :raises DataOpsNotFoundError: no successful pipeline on ``ref``, no such job with artifacts in
            it, or no such file.
        """
        path = f"{_ref_artifacts_path(project, ref)}/raw/{check_artifact_path(artifact_path)}"
        params = {"job": check_job_name(job_name)}
        return self._download(path, destination, params=params, max_bytes=max_bytes, download_timeout=download_timeout)

    def download_ref_artifacts(
        self: _Downloader,
        project: int | str,
        *,
        ref: str,
        job_name: str,
        destination: Any,
        max_bytes: int = DEFAULT_MAX_BYTES,
        download_timeout: float = DEFAULT_TIMEOUT,
    ) -> DownloadResult:
        """The artifacts archive of job ``job_name`` in the newest successful pipeline of ``ref``.

        ``GET /projects/:id/jobs/artifacts/:ref_name/download?job=``.

        :param ref: Branch or tag.
        :param job_name: The job's name, such as ``Build all Models``.
        :param max_bytes: Largest body accepted (default 32 GiB).
        :param download_timeout: Seconds for the whole download, retries included (default 6 hours).
        :raises DataOpsNotFoundError: no successful pipeline on ``ref``, or no such job with artifacts in it.
        """
        path = f"{_ref_artifacts_path(project, ref)}/download"
        params = {"job": check_job_name(job_name)}
        return self._download(path, destination, params=params, max_bytes=max_bytes, download_timeout=download_timeout)
