"""DataOpsAsyncHook: the non-blocking client the trigger uses inside the triggerer's event loop.

It reads the connection through Airflow's async connection API and sends with one
``httpx.AsyncClient`` shared by every trigger of the process (per event loop and TLS/proxy setting).
Its policy (request building, redirects, error mapping, retries, masking) is the synchronous hook's:
both inherit :class:`~airflow_provider_dataops.api.transport.TransportCore`. ``httpx`` is imported when
the first client is made.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_dataops.api import retry
from airflow_provider_dataops.api.connection import DEFAULT_CONN_ID, ConnectionSettings
from airflow_provider_dataops.api.paths import api_path, job_path, pipeline_path, resource_id
from airflow_provider_dataops.api.retry import RetryPolicy
from airflow_provider_dataops.api.timestamps import ServerClock, http_date
from airflow_provider_dataops.api.transport import (
    ApiRequest,
    Delivery,
    TransportCore,
    first_item,
    local_leaf,
    newest_pipeline_query,
    read_settings,
)
from airflow_provider_dataops.errors import DataOpsMalformedResponseError
from airflow_provider_dataops.hooks.job_logs import AsyncJobLogMethods

if TYPE_CHECKING:
    import httpx

#: Connections one shared client keeps open, and requests in flight per event loop. Each poll is one
#: short GET, so 50 sockets serve a thousand deferred tasks.
LOOP_POOL_SIZE = 50
#: How long triggers of one process share a connection's settings before reading it again.
SETTINGS_TTL = 60.0
#: Jobs per page of a pipeline's job listing (GitLab's maximum) ...
JOB_PAGE_SIZE = 100
#: ... and pages read at most: 5,000 jobs, far above any pipeline a task group renders.
MAX_JOB_PAGES = 50


class _LoopShared:
    """What every trigger on one event loop shares: clients, request slots, connection settings."""

    def __init__(self) -> None:
        self.clients: dict[tuple[Any, ...], httpx.AsyncClient] = {}
        # httpcore rescans its whole pool for every queued request each time a request starts or
        # ends, so a thousand triggers polling at once (a triggerer restart) stalled the event loop
        # for 11 s (benchmarks/deferral.py). Queueing here, at the pool's size, keeps the pool's
        # queue empty.
        self.slots = asyncio.Semaphore(LOOP_POOL_SIZE)
        self.settings: dict[str, tuple[float, asyncio.Future[ConnectionSettings]]] = {}


_SHARED: dict[asyncio.AbstractEventLoop, _LoopShared] = {}


def loop_shared() -> _LoopShared:
    """The running loop's shared resources; those of closed loops are dropped."""
    loop = asyncio.get_running_loop()
    shared = _SHARED.get(loop)
    if shared is None:
        for closed in [other for other in _SHARED if other.is_closed()]:
            del _SHARED[closed]
        shared = _SHARED[loop] = _LoopShared()
    return shared


def shared_client(settings: ConnectionSettings) -> httpx.AsyncClient:
    """The process-wide client for this event loop and this TLS/proxy configuration.

    Tokens travel per request, so connections with different tokens share one pool.
    """
    import httpx

    clients = loop_shared().clients
    key = (settings.verify, settings.proxy)
    client = clients.get(key)
    if client is None or client.is_closed:
        client = clients[key] = httpx.AsyncClient(
            verify=settings.verify,
            proxy=settings.proxy,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=LOOP_POOL_SIZE, max_keepalive_connections=LOOP_POOL_SIZE),
        )
    return client


async def _read_settings(conn_id: str) -> ConnectionSettings:
    from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson

    conn = await get_async_connection(conn_id)
    extra = await get_async_extra_dejson(conn)
    return read_settings(
        conn_id, host=conn.host, port=conn.port, password=conn.password, extra=extra, raw_extra=conn.extra
    )


async def shared_settings(conn_id: str) -> ConnectionSettings:
    """A connection's settings, read once per :data:`SETTINGS_TTL` for all triggers of the loop.

    A thousand triggers resuming together would otherwise each fetch the same connection.
    """
    cache = loop_shared().settings
    now = time.monotonic()
    expires, fetch = cache.get(conn_id, (0.0, None))
    failed = fetch is not None and fetch.done() and (fetch.cancelled() or fetch.exception() is not None)
    if fetch is None or expires < now or failed:
        fetch = asyncio.ensure_future(_read_settings(conn_id))
        cache[conn_id] = (now + SETTINGS_TTL, fetch)
    # shield: one waiter being cancelled must not cancel the read the others wait for
    return await asyncio.shield(fetch)


def _delivery(exc: BaseException) -> Delivery | None:
    """What an ``httpx`` failure says about the request; None for an exception not to map."""
    import httpx

    # UnsupportedProtocol: a URL scheme httpx cannot send; LocalProtocolError: a header h11 refuses.
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return Delivery.LOCAL
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return Delivery.UNSENT
    if isinstance(exc, httpx.TransportError):
        return Delivery.SENT
    return Delivery.LOCAL if local_leaf(exc) else None


class DataOpsAsyncHook(AsyncJobLogMethods, TransportCore):
    """Asynchronous access to every read a trigger needs, and the cancel; never blocks the event loop.

    Arguments and checks are :class:`~airflow_provider_dataops.hooks.dataops.DataOpsHook`'s.

    :param dataops_conn_id: Id of a ``dataops`` connection.
    :param timeout: Read timeout in seconds, overriding the connection's ``timeout`` extra.
    :param retry_policy: The same policy as :class:`~airflow_provider_dataops.hooks.dataops.DataOpsHook`.
    """

    def __init__(
        self,
        dataops_conn_id: str = DEFAULT_CONN_ID,
        *,
        retry_policy: RetryPolicy | Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> None:
        super().__init__(dataops_conn_id, timeout=timeout, retry_policy=retry_policy)
        self._settings: ConnectionSettings | None = None
        #: Which server times are plausible; measures the skew from ``Date`` headers.
        self.clock = ServerClock()
        #: The server's clock by the last plausible ``Date`` header (epoch seconds), if one came.
        self.server_time: float | None = None

    async def get_settings(self) -> ConnectionSettings:
        """The connection, read through the async connection API (no sync call in the loop)."""
        if self._settings is None:
            self._settings = self._with_overrides(await shared_settings(self.dataops_conn_id))
        return self._settings

    @property
    def secrets(self) -> tuple[str, ...]:
        """The connection's secrets, to redact from what this hook's callers log (empty before a read)."""
        return self._settings.secrets if self._settings is not None else ()

    async def _send_once(self, request: ApiRequest) -> Any:
        """One attempt: hold if throttled, send, follow read redirects, map the answer, decode it."""
        response = await self._send_raw(request)
        secrets = (await self.get_settings()).secrets
        return self._decode(request, response.status_code, response.headers, response.content, secrets)

    async def _send_raw(self, request: ApiRequest) -> httpx.Response:
        """One attempt up to a checked 2xx answer, its body read but not decoded."""
        import httpx

        settings = await self.get_settings()
        if (delay := self._hold()) > 0:
            await retry.async_sleep(delay)
        timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout)
        while True:
            try:
                client = shared_client(settings)
                async with loop_shared().slots:
                    response = await client.request(
                        request.method,
                        request.url,
                        params=request.params,
                        json=request.json,
                        data=request.data,
                        headers=dict(request.headers),
                        timeout=timeout,
                    )
            except (httpx.TransportError, httpx.InvalidURL, ValueError, OverflowError, ImportError) as exc:
                delivery = _delivery(exc)
                if delivery is None:
                    raise
                raise self._failure(exc, request, settings, delivery) from None
            except Exception as exc:  # an exception group from anyio (a port out of range)
                if not local_leaf(exc):
                    raise
                raise self._failure(exc, request, settings, Delivery.LOCAL) from None
            follow = self._redirect(request, response.status_code, response.headers, settings)
            if follow is None:
                break
            request = follow
        self._check(request, response, settings)
        # A proxy's date far in the future would move every bound taken from it: ignored.
        self.server_time = self.clock.note_date(http_date(response.headers.get("date"))) or self.server_time
        return response

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one request under the retry policy and return its JSON body (None for an empty one).

        Checked like :meth:`DataOpsHook.request <airflow_provider_dataops.hooks.dataops.DataOpsHook.request>`
        before anything is sent.

        :param path: An API path built with :func:`~airflow_provider_dataops.api.paths.api_path`.
        :param params: Query parameters.
        :param json: JSON body.
        :param idempotent: Whether repeating it is harmless; defaults to True for GET, HEAD, OPTIONS.
        """
        settings = await self.get_settings()
        request = self._prepare(settings, method, path, params=params, json=json, idempotent=idempotent)
        return await self.retry_policy.call_async(self._send_once, request)

    async def get_pipeline(self, project: int | str, pipeline_id: int | str) -> dict[str, Any]:
        """Get one pipeline, as :meth:`DataOpsHook.get_pipeline`."""
        return await self.request_json("GET", pipeline_path(project, pipeline_id))

    async def newest_pipeline(self, project: int | str, ref: str) -> dict[str, Any] | None:
        """The newest pipeline on ``ref`` (short form), or None when there is none yet."""
        path, params = newest_pipeline_query(project, ref)
        return first_item(await self.request_json("GET", path, params=params), path)

    async def updated_pipelines(
        self,
        project: int | str,
        updated_after: str | None,
        *,
        page: int = 1,
        per_page: int = 100,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        """One page of a project's pipelines ordered by ``updated_at`` (short form), for the shared poller.

        :param updated_after: ISO-8601 bound, or None for every pipeline.
        :param newest_first: Most recently updated first instead of oldest first.
        """
        path = api_path("projects", resource_id(project, "project"), "pipelines")
        params: dict[str, Any] = {
            "order_by": "updated_at",
            "sort": "desc" if newest_first else "asc",
            "page": page,
            "per_page": per_page,
        }
        if updated_after is not None:
            params["updated_after"] = updated_after
        listing = await self.request_json("GET", path, params=params)
        if not isinstance(listing, list):
            raise DataOpsMalformedResponseError(
                f"GET {path} did not return a list", status=200, method="GET", path=path
            )
        return listing

    async def cancel_pipeline(self, project: int | str, pipeline_id: int | str) -> dict[str, Any]:
        """Cancel a pipeline, as :meth:`DataOpsHook.cancel_pipeline` (idempotent, so retried)."""
        return await self.request_json("POST", pipeline_path(project, pipeline_id, "cancel"), idempotent=True)

    async def pipeline_jobs(
        self, project: int | str, pipeline_id: int | str, *, max_pages: int = MAX_JOB_PAGES
    ) -> list[dict[str, Any]]:
        """Every current job of a pipeline (retried ones left out), newest first, as the sync hook lists them.

        Pages of 100 are read until a short page; a page that only repeats jobs already read, or more
        than ``max_pages`` pages, ends the walk with an error rather than a partial answer.

        :param max_pages: Pages to read at most.
        """
        path = pipeline_path(project, pipeline_id, "jobs")
        jobs: list[dict[str, Any]] = []
        seen: set[Any] = set()
        for page in range(1, max_pages + 1):
            rows = await self.request_json("GET", path, params={"page": page, "per_page": JOB_PAGE_SIZE})
            if not isinstance(rows, list):
                raise DataOpsMalformedResponseError(
                    f"GET {path} did not return a list", status=200, method="GET", path=path
                )
            fresh = [row for row in rows if not (isinstance(row, dict) and row.get("id") in seen)]
            if rows and not fresh:
                raise DataOpsMalformedResponseError(
                    f"GET {path} page {page} repeats the jobs of earlier pages", status=200, method="GET", path=path
                )
            seen.update(row.get("id") for row in fresh if isinstance(row, dict))
            jobs.extend(fresh)
            if len(rows) < JOB_PAGE_SIZE:
                return jobs
        raise DataOpsMalformedResponseError(
            f"GET {path} has more than {max_pages} pages of jobs", status=200, method="GET", path=path
        )

    async def cancel_job(self, project: int | str, job_id: int | str) -> dict[str, Any]:
        """Cancel a job, as :meth:`DataOpsHook.cancel_job` (idempotent, so retried)."""
        return await self.request_json("POST", job_path(project, job_id, "cancel"), idempotent=True)
