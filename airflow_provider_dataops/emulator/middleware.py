"""The base of the emulator's own ASGI middleware: act on HTTP requests, pass the rest through."""

from __future__ import annotations

import abc

from starlette.types import ASGIApp, Receive, Scope, Send

#: Where the control API lives; the API's faults, throttle, log and body limit do not apply there.
CONTROL_PREFIX = "/-/emulator"


class HttpMiddleware(abc.ABC):
    """Calls :meth:`handle` for HTTP requests; lifespan and other scopes go straight to the app.

    :param app: the application behind this middleware.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    @abc.abstractmethod
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer, or pass on to ``self.app``, one HTTP request."""
