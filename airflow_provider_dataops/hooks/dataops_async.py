"""DataOpsAsyncHook: the non-blocking client the trigger uses inside the triggerer's event loop.

It reads the connection through Airflow's async connection API, sends with one ``httpx.AsyncClient``
shared by every trigger of the process (per event loop and TLS/proxy setting), and reuses the
synchronous hook's rules: the same :class:`~airflow_provider_dataops.retry.RetryPolicy`, headers,
path encoding and error mapping.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping
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
from airflow_provider_dataops.connection import ConnectionSettings
from airflow_provider_dataops.connection_form import DEFAULT_CONN_ID
from airflow_provider_dataops.errors import DataOpsTransportError
from airflow_provider_dataops.paths import pipeline_path
from airflow_provider_dataops.retry import RetryPolicy, guard_write

#: Connections one shared client keeps open. Thousands of deferred tasks share this pool, and
#: each poll is one short GET, so a hundred sockets serve them without queueing for long.
POOL_SIZE = 100

_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], httpx.AsyncClient]] = (
    weakref.WeakKeyDictionary()
)


def shared_client(settings: ConnectionSettings) -> httpx.AsyncClient:
    """The process-wide client for this event loop and this TLS/proxy configuration.

    Tokens travel per request, so connections with different tokens share one pool.
    """
    per_loop = _CLIENTS.setdefault(asyncio.get_running_loop(), {})
    key = (settings.verify, settings.proxy)
    client = per_loop.get(key)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            verify=settings.verify,
            proxy=settings.proxy,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=POOL_SIZE, max_keepalive_connections=POOL_SIZE),
        )
        per_loop[key] = client
    return client


def _transport_error(exc: httpx.TransportError, method: str, path: str) -> DataOpsTransportError:
    """Map an ``httpx`` failure, noting whether the request can have reached the server."""
    never_sent = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
    return DataOpsTransportError(
        f"{method} {path} failed without a response ({type(exc).__name__}: {exc})",
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
    ) -> None:
        self.dataops_conn_id = dataops_conn_id
        self.retry_policy = (
            retry_policy if isinstance(retry_policy, RetryPolicy) else RetryPolicy.from_dict(retry_policy)
        )
        self._settings: ConnectionSettings | None = None

    async def get_settings(self) -> ConnectionSettings:
        """The connection, read once through the async connection API (no sync call in the loop)."""
        if self._settings is None:
            from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson

            conn = await get_async_connection(self.dataops_conn_id)
            extra = await get_async_extra_dejson(conn)
            self._settings = ConnectionSettings.from_connection(
                self.dataops_conn_id, host=conn.host, port=conn.port, password=conn.password, extra=extra
            )
        return self._settings

    async def _send_once(self, method: str, path: str, *, idempotent: bool) -> httpx.Response:
        settings = await self.get_settings()
        client = shared_client(settings)
        headers: dict[str, str] = default_headers(settings)
        timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout)
        url = settings.api_url + path
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response = await client.request(method, url, headers=headers, timeout=timeout)
            except httpx.TransportError as exc:
                if tls_failure := tls_error(exc, method, path):
                    raise tls_failure from None
                raise guard_write(_transport_error(exc, method, path), idempotent=idempotent) from None
            if not (response.is_redirect and method in SAFE_METHODS):
                break
            url, same_origin = redirect_target(url, response.headers["location"], settings.api_url)
            if not same_origin:
                headers.pop(TOKEN_HEADER, None)
        raise_for_response(response, method=method, path=path, settings=settings, idempotent=idempotent)
        return response

    async def request_json(self, method: str, path: str, *, idempotent: bool | None = None) -> Any:
        """Send one request under the retry policy and return its JSON body.

        :param path: An API path built with :func:`~airflow_provider_dataops.paths.api_path`.
        """
        safe = method in SAFE_METHODS if idempotent is None else idempotent
        retrying = self.retry_policy.async_retrying()
        response: httpx.Response = await retrying(self._send_once, method, path, idempotent=safe)
        return response.json() if response.content else None

    async def get_pipeline(self, project: int | str, pipeline_id: int | str) -> dict[str, Any]:
        """Get one pipeline, as :meth:`DataOpsHook.get_pipeline`."""
        return await self.request_json("GET", pipeline_path(project, pipeline_id))

    async def cancel_pipeline(self, project: int | str, pipeline_id: int | str) -> dict[str, Any]:
        """Cancel a pipeline, as :meth:`DataOpsHook.cancel_pipeline` (idempotent, so retried)."""
        return await self.request_json("POST", pipeline_path(project, pipeline_id, "cancel"), idempotent=True)
