"""Reading a job's log from an offset, and a pipeline's bridges: mixins of both hooks.

:class:`JobLogMethods` is mixed into :class:`~airflow_provider_dataops.hooks.dataops.DataOpsHook`,
:class:`AsyncJobLogMethods` into :class:`~airflow_provider_dataops.hooks.dataops_async.DataOpsAsyncHook`.
Both ask ``Range: bytes=<offset>-`` and accept GitLab's two answers (206 for an archived log, the
whole log for a live one) through :func:`~airflow_provider_dataops.api.job_log.unread_part`; the
retry policy and error mapping are the hooks' own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from airflow_provider_dataops.api.connection import ConnectionSettings
from airflow_provider_dataops.api.job_log import unread_part
from airflow_provider_dataops.api.limits import check_count
from airflow_provider_dataops.api.paths import api_path, numeric_id, pipeline_path, resource_id
from airflow_provider_dataops.api.retry import RetryPolicy
from airflow_provider_dataops.api.transport import ApiRequest
from airflow_provider_dataops.errors import DataOpsAPIError, DataOpsMalformedResponseError

#: GitLab's answer to a range that starts at or past the end of an archived log.
RANGE_NOT_SATISFIABLE = 416
#: Bridges read per pipeline (one page): a pipeline with more trigger jobs shows its first 100.
MAX_BRIDGES = 100
#: Largest offset a caller may ask for: far above GitLab's 4 MiB default log limit.
MAX_LOG_OFFSET = 1 << 40


def trace_path(project: Any, job_id: Any) -> str:
    """``/projects/:id/jobs/:job_id/trace``, checked and encoded."""
    return api_path("projects", resource_id(project, "project"), "jobs", numeric_id(job_id, "job_id"), "trace")


def _ranged(request: ApiRequest, offset: int) -> ApiRequest:
    return request._replace(headers={**request.headers, "Accept": "*/*", "Range": f"bytes={offset}-"})


def _rows(rows: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(rows, list):
        raise DataOpsMalformedResponseError(f"GET {path} did not return a list", status=200, method="GET", path=path)
    return rows


class _SyncSender(Protocol):
    """What :class:`JobLogMethods` needs from the hook it is mixed into."""

    retry_policy: RetryPolicy

    @property
    def settings(self) -> ConnectionSettings: ...

    def _prepare(self, settings: ConnectionSettings, method: str, endpoint: str, **request: Any) -> ApiRequest: ...

    def _send_once(self, request: ApiRequest, stream: bool, decode: bool) -> tuple[Any, Any]: ...

    def _json(self, method: str, endpoint: str, **request: Any) -> Any: ...


class JobLogMethods:
    """Incremental job log reads and bridges for the synchronous hook."""

    def read_job_log_after(self: _SyncSender, project: int | str, job_id: int | str, offset: int) -> bytes:
        """The raw bytes of a job's log after ``offset`` (empty when nothing new was written).

        :param offset: Bytes already read, 0 for the whole log.
        """
        check_count(offset, "offset", minimum=0, maximum=MAX_LOG_OFFSET)
        path = trace_path(project, job_id)
        request = _ranged(self._prepare(self.settings, "GET", path), offset)
        try:
            response, _ = self.retry_policy.call(self._send_once, request, False, False)
        except DataOpsAPIError as error:
            if error.status == RANGE_NOT_SATISFIABLE:
                return b""
            raise
        return unread_part(response.content, offset, response.status_code, response.headers, path)

    def list_pipeline_bridges(self: _SyncSender, project: int | str, pipeline_id: int | str) -> list[dict[str, Any]]:
        """The trigger jobs (bridges) of a pipeline, newest first, each with ``downstream_pipeline``.

        One page of at most :data:`MAX_BRIDGES`; rows are returned as the server sent them.
        """
        path = pipeline_path(project, pipeline_id, "bridges")
        return _rows(self._json("GET", path, params={"per_page": MAX_BRIDGES}), path)


class _AsyncSender(Protocol):
    """What :class:`AsyncJobLogMethods` needs from the hook it is mixed into."""

    retry_policy: RetryPolicy

    async def get_settings(self) -> ConnectionSettings: ...

    def _prepare(self, settings: ConnectionSettings, method: str, endpoint: str, **request: Any) -> ApiRequest: ...

    async def _send_raw(self, request: ApiRequest) -> Any: ...

    async def request_json(self, method: str, path: str, *, params: Mapping[str, Any] | None = None) -> Any: ...


class AsyncJobLogMethods:
    """Incremental job log reads, job lists and bridges for the asynchronous hook."""

    async def read_job_log_after(self: _AsyncSender, project: int | str, job_id: int | str, offset: int) -> bytes:
        """As :meth:`JobLogMethods.read_job_log_after`."""
        check_count(offset, "offset", minimum=0, maximum=MAX_LOG_OFFSET)
        path = trace_path(project, job_id)
        request = _ranged(self._prepare(await self.get_settings(), "GET", path), offset)
        try:
            response: Any = await self.retry_policy.call_async(self._send_raw, request)
        except DataOpsAPIError as error:
            if error.status == RANGE_NOT_SATISFIABLE:
                return b""
            raise
        return unread_part(response.content, offset, response.status_code, response.headers, path)

    async def list_pipeline_bridges(
        self: _AsyncSender, project: int | str, pipeline_id: int | str
    ) -> list[dict[str, Any]]:
        """As :meth:`JobLogMethods.list_pipeline_bridges`."""
        path = pipeline_path(project, pipeline_id, "bridges")
        return _rows(await self.request_json("GET", path, params={"per_page": MAX_BRIDGES}), path)

    async def list_pipeline_jobs(
        self: _AsyncSender, project: int | str, pipeline_id: int | str
    ) -> list[dict[str, Any]]:
        """The current jobs of a pipeline, newest first: one page of at most 100 (a follower's view).

        The synchronous hook's ``list_pipeline_jobs`` walks every page; a pipeline with more than
        100 jobs shows its newest 100 here.
        """
        path = pipeline_path(project, pipeline_id, "jobs")
        return _rows(await self.request_json("GET", path, params={"per_page": 100}), path)

    async def get_pipeline_variables(
        self: _AsyncSender, project: int | str, pipeline_id: int | str
    ) -> list[dict[str, Any]]:
        """The variables a pipeline was started with, as the synchronous hook's method."""
        path = pipeline_path(project, pipeline_id, "variables")
        return _rows(await self.request_json("GET", path), path)
