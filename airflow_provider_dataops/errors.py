"""Exceptions raised by the DataOps.live provider, and the mapping from HTTP responses to them.

Every message is built from the method, the API path, the status and the server's own message.
Paths never carry credentials (tokens travel in headers or form bodies), and :func:`redact`
removes any known secret the server might echo back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

#: Longest server message quoted in an exception; HTML error pages can be large.
MAX_MESSAGE_CHARS = 500


class HTTPResponseLike(Protocol):
    """What the error mapping needs from a response: both ``requests`` and ``httpx`` fit."""

    @property
    def status_code(self) -> int: ...  # noqa: D102

    @property
    def headers(self) -> Mapping[str, str]: ...  # noqa: D102

    @property
    def text(self) -> str: ...  # noqa: D102


class DataOpsError(AirflowException):
    """Base class for every error this provider raises."""


class DataOpsConfigError(DataOpsError, ValueError):
    """The connection or an argument is invalid. Raised before any request is sent."""


class DataOpsJobNotFoundError(DataOpsError, AirflowFailException):
    """The pipeline has no job of that name; the message lists the jobs it has. Not retried."""


class DataOpsTransportError(DataOpsError):
    """The HTTP exchange failed without a response (connection refused, reset, timed out).

    :param sent: False only when the request provably never reached the server
        (the connection could not be opened), so even a POST may be repeated.
    """

    def __init__(self, message: str, *, method: str, path: str, sent: bool) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        self.sent = sent


class DataOpsDownloadLimitError(DataOpsError):
    """A download passed its ``max_bytes`` or its ``download_timeout``. Not retried."""


class DataOpsTLSError(DataOpsError):
    """The TLS handshake failed (certificate not trusted, wrong host name).

    Not retried: it will not fix itself. Trust the server's CA (``verify_ssl`` = a CA bundle path)
    or correct the host.
    """


class DataOpsAPIError(DataOpsError):
    """The API answered with an error status.

    :param status: HTTP status code.
    :param method: HTTP method of the request.
    :param path: API path of the request (relative to ``/api/v4``), never containing a token.
    :param server_message: The server's own explanation, flattened and truncated.
    :param retry_after: Seconds the server asked us to wait, when it said so.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str,
        path: str,
        server_message: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.method = method
        self.path = path
        self.server_message = server_message
        self.retry_after = retry_after


class DataOpsBadRequestError(DataOpsAPIError):
    """400, 422: the request was refused as invalid (missing or bad attribute, validation)."""

    @property
    def already_exists(self) -> bool:
        """Whether the refusal is GitLab's "has already been taken" validation error."""
        return "has already been taken" in self.server_message


class DataOpsAuthenticationError(DataOpsAPIError):
    """401: the token was rejected (wrong, expired or revoked)."""


class DataOpsPermissionError(DataOpsAPIError):
    """403: the token is valid but not allowed to do this."""


class DataOpsNotFoundError(DataOpsAPIError):
    """404: the resource does not exist, or is not visible to this token."""


class DataOpsConflictError(DataOpsAPIError):
    """409: the resource already exists or is locked."""


class DataOpsRateLimitError(DataOpsAPIError):
    """429: throttled. The server did not act on the request."""


class DataOpsServerError(DataOpsAPIError):
    """5xx: the server or a proxy in front of it failed."""


class DataOpsMalformedResponseError(DataOpsAPIError):
    """A 2xx answer whose body is not the JSON expected (a proxy's page, a body cut short).

    Retried like a transient failure for a read; to a write it becomes
    :class:`DataOpsRequestMaybeAppliedError`, since the server probably acted.
    """


class DataOpsRedirectError(DataOpsAPIError):
    """3xx on a request that must not be redirected (anything but GET)."""


class DataOpsRequestMaybeAppliedError(DataOpsError):
    """A write (POST) failed in a way that does not tell whether the server acted on it.

    Repeating it could start a second pipeline or create a project twice, so it is never retried
    automatically: reconcile first (look for the pipeline's marker variable, or the project's path).

    :param cause: The server error or transport error that left the outcome unknown.
    """

    def __init__(self, *, method: str, path: str, cause: DataOpsError) -> None:
        super().__init__(
            f"{method} {path} may have been applied by the server, but no answer confirmed it "
            f"({cause}). It was not repeated, to avoid doing the work twice; check for its effect "
            "before trying again."
        )
        self.method = method
        self.path = path
        self.cause = cause


class DataOpsPipelineFailedError(AirflowException):
    """The pipeline ended in a failure status (or ``manual`` under the ``fail`` policy)."""


class DataOpsTestsFailedError(DataOpsPipelineFailedError, AirflowFailException):
    """The pipeline succeeded but some of its tests failed (``fail_on_test_failures``).

    Not retried: the tests of a finished pipeline do not change. Clear the task to run a new one.
    """


class DataOpsPipelineTimeoutError(AirflowException):
    """The pipeline did not finish within the operator's ``timeout``."""


class DataOpsProjectExistsError(AirflowException):
    """The project is already there and ``if_exists="fail"``."""


_ERRORS_BY_STATUS: dict[int, type[DataOpsAPIError]] = {
    400: DataOpsBadRequestError,
    401: DataOpsAuthenticationError,
    403: DataOpsPermissionError,
    404: DataOpsNotFoundError,
    409: DataOpsConflictError,
    422: DataOpsBadRequestError,
    429: DataOpsRateLimitError,
}


#: What a secret is replaced with.
MASK = "***"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every occurrence of each non-empty secret in ``text`` with ``***``.

    The primitive of :mod:`airflow_provider_dataops.api.redaction` (the public entry point), here
    because exception messages, the lowest layer, need it too.

    :param text: Any text: a message, a log line, a URL.
    :param secrets: The values to hide; empty ones are ignored.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def truncate(text: str, secrets: Iterable[str | None], limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` redacted, then cut to ``limit`` characters (``…`` included).

    Redacting first means a cut cannot split a secret so that ``redact`` no longer recognises it;
    and if the cut itself ends inside a secret, the start of that secret left at the end is
    replaced as well (``... glpat-SEC`` becomes ``... ***``).
    """
    known = [secret for secret in secrets if secret]
    text = redact(text, known)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    tail = max((k for secret in known for k in range(1, len(secret)) if cut.endswith(secret[:k])), default=0)
    return (cut[:-tail] + "***" if tail else cut) + "…"


def _flatten(value: Any, prefix: str = "") -> list[str]:
    """Flatten GitLab's ``message`` (string, list or nested dict) into ``field: msg`` parts."""
    if isinstance(value, Mapping):
        parts: list[str] = []
        for key, inner in value.items():
            parts.extend(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return parts
    if isinstance(value, list):
        items = [item for element in value for item in _flatten(element)]
        return [f"{prefix}: {', '.join(items)}"] if prefix else items
    text = "" if value is None else str(value)
    return [f"{prefix}: {text}" if prefix else text]


def server_message(response: HTTPResponseLike, secrets: Iterable[str | None] = ()) -> str:
    """Extract the human message of an error response, whatever shape GitLab used.

    Reads ``message`` (string, list or dict, flattened), then ``error``, then the plain-text or HTML
    body; ``secrets`` are redacted, then the result is truncated to :data:`MAX_MESSAGE_CHARS`.
    """
    body = response.text or ""
    message = ""
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        payload = None
    if isinstance(payload, Mapping):
        for key in ("message", "error", "error_description"):
            if payload.get(key) not in (None, "", [], {}):
                message = "; ".join(part for part in _flatten(payload[key]) if part)
                break
    elif payload is not None:  # a bare JSON string or list
        message = "; ".join(part for part in _flatten(payload) if part)
    if not message and payload is None:
        message = _strip_html(body) if "html" in response.headers.get("content-type", "") else body
    # Redacted before the whitespace is squeezed too, in case a secret spans a line break.
    secrets = [secret for secret in secrets if secret]
    return truncate(" ".join(redact(message, secrets).split()), secrets)


def _strip_html(body: str) -> str:
    """Keep the readable text of an HTML error page (proxies answer 502s with one)."""
    from html.parser import HTMLParser

    class _Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.parts: list[str] = []
            self._skip = 0

        def handle_starttag(self, tag: str, attrs: Any) -> None:
            if tag in ("script", "style", "head"):
                self._skip += 1

        def handle_endtag(self, tag: str) -> None:
            if tag in ("script", "style", "head") and self._skip:
                self._skip -= 1

        def handle_data(self, data: str) -> None:
            if not self._skip and data.strip():
                self.parts.append(data.strip())

    parser = _Text()
    parser.feed(body)
    return " ".join(parser.parts)


def error_from_response(
    response: HTTPResponseLike,
    *,
    method: str,
    path: str,
    conn_id: str,
    retry_after: float | None,
    secrets: Iterable[str | None] = (),
    trigger_route: bool = False,
) -> DataOpsAPIError:
    """Build the exception for an error response.

    :param response: The error response.
    :param method: HTTP method sent.
    :param path: API path (relative to ``/api/v4``).
    :param conn_id: Airflow connection id, named in authentication errors.
    :param retry_after: Seconds to wait before retrying, already parsed from the headers.
    :param secrets: Values that must never appear in the message.
    :param trigger_route: The request went to the trigger-token endpoint, where GitLab answers
        404 for a wrong token.
    """
    status = response.status_code
    secrets = [secret for secret in secrets if secret]
    detail = server_message(response, secrets)
    if status == 401:
        summary = f"the token of connection {conn_id!r} was rejected (wrong, expired or revoked)"
    elif status == 403:
        summary = f"the token of connection {conn_id!r} is not allowed to do this"
    elif status == 404 and trigger_route:
        summary = "project not found or not visible, or the trigger token is wrong"
    elif status == 404:
        summary = "not found or not visible to this token"
    elif status == 429:
        summary = "rate limited by the server"
    elif 300 <= status < 400:
        location = redact(response.headers.get("location", ""), secrets)
        summary = (
            f"the server redirected a {method} request (to {location or 'an unknown location'}); it was not followed"
        )
    else:
        summary = "request failed"
    text = f"{method} {path} -> HTTP {status}: {summary}"
    if detail:
        text += f". Server said: {detail}"
    cls = _ERRORS_BY_STATUS.get(status)
    if cls is None:
        if status >= 500:
            cls = DataOpsServerError
        elif 300 <= status < 400:
            cls = DataOpsRedirectError
        else:
            cls = DataOpsAPIError
    return cls(text, status=status, method=method, path=path, server_message=detail, retry_after=retry_after)
