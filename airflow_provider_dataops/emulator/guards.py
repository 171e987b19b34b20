"""Limits applied before any handler: the request body's size, and who may use the control API.

The control API has no authentication, so it answers only requests a web page cannot forge:
a ``Host`` that names this machine (a DNS-rebinding page sends its own name), no foreign ``Origin``
or cross-site ``Sec-Fetch-Site``, and a JSON body (a page's form or ``text/plain`` POST is refused).
"""

from __future__ import annotations

import ipaddress
import json
import socket
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from airflow_provider_dataops.emulator.faults import replay_body
from airflow_provider_dataops.emulator.middleware import CONTROL_PREFIX, HttpMiddleware

#: The largest request body the emulator reads; larger ones get 413 (the API takes small JSON or forms).
MAX_BODY_BYTES = 1024 * 1024
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


async def _answer(send: Send, status: int, body: dict[str, str], close: bool = False) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


class BodyLimit(HttpMiddleware):
    """Answer 413 to a body over ``max_bytes`` (declared or streamed), before the app reads any of it.

    :param app: the application.
    :param max_bytes: the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the body up to the limit, then replay it to the app; 413 past the limit."""
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and (len(declared) > 15 or int(declared) > self.max_bytes):
            await self._too_large(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        await self.app(scope, replay_body(b"".join(chunks), receive), send)

    async def _too_large(self, send: Send) -> None:
        # The rest of the body is never read: close the connection rather than reuse it.
        await _answer(send, 413, {"message": "413 Request Entity Too Large"}, close=True)


def allowed_host_names(bind_host: str) -> frozenset[str]:
    """The names a control request's ``Host`` may carry, besides any IP address.

    :param bind_host: the interface the emulator listens on.
    """
    return frozenset({*_LOOPBACK_NAMES, bind_host.strip("[]").lower(), socket.gethostname().lower()})


def host_is_local(host_header: str, names: frozenset[str]) -> bool:
    """Whether a ``Host`` header names this machine: an IP literal, ``*.localhost`` or a known name.

    :param host_header: e.g. ``127.0.0.1:8080`` or ``[::1]:8080``.
    :param names: from :func:`allowed_host_names`.
    """
    try:
        hostname = urlsplit(f"//{host_header}").hostname
    except ValueError:
        return False
    if not hostname:
        return False
    hostname = hostname.rstrip(".")
    try:
        ipaddress.ip_address(hostname)
        return True  # a page cannot make a browser send an IP literal for its own name
    except ValueError:
        pass
    return hostname in names or hostname.endswith(".localhost")


class ControlGuard(HttpMiddleware):
    """Refuse (403) control requests a browser page could have made: see the module docstring.

    :param app: the application.
    :param bind_host: the interface the emulator listens on (its name is an allowed ``Host``).
    """

    def __init__(self, app: ASGIApp, bind_host: str = "127.0.0.1") -> None:
        super().__init__(app)
        self.names = allowed_host_names(bind_host)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 403 to a control request that fails :meth:`refusal`; pass the rest on."""
        if scope["path"].startswith(CONTROL_PREFIX):
            reason = self.refusal(scope)
            if reason is not None:
                await _answer(send, 403, {"message": f"403 Forbidden: {reason}"})
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> str | None:
        """Why a control request is refused, or ``None`` to let it through.

        :param scope: the ASGI scope.
        """
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if not host_is_local(host, self.names):
            return "the control API answers only a Host naming this machine"
        origin = headers.get("origin")
        if origin is not None and urlsplit(origin).netloc.lower() != host.lower():
            return "cross-origin control requests are refused"
        if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return "cross-site control requests are refused"
        if scope["method"] not in ("GET", "HEAD"):
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            declared = headers.get("content-length", "0")
            if content_type != "application/json" and (declared != "0" or "transfer-encoding" in headers):
                return "a control request's body must be application/json"
        return None
