"""The transport core: every decision the synchronous and the asynchronous hook share.

:class:`TransportCore` is the base of :class:`~airflow_provider_dataops.hooks.dataops.DataOpsHook`
(``requests``) and :class:`~airflow_provider_dataops.hooks.dataops_async.DataOpsAsyncHook` (``httpx``).
It owns the policy, the hooks own only the I/O:

* reading the hook's arguments (connection id, timeout override, retry policy) and the connection,
  with both tokens registered with Airflow's secret masker;
* building a request: method, endpoint, URL, headers, idempotency, the trigger-token-only guard;
* deciding what an answer means: a redirect to follow (the token dropped on another origin), an
  error status, a 2xx body that is not JSON, a write that may have been applied, throttling;
* turning a failed send into an error: a local configuration problem, a TLS failure, or a
  transport error that did or did not reach the server.

Each hook's send loop is then: prepare, hold if throttled, send, follow, check, decode. Nothing here
imports an HTTP library, so importing the provider's task modules stays cheap.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import re
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urljoin, urlsplit

from airflow_provider_dataops import __version__
from airflow_provider_dataops.api.connection import (
    DEFAULT_CONN_ID,
    ConnectionSettings,
    check_conn_id,
    check_read_timeout,
    is_loopback,
)
from airflow_provider_dataops.api.paths import api_path, check_endpoint, check_ref, resource_id
from airflow_provider_dataops.api.redaction import redact, redact_body
from airflow_provider_dataops.api.retry import RetryPolicy, guard_write, retry_after_from_headers, throttle_delay
from airflow_provider_dataops.errors import (
    DataOpsConfigError,
    DataOpsError,
    DataOpsMalformedResponseError,
    DataOpsRedirectError,
    DataOpsRequestMaybeAppliedError,
    DataOpsTLSError,
    DataOpsTransportError,
    HTTPResponseLike,
    error_from_response,
)

USER_AGENT = f"airflow-provider-dataops/{__version__}"
TOKEN_HEADER = "PRIVATE-TOKEN"
#: Methods whose repetition cannot do work twice.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_METHODS = frozenset({*SAFE_METHODS, "POST", "PUT", "PATCH", "DELETE"})
#: Redirects followed for one read; one more means a loop.
MAX_REDIRECTS = 5
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: A hook's read timeout may not exceed a day: anything longer is a mistake, and an absurd value
#: (1e12) overflows the socket layer only after a POST went out.
# userinfo in a URL quoted by an exception (a proxy URL may carry a password)
_USERINFO = re.compile(r"(?<=//)[^/@\s'\"]+@")


class Delivery(enum.Enum):
    """What a failed send says about the request; each hook classifies its library's exceptions."""

    #: Refused on this machine (bad URL, port, proxy or header): nothing left, retrying cannot help.
    LOCAL = "local"
    #: The connection could not be opened: the server never saw it, so even a write may be repeated.
    UNSENT = "unsent"
    #: It may have reached the server.
    SENT = "sent"


class ApiRequest(NamedTuple):
    """One request as the core prepared it; a followed redirect is a new one with ``hops + 1``.

    :param method: Upper-case HTTP method.
    :param path: API path relative to ``/api/v4``, named in messages (it never holds a token).
    :param url: Absolute URL to send to.
    :param headers: Every header to send; without the token after a redirect to another origin.
    :param idempotent: Whether repeating it is harmless.
    :param trigger_route: It goes to the trigger-token endpoint.
    """

    method: str
    path: str
    url: str
    headers: Mapping[str, str]
    params: Mapping[str, Any] | None = None
    json: Any = None
    data: Any = None
    idempotent: bool = True
    trigger_route: bool = False
    hops: int = 0


def read_settings(
    conn_id: str,
    *,
    host: str | None,
    port: int | None,
    password: str | None,
    extra: Mapping[str, Any],
    raw_extra: str | None,
) -> ConnectionSettings:
    """Validate a connection's fields and register its tokens with Airflow's secret masker.

    ``raw_extra`` is the extra as stored: ``extra_dejson`` silently reads text that is not a JSON
    object as empty, which would hide a broken connection.
    """
    from airflow.providers.common.compat.sdk import mask_secret

    settings = ConnectionSettings.from_connection(
        conn_id, host=host, port=port, password=password, extra=extra, raw_extra=raw_extra
    )
    for secret in settings.secrets:
        mask_secret(secret)
    return settings


def default_headers(settings: ConnectionSettings) -> dict[str, str]:
    """Headers sent with every API request; the token only when the connection has one."""
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if settings.access_token:
        headers[TOKEN_HEADER] = settings.access_token
    return headers


def check_method(method: object) -> str:
    """Upper-case and validate an HTTP method name."""
    normalized = method.upper() if isinstance(method, str) else ""
    if normalized not in _METHODS:
        raise DataOpsConfigError(f"method must be an HTTP method such as 'GET' or 'POST', got {method!r}")
    return normalized


def newest_pipeline_query(project: int | str, ref: str) -> tuple[str, dict[str, Any]]:
    """Path and query of "the newest pipeline on ``ref``": one item, by id, descending."""
    path = api_path("projects", resource_id(project, "project"), "pipelines")
    return path, {"ref": check_ref(ref), "order_by": "id", "sort": "desc", "per_page": 1}


def first_item(listing: Any, path: str) -> Any:
    """The first element of a listing, None for an empty one; anything but a list is an error."""
    if not isinstance(listing, list):
        raise DataOpsMalformedResponseError(f"GET {path} did not return a list", status=200, method="GET", path=path)
    return listing[0] if listing else None


def _secret_forms(secrets: Iterable[str]) -> set[str]:
    """Each secret as a library may quote it: raw, in a repr (escaped), in ASCII escapes."""
    forms: set[str] = set()
    for secret in secrets:
        forms.update({secret, repr(secret)[1:-1], ascii(secret)[1:-1], secret.encode("unicode_escape").decode()})
    return {form for form in forms if form}


def safe_detail(exc: BaseException, secrets: Iterable[str]) -> str | None:
    """``Type: message`` of a library exception without secrets, or None when it cannot be made safe.

    A :class:`UnicodeError` holds the whole string it failed on (a token, for a header), and a
    library may quote a token escaped; such details are withheld rather than half redacted.
    """
    if isinstance(exc, UnicodeError):
        return None
    text = _USERINFO.sub("***@", f"{type(exc).__name__}: {exc}")
    if any(form in text for form in _secret_forms(secrets)):
        return None
    return text


def _causes(exc: BaseException) -> Iterable[BaseException]:
    """``exc`` and everything it wraps: causes, contexts, ``reason``, arguments, group members."""
    pending: list[object] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend((current.__cause__, current.__context__, getattr(current, "reason", None), *current.args))
        pending.extend(getattr(current, "exceptions", ()) or ())


def caused_by(exc: BaseException, kind: type[BaseException] | tuple[type[BaseException], ...]) -> bool:
    """Whether ``exc`` or anything it wraps is a ``kind``."""
    return any(isinstance(cause, kind) for cause in _causes(exc))


def local_leaf(exc: BaseException) -> bool:
    """Whether ``exc`` is, or groups only, errors raised before anything was sent.

    Covers what both libraries let through unwrapped: a port out of range (``OverflowError``, in an
    exception group from anyio), a header that cannot be encoded (``UnicodeEncodeError``), and the
    ``ValueError``/``ImportError`` of a proxy URL the client cannot use.
    """
    members = getattr(exc, "exceptions", None)
    if members:
        return all(local_leaf(member) for member in members)
    return isinstance(exc, OverflowError | ValueError | ImportError)


def check_hook_options(
    *, timeout: float | None = None, retry_policy: RetryPolicy | Mapping[str, Any] | None = None
) -> tuple[float | None, RetryPolicy]:
    """Check a hook's ``timeout`` and ``retry_policy``; both hooks and a task's ``hook_params`` use it.

    :raises DataOpsConfigError: for a timeout out of range or a malformed retry policy.
    """
    return (None if timeout is None else check_read_timeout(timeout)), RetryPolicy.of(retry_policy)


@functools.cache
def _fast_decoder() -> Callable[[bytes], Any]:
    import msgspec  # here, not at import: a DAG file loads this module and decodes nothing

    return msgspec.json.Decoder().decode


def decode_json(content: bytes) -> Any:
    """``json.loads(content)``, found about three times faster by ``msgspec`` where it can.

    Every answer is decoded here, listings' pages of 100 rows among them. ``msgspec`` gives the same
    value for every body it accepts; what it refuses (``NaN``, ``1e400``, a lone surrogate, UTF-16
    or UTF-32, a byte order mark, anything that is not JSON) goes to ``json.loads``, which decides.

    :param content: The body as received.
    :raises ValueError: when the body is not JSON (``JSONDecodeError``, ``UnicodeDecodeError``).
    :raises RecursionError: when it nests deeper than Python's recursion limit.
    """
    try:
        return _fast_decoder()(content)
    except Exception:  # json.loads gives the verdict, and the error
        return json.loads(content)


class TransportCore:
    """The policy half of both hooks; subclasses add a send loop and typed API methods.

    :param dataops_conn_id: Id of a ``dataops`` connection.
    :param timeout: Read timeout in seconds, overriding the connection's ``timeout`` extra.
    :param retry_policy: A :class:`~airflow_provider_dataops.api.retry.RetryPolicy` or its ``to_dict()``
        form; defaults cover GitLab's 60-second throttle windows.
    """

    def __init__(
        self,
        dataops_conn_id: str = DEFAULT_CONN_ID,
        *,
        timeout: float | None = None,
        retry_policy: RetryPolicy | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.dataops_conn_id = check_conn_id(dataops_conn_id)
        self.timeout_override, self.retry_policy = check_hook_options(timeout=timeout, retry_policy=retry_policy)
        self._not_before = 0.0

    # -- connection -------------------------------------------------------------------------------

    def _with_overrides(self, settings: ConnectionSettings) -> ConnectionSettings:
        """The connection's settings with this hook's timeout override applied."""
        if self.timeout_override is None:
            return settings
        return dataclasses.replace(settings, timeout=self.timeout_override)

    # -- building a request ---------------------------------------------------------------------

    def _prepare(
        self,
        settings: ConnectionSettings,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        idempotent: bool | None = None,
        trigger_route: bool = False,
        anonymous: bool = False,
        url: str | None = None,
    ) -> ApiRequest:
        """Check a request and build it, before anything is sent.

        :param idempotent: Whether repeating it is harmless; defaults to True for GET, HEAD, OPTIONS.
        :param trigger_route: It goes to the trigger-token endpoint (the token is in the form body).
        :param anonymous: It is meant to go without an access token.
        :param url: Absolute URL to fetch instead of ``endpoint`` (a pagination link already kept on
            the API host).
        """
        method = check_method(method)
        path = check_endpoint(endpoint)
        if not (settings.access_token or trigger_route or anonymous):
            raise DataOpsConfigError(
                f"connection {settings.conn_id!r} holds only a pipeline trigger token, which can call "
                f"nothing but the trigger endpoint; add an access token (the password) to {method} {path}"
            )
        return ApiRequest(
            method=method,
            path=path,
            url=url or settings.api_url + path,
            headers=default_headers(settings),
            params=params,
            json=json,
            data=data,
            idempotent=method in SAFE_METHODS if idempotent is None else idempotent,
            trigger_route=trigger_route,
        )

    # -- throttling -----------------------------------------------------------------------------

    def _hold(self) -> float:
        """Seconds to wait before the next request, when the last answer said the quota is used up."""
        return max(0.0, self._not_before - time.time())

    def _note_throttle(self, headers: Mapping[str, str]) -> None:
        # Capped by the retry budget: an absurd reset time must not stall the hook for days.
        delay = min(throttle_delay(headers) or 0.0, self.retry_policy.max_total_wait)
        self._not_before = time.time() + delay

    # -- reading an answer ----------------------------------------------------------------------

    def _redirect(
        self, request: ApiRequest, status: int, headers: Mapping[str, str], settings: ConnectionSettings
    ) -> ApiRequest | None:
        """The request to send next when ``status`` is a redirect to follow, else None.

        Only reads are followed (a redirected POST would become a GET), by hand: neither requests nor
        httpx strips a custom header such as ``PRIVATE-TOKEN`` on a redirect to another host, so the
        token is dropped here when the target's scheme, host or port differs from the API's.

        :raises DataOpsRedirectError: after :data:`MAX_REDIRECTS` redirects in a row.
        """
        location = headers.get("location")
        if status not in _REDIRECT_STATUSES or not location or request.method not in SAFE_METHODS:
            return None
        target = urljoin(request.url, location)
        if request.hops >= MAX_REDIRECTS:
            where = redact(_USERINFO.sub("***@", target), settings.secrets)
            raise DataOpsRedirectError(
                f"{request.method} {request.path} -> HTTP {status}: followed {MAX_REDIRECTS} redirects and was "
                f"redirected again (to {where}); giving up on a redirect loop",
                status=status,
                method=request.method,
                path=request.path,
            )
        headers_next = dict(request.headers)
        if urlsplit(target)[:2] != urlsplit(settings.api_url)[:2]:
            headers_next.pop(TOKEN_HEADER, None)
        # The target carries its own query.
        return request._replace(url=target, headers=headers_next, params=None, hops=request.hops + 1)

    def _check(self, request: ApiRequest, response: HTTPResponseLike, settings: ConnectionSettings) -> None:
        """Note throttling, then raise the right error for a non-2xx answer.

        A server error to a write becomes :class:`DataOpsRequestMaybeAppliedError`.
        """
        self._note_throttle(response.headers)
        if 200 <= response.status_code < 300:
            return
        error = error_from_response(
            response,
            method=request.method,
            path=request.path,
            conn_id=settings.conn_id,
            retry_after=retry_after_from_headers(response.headers),
            secrets=settings.secrets,
            trigger_route=request.trigger_route,
        )
        raise guard_write(error, idempotent=request.idempotent)

    def _decode(
        self,
        request: ApiRequest,
        status: int,
        headers: Mapping[str, str],
        content: bytes,
        secrets: Iterable[str | None] = (),
    ) -> Any:
        """The JSON body of a 2xx answer, ``secrets`` redacted in every string; None for an empty one.

        Redacting here, where every answer enters, means no field a server echoes a token in can
        carry it on into a log, an exception, XCom, lineage or an event.

        A body that is not JSON (a proxy's login page, a body cut short) is
        :class:`DataOpsMalformedResponseError`, retried like a transient failure for a read. For a
        write it is :class:`DataOpsRequestMaybeAppliedError`: the server answered 2xx, so it
        probably acted, but the answer cannot say what it made.
        """
        if not content:
            return None
        try:
            return redact_body(content, decode_json(content), secrets)
        except (ValueError, RecursionError):  # not JSON, not text, or nested deeper than Python goes
            error = DataOpsMalformedResponseError(
                f"{request.method} {request.path} -> HTTP {status}: expected a JSON body, got "
                f"{headers.get('content-type', 'no content type')}",
                status=status,
                method=request.method,
                path=request.path,
            )
        if request.idempotent:
            raise error
        raise DataOpsRequestMaybeAppliedError(method=request.method, path=request.path, cause=error)

    # -- a failed send --------------------------------------------------------------------------

    def _failure(
        self, exc: BaseException, request: ApiRequest, settings: ConnectionSettings, delivery: Delivery
    ) -> DataOpsError:
        """The error to raise when sending failed without an answer.

        A TLS failure and a local configuration problem are raised at once, never retried and never
        "may have been applied"; the rest is a :class:`DataOpsTransportError`, retried for reads and
        for writes that provably never left.
        """
        where = f"{request.method} {request.path}"
        for cause in _causes(exc):
            if isinstance(cause, ssl.SSLError):  # requests and httpx wrap it differently
                return DataOpsTLSError(
                    f"{where}: TLS handshake failed ({safe_detail(cause, settings.secrets) or 'details withheld'}); "
                    "check the connection's host, or set its verify_ssl extra to the path of a CA bundle that "
                    f"trusts the server{_plain_http_hint(settings.api_url)}"
                )
        detail = safe_detail(exc, settings.secrets)
        if delivery is Delivery.LOCAL:
            reason = detail or (
                "a token or header value holds characters an HTTP header cannot carry, such as a line break "
                "or a non-Latin-1 letter"
            )
            return DataOpsConfigError(
                f"{where} was not sent: connection {settings.conn_id!r} cannot be used as configured ({reason}). "
                "Nothing left this machine; check the connection's host, port, proxy and tokens."
            )
        error = DataOpsTransportError(
            f"{where} failed without a response ({detail or type(exc).__name__ + ': details withheld'})",
            method=request.method,
            path=request.path,
            sent=delivery is Delivery.SENT,
        )
        return guard_write(error, idempotent=request.idempotent)


def _plain_http_hint(api_url: str) -> str:
    """For https:// to a loopback host, likely a local emulator on plain HTTP: how to say http://.

    A connection URI has no place for a scheme, so ``dataops://:token@127.0.0.1:8080`` means https.
    """
    parts = urlsplit(api_url)
    if parts.scheme != "https" or not is_loopback(parts.hostname or ""):
        return ""
    netloc = parts.netloc.rpartition("@")[2]
    return (
        f". A local emulator speaks plain HTTP: give the host as http://{netloc}, which a connection URI "
        f"writes URL-encoded: dataops://:<token>@http%3A%2F%2F{netloc}"
    )
