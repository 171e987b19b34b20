"""DataOpsAsyncHook: the non-blocking client the trigger uses inside the triggerer's event loop.

It reads the connection through Airflow's async connection API, sends with one ``httpx.AsyncClient``
shared by every trigger of the process (per event loop and TLS/proxy setting), and reuses the
synchronous hook's rules: the same :class:`~airflow_provider_dataops.retry.RetryPolicy`, headers,
path encoding and error mapping.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from airflow_provider_dataops._client import (
    MAX_REDIRECTS,
    SAFE_METHODS,
    TOKEN_HEADER,
    default_headers,
    raise_for_response,
    redirect_target,
    tls_error,
)
from airflow_provider_dataops.connection import ConnectionSettings, check_conn_id, check_read_timeout
from airflow_provider_dataops.connection_form import DEFAULT_CONN_ID
from airflow_provider_dataops.errors import DataOpsTransportError, redact
from airflow_provider_dataops.paths import api_path, check_ref, pipeline_path, resource_id
from airflow_provider_dataops.retry import RetryPolicy, guard_write

#: Connections one shared client keeps open, and requests in flight per event loop. Each poll is one
#: short GET, so 50 sockets serve a thousand deferred tasks.
POOL_SIZE = 50
#: How long triggers of one process share a connection's settings before reading it again.
SETTINGS_TTL = 60.0


@dataclass
class _LoopShared:
    """What every trigger on one event loop shares: clients, request slots, connection settings."""

    clients: dict[tuple[Any, ...], httpx.AsyncClient] = field(default_factory=dict)
    # httpcore rescans its whole pool for every queued request each time a request starts or ends,
    # so a thousand triggers polling at once (a triggerer restart) stalled the event loop for 11 s
    # (benchmarks/deferral.py). Queueing here, at the pool's size, keeps the pool's queue empty.
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(POOL_SIZE))
    settings: dict[str, tuple[float, asyncio.Future[ConnectionSettings]]] = field(default_factory=dict)


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
    clients = loop_shared().clients
    key = (settings.verify, settings.proxy)
    client = clients.get(key)
    if client is None or client.is_closed:
        client = clients[key] = httpx.AsyncClient(
            verify=settings.verify,
            proxy=settings.proxy,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=POOL_SIZE, max_keepalive_connections=POOL_SIZE),
        )
    return client


async def _read_settings(conn_id: str) -> ConnectionSettings:
    from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson

    conn = await get_async_connection(conn_id)
    extra = await get_async_extra_dejson(conn)
    return ConnectionSettings.from_connection(
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


def _transport_error(
    exc: httpx.TransportError, method: str, path: str, secrets: tuple[str, ...]
) -> DataOpsTransportError:
    """Map an ``httpx`` failure, noting whether the request can have reached the server."""
    never_sent = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
    return DataOpsTransportError(
        f"{method} {path} failed without a response ({redact(f'{type(exc).__name__}: {exc}', secrets)})",
        method=method,
        path=path,
        sent=not isinstance(exc, never_sent),
    )


class DataOpsAsyncHook:
    """Asynchronous access to the few endpoints a trigger needs; never blocks the event loop.

    :param dataops_conn_id: Id of a ``dataops`` connection.
    :param retry_policy: The same policy as :class:`~airflow_provider_dataops.hooks.dataops.DataOpsHook`.
    """

    def __init__(
        self,
        dataops_conn_id: str = DEFAULT_CONN_ID,
        *,
        retry_policy: RetryPolicy | Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> None:
        self.dataops_conn_id = check_conn_id(dataops_conn_id)
        self.retry_policy = (
            retry_policy if isinstance(retry_policy, RetryPolicy) else RetryPolicy.from_dict(retry_policy)
        )
        self.timeout_override = None if timeout is None else check_read_timeout(timeout)
        self._settings: ConnectionSettings | None = None

    async def get_settings(self) -> ConnectionSettings:
        """The connection, read through the async connection API (no sync call in the loop)."""
        if self._settings is None:
            settings = await shared_settings(self.dataops_conn_id)
            if self.timeout_override is not None:
                settings = dataclasses.replace(settings, timeout=float(self.timeout_override))
            self._settings = settings
        return self._settings

    async def _send_once(
        self, method: str, path: str, *, idempotent: bool, params: Mapping[str, Any] | None
    ) -> httpx.Response:
        settings = await self.get_settings()
        client = shared_client(settings)
        headers: dict[str, str] = default_headers(settings)
        timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout)
        url = settings.api_url + path
        for _ in range(MAX_REDIRECTS + 1):
            try:
                async with loop_shared().slots:
                    response = await client.request(method, url, headers=headers, params=params, timeout=timeout)
            except httpx.TransportError as exc:
                if tls_failure := tls_error(exc, method, path):
                    raise tls_failure from None
                error = _transport_error(exc, method, path, settings.secrets)
                raise guard_write(error, idempotent=idempotent) from None
            if not (response.has_redirect_location and method in SAFE_METHODS):
                break
            url, same_origin = redirect_target(url, response.headers["location"], settings.api_url)
            params = None  # the redirect target carries its own query
            if not same_origin:
                headers.pop(TOKEN_HEADER, None)
        raise_for_response(response, method=method, path=path, settings=settings, idempotent=idempotent)
        return response

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one request under the retry policy and return its JSON body.

        :param path: An API path built with :func:`~airflow_provider_dataops.paths.api_path`.
        :param params: Query parameters.
        """
        safe = method in SAFE_METHODS if idempotent is None else idempotent
        retrying = self.retry_policy.async_retrying()
        response: httpx.Response = await retrying(self._send_once, method, path, idempotent=safe, params=params)
        return response.json() if response.content else None

    async def get_pipeline(self, project: int | str, pipeline_id: int | str) -> dict[str, Any]:
        """Get one pipeline, as :meth:`DataOpsHook.get_pipeline`."""
        return await self.request_json("GET", pipeline_path(project, pipeline_id))

    async def newest_pipeline(self, project: int | str, ref: str) -> dict[str, Any] | None:
        """The newest pipeline on ``ref`` (short form), or None when there is none yet."""
        path = api_path("projects", resource_id(project, "project"), "pipelines")
        params = {"ref": check_ref(ref), "order_by": "id", "sort": "desc", "per_page": 1}
        pipelines = await self.request_json("GET", path, params=params)
        return pipelines[0] if pipelines else None

    async def cancel_pipeline(self, project: int | str, pipeline_id: int | str) -> dict[str, Any]:
        """Cancel a pipeline, as :meth:`DataOpsHook.cancel_pipeline` (idempotent, so retried)."""
        return await self.request_json("POST", pipeline_path(project, pipeline_id, "cancel"), idempotent=True)
