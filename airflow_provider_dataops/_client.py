"""Request plumbing shared by the synchronous and asynchronous hooks.

Headers, the write-safety rule per method, and turning an error response into an exception are
decided here once; each hook only sends bytes with its own HTTP library.
"""

from __future__ import annotations

import ssl
from urllib.parse import urljoin, urlsplit

from airflow_provider_dataops import __version__
from airflow_provider_dataops.connection import ConnectionSettings
from airflow_provider_dataops.errors import (
    DataOpsConfigError,
    DataOpsTLSError,
    HTTPResponseLike,
    error_from_response,
)
from airflow_provider_dataops.retry import guard_write, retry_after_from_headers

USER_AGENT = f"airflow-provider-dataops/{__version__}"
TOKEN_HEADER = "PRIVATE-TOKEN"
#: Methods whose repetition cannot do work twice.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Redirects followed for one GET; more means a loop.
MAX_REDIRECTS = 5


def default_headers(settings: ConnectionSettings) -> dict[str, str]:
    """Headers sent with every API request; the token only when the connection has one."""
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if settings.access_token:
        headers[TOKEN_HEADER] = settings.access_token
    return headers


def check_method(method: str) -> str:
    """Upper-case and validate an HTTP method name."""
    normalized = method.upper() if isinstance(method, str) else ""
    if normalized not in {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}:
        raise DataOpsConfigError(f"method must be an HTTP method such as 'GET' or 'POST', got {method!r}")
    return normalized


def tls_error(exc: BaseException, method: str, path: str) -> DataOpsTLSError | None:
    """The error to raise when ``exc`` (from requests or httpx) comes from a failed TLS handshake.

    Both libraries wrap :class:`ssl.SSLError` differently, so the whole cause chain is searched.
    """
    pending: list[object] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        if isinstance(current, ssl.SSLError):
            return DataOpsTLSError(
                f"{method} {path}: TLS handshake failed ({current}); check the connection's host, or set "
                "its verify_ssl extra to the path of a CA bundle that trusts the server"
            )
        seen.add(id(current))
        pending.extend((current.__cause__, current.__context__, getattr(current, "reason", None), *current.args))
    return None


def redirect_target(current_url: str, location: str, api_url: str) -> tuple[str, bool]:
    """Where a GET redirect leads, and whether the token may go there (same scheme, host and port).

    Neither requests nor httpx strips a custom header such as ``PRIVATE-TOKEN`` on a redirect to
    another host, so both hooks follow GET redirects by hand through this function.
    """
    target = urljoin(current_url, location)
    return target, urlsplit(target)[:2] == urlsplit(api_url)[:2]


def raise_for_response(
    response: HTTPResponseLike,
    *,
    method: str,
    path: str,
    settings: ConnectionSettings,
    idempotent: bool,
    trigger_route: bool = False,
) -> None:
    """Raise the right :class:`~airflow_provider_dataops.errors.DataOpsError` for a non-2xx response.

    :param idempotent: Whether repeating the request is harmless; if not, a server error becomes
        :class:`~airflow_provider_dataops.errors.DataOpsRequestMaybeAppliedError`.
    """
    if 200 <= response.status_code < 300:
        return
    error = error_from_response(
        response,
        method=method,
        path=path,
        conn_id=settings.conn_id,
        retry_after=retry_after_from_headers(response.headers),
        secrets=settings.secrets,
        trigger_route=trigger_route,
    )
    raise guard_write(error, idempotent=idempotent)
