"""The outermost ASGI middleware: planned faults, rate limiting and the request log.

Pure ASGI rather than Starlette middleware, because dropping a connection needs the server's own
``send`` callable, which leads to the TCP transport.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import inspect
import logging
import time
from contextlib import suppress
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_dataops.emulator.clock import iso
from airflow_provider_dataops.emulator.faultspec import Fault
from airflow_provider_dataops.emulator.middleware import CONTROL_PREFIX, HttpMiddleware
from airflow_provider_dataops.emulator.state import EmulatorState

logger = logging.getLogger("airflow_provider_dataops.emulator")

API_PREFIX = "/api/v4"
#: Query parameters whose values never reach the request log.
SECRET_PARAMS = frozenset({"token", "private_token", "access_token", "job_token"})
REDACTED = "[REDACTED]"


class ConnectionDropped(Exception):
    """Raised by the fallback drop, when the server's transport cannot be reached."""


class EmulatorMiddleware(HttpMiddleware):
    """Applies faults, the throttle and the request log to every request outside ``/-/emulator``.

    :param app: the Starlette application.
    :param state: the emulator's state.
    """

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        super().__init__(app)
        self.state = state

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Apply a planned fault, the throttle and the request log to an API request."""
        path = raw_path(scope)
        if path.startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        fault = self.state.take_fault(scope["method"], path)
        record = _RequestRecord(self.state, scope, path, fault)

        # Saved before the client can see the response end, so tests can read it at once: at the
        # last body message, or at the chunk that completes a declared Content-Length (a streamed
        # body may end with an empty last message the client does not wait for).
        remaining: list[int | None] = [None]

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
                length = Headers(raw=message.get("headers", [])).get("content-length")
                remaining[0] = int(length) if length and length.isdigit() else None
            elif message["type"] == "http.response.body":
                if remaining[0] is not None:
                    remaining[0] -= len(message.get("body", b""))
                if not message.get("more_body") or (remaining[0] is not None and remaining[0] <= 0):
                    record.save()
            await send(message)

        try:
            await self._handle(fault, scope, receive, send, tracking_send, record)
        finally:
            record.save()

    async def _handle(
        self,
        fault: Fault | None,
        scope: Scope,
        receive: Receive,
        send: Send,
        tracking_send: Send,
        record: _RequestRecord,
    ) -> None:
        action = fault.action if fault else None
        if fault is None:
            await self._throttled(scope, receive, tracking_send)
        elif action == "latency":
            # Like a busy server: the request is read, then handled after the delay even if the
            # client gave up meanwhile (its timeout fired), so the work still takes effect.
            body = await read_body(receive)
            await asyncio.sleep(fault.seconds)
            await self._throttled(scope, replay_body(body), tracking_send)
        elif action == "status":
            await send_fault_response(fault, tracking_send)
        elif action == "drop_before":
            await drain_body(receive)
            record.status = "dropped"
            record.save()
            await drop_connection(send, receive)
        elif action == "drop_mid":
            await self._throttled(scope, receive, body_cut_short(send, tracking_send, record))
        else:  # drop_after: the request takes effect, the response is lost

            async def discard(message: Message) -> None:
                return None

            await self._throttled(scope, receive, discard)
            record.status = "dropped"
            record.save()
            await drop_connection(send, receive)

    async def _throttled(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, counting API requests against the rate limit and adding ``RateLimit-*`` headers."""
        if not raw_path(scope).startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        name, key = self._rate_key(scope)
        now = self.state.now()
        decision = self.state.rate_limiter.hit(key, now)
        if decision is None:
            await self.app(scope, receive, send)
            return
        headers = [
            (b"ratelimit-limit", str(decision.limit).encode()),
            (b"ratelimit-name", name.encode()),
            (b"ratelimit-observed", str(decision.observed).encode()),
            (b"ratelimit-remaining", str(decision.remaining).encode()),
            (b"ratelimit-reset", str(decision.reset_at).encode()),
        ]
        if decision.throttled:
            body = b"Retry later\n"
            headers += [
                (b"retry-after", str(decision.retry_after(now)).encode()),
                (b"ratelimit-resettime", email.utils.formatdate(decision.reset_at, usegmt=True).encode()),
                (b"content-type", b"text/plain"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({"type": "http.response.start", "status": 429, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *headers]}
            await send(message)

        await self.app(scope, receive, with_headers)

    def _rate_key(self, scope: Scope) -> tuple[str, str]:
        """The throttle name and the budget a request spends: its access token's, else its IP's."""
        headers = Headers(scope=scope)
        token = headers.get("private-token")
        scheme, _, bearer = headers.get("authorization", "").partition(" ")
        if not token and scheme.lower() == "bearer":
            token = bearer.strip()
        if not token:
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            token = query.get("private_token")
        if token and self.state.token_info(token) is not None:
            # Keep a digest, not the token, as the key.
            return "throttle_authenticated_api", "token:" + hashlib.sha256(token.encode()).hexdigest()
        client = scope.get("client") or ("unknown", 0)
        return "throttle_unauthenticated_api", f"ip:{client[0]}"


class _RequestRecord:
    """One request-log entry, saved exactly once."""

    def __init__(self, state: EmulatorState, scope: Scope, path: str, fault: Fault | None) -> None:
        self.state, self.scope, self.path, self.fault = state, scope, path, fault
        self.started, self.at = time.perf_counter(), state.now()
        self.status: int | str | None = None
        self._saved = False

    def save(self) -> None:
        """Append the entry to the request log (once) and, at INFO level, log it."""
        if self._saved:
            return
        self._saved = True
        query = redact_query(self.scope.get("query_string", b""))
        entry = {
            "method": self.scope["method"],
            "path": self.path,
            "query": query,
            "status": self.status,
            "time": iso(self.at),
            "duration_ms": round((time.perf_counter() - self.started) * 1000, 3),
            "fault": self.fault.action if self.fault else None,
        }
        self.state.record_request(entry)
        if logger.isEnabledFor(logging.INFO):
            target = f"{self.path}?{query}" if query else self.path
            logger.info("%s %s %s %.1fms", entry["method"], target, self.status, entry["duration_ms"])


def body_cut_short(send: Send, tracking_send: Send, record: _RequestRecord) -> Send:
    """A send that lets the status, headers and half the body through, then drops the connection.

    Half of the declared ``Content-Length``; without one, half of the first body chunk. The client
    sees a response end early, as when a download breaks off. What the application sends after the
    cut goes nowhere.

    :param send: the server's own ASGI send callable, which leads to the TCP transport.
    :param tracking_send: the request log's send wrapper.
    :param record: the request-log entry, marked ``dropped``.
    """
    left: int | None = None
    cut = False

    async def cutting(message: Message) -> None:
        nonlocal left, cut
        if cut:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if message["type"] != "http.response.body":
            length = Headers(raw=message.get("headers", [])).get("content-length", "")
            left = int(length) // 2 if length.isdigit() else None
            await tracking_send(message)
            return
        body = message.get("body", b"")
        share = len(body) // 2 if left is None else min(left, len(body))
        await tracking_send({"type": "http.response.body", "body": body[:share], "more_body": True})
        if left is not None and share < left:
            left -= share
            return
        cut = True
        record.status = "dropped"
        record.save()
        transport = server_transport(send)
        if transport is None:
            raise ConnectionDropped("connection dropped by an emulator fault")
        transport.abort()

    return cutting


def raw_path(scope: Scope) -> str:
    """The request path as sent, percent-encoding intact.

    :param scope: the ASGI scope.
    """
    raw = scope.get("raw_path")
    return raw.decode("latin-1") if raw else scope["path"]


def redact_query(query_string: bytes) -> str:
    """The query string with token values replaced by ``[REDACTED]``.

    :param query_string: the raw query string.
    """
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    if not pairs:
        return ""
    cleaned = [(key, REDACTED if key in SECRET_PARAMS else value) for key, value in pairs]
    return urlencode(cleaned, safe="[]/:")


async def send_fault_response(fault: Fault, send: Send) -> None:
    """Answer with the fault's status, body, content type and headers.

    :param fault: a ``status`` fault.
    :param send: the ASGI send callable.
    """
    body = (fault.body or "").encode()
    content_type = fault.content_type
    if "charset" not in content_type and (content_type.startswith("text/") or "json" in content_type):
        content_type += "; charset=utf-8"
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    headers += [(name.lower().encode(), value.encode()) for name, value in fault.headers.items()]
    await send({"type": "http.response.start", "status": fault.status or 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes:
    """The whole request body.

    :param receive: the ASGI receive callable.
    :returns: the body's bytes.
    """
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def replay_body(body: bytes, then: Receive | None = None) -> Receive:
    """A receive callable that hands the app an already-read body, then reports a disconnect.

    :param body: the request body.
    :param then: the server's receive, to pass later calls on to (so a real disconnect is seen);
        ``None`` reports a disconnect at once.
    :returns: the ASGI receive callable.
    """
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await then() if then is not None else {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def drain_body(receive: Receive) -> None:
    """Read the whole request body, so the client has sent everything before the connection drops.

    :param receive: the ASGI receive callable.
    """
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            return


def server_transport(send: Send) -> Any:
    """The TCP transport behind uvicorn's ``send``, or ``None``.

    Uvicorn passes ``send`` as a bound method of its per-request cycle object, which holds the
    connection's ``transport`` (for both the httptools and the h11 protocol).

    :param send: the server's ASGI send callable, or a wrapper of it that names it as ``__wrapped__``.
    """
    owner = getattr(inspect.unwrap(send), "__self__", None)
    transport = getattr(owner, "transport", None)
    return transport if callable(getattr(transport, "abort", None)) else None


async def drop_connection(send: Send, receive: Receive) -> None:
    """Close the connection without a response.

    With uvicorn the transport is aborted: the client sees the connection closed after sending its
    request (``requests`` raises ``ConnectionError``; httpx ``RemoteProtocolError``). Fallback for
    other servers: start a response that promises one byte and raise :class:`ConnectionDropped`, so
    the server closes the connection mid-response; clients then see a broken response instead.

    :param send: the server's own ASGI send callable (not a wrapper).
    :param receive: the ASGI receive callable.
    :raises ConnectionDropped: in the fallback only.
    """
    transport = server_transport(send)
    if transport is None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"1"), (b"connection", b"close")],
            }
        )
        raise ConnectionDropped("connection dropped by an emulator fault")
    transport.abort()
    # Let uvicorn see the disconnect before the app returns, so it does not try to answer.
    with suppress(asyncio.TimeoutError):
        await asyncio.wait_for(_until_disconnect(receive), timeout=1.0)


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
