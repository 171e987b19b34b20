"""Assembles the emulator's ASGI application."""

from __future__ import annotations

import email.utils
import functools
from http import HTTPStatus

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_dataops.emulator.api_artifacts import ArtifactApi
from airflow_provider_dataops.emulator.api_schedules import ApiWithSchedules
from airflow_provider_dataops.emulator.control import Control
from airflow_provider_dataops.emulator.errors import ApiError
from airflow_provider_dataops.emulator.faults import EmulatorMiddleware
from airflow_provider_dataops.emulator.guards import BodyLimit, ControlGuard
from airflow_provider_dataops.emulator.json_response import JSONResponse
from airflow_provider_dataops.emulator.middleware import HttpMiddleware
from airflow_provider_dataops.emulator.pages import Pages
from airflow_provider_dataops.emulator.state import EmulatorState


class ServerDate(HttpMiddleware):
    """A ``Date`` header on every answer, by the emulator's clock, as GitLab dates by its own.

    Clients measure a reset time (``RateLimit-Reset``) or a server's clock from ``Date``; the ASGI
    server's own header would follow the wall clock, which the emulator's clock leaves behind once
    a test moves it or a manual clock has stood still.

    :param app: the application.
    :param state: whose clock dates the answers.
    """

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        super().__init__(app)
        self.state = state

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; date the answer as it starts."""

        async def dated(message: Message) -> None:
            headers = message.get("headers", [])
            # A fault may set its own Date (a broken server's); the answer keeps it then.
            if message["type"] == "http.response.start" and not any(k.lower() == b"date" for k, _ in headers):
                date = email.utils.formatdate(self.state.now(), usegmt=True).encode()
                message = {**message, "headers": [*headers, (b"date", date)]}
            await send(message)

        # The drop fault reaches the server's connection through its send (faults.server_transport).
        functools.update_wrapper(dated, send, assigned=(), updated=())
        await self.app(scope, receive, dated)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body, status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    # Grape's answers for an unknown route and a wrong method.
    assert isinstance(exc, HTTPException)
    text = "405 Not Allowed" if exc.status_code == 405 else f"{exc.status_code} {HTTPStatus(exc.status_code).phrase}"
    return JSONResponse({"error": text}, status_code=exc.status_code, headers=exc.headers)


class RawPathRouting:
    """Route on the raw path, so a URL-encoded ``:id`` (``demo%2Fproject``) stays one path segment.

    :param app: the application to call.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        raw = scope.get("raw_path")
        if scope["type"] == "http" and raw:
            scope = {**scope, "path": raw.decode("latin-1")}
        await self.app(scope, receive, send)


class PagesBesideApi:
    """Send a browser's ``GET`` (or ``HEAD``) outside ``/api/`` and ``/-/`` to the HTML pages.

    Everything else reaches the API untouched, so an unknown API route still gets GitLab's JSON 404
    and pages never pass through the API's faults, throttle or request log.

    :param pages: the pages application.
    :param api: the API application.
    """

    def __init__(self, pages: ASGIApp, api: ASGIApp) -> None:
        self.pages = pages
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if (
            scope["type"] == "http"
            and scope["method"] in ("GET", "HEAD")
            and not scope["path"].startswith(("/api/", "/-/"))
        ):
            await self.pages(scope, receive, send)
        else:
            await self.api(scope, receive, send)


def create_app(state: EmulatorState, bind_host: str = "127.0.0.1") -> ASGIApp:
    """The emulator as an ASGI application (serve it with any ASGI server; uvicorn can drop connections).

    :param state: the state it serves.
    :param bind_host: the interface it listens on, a ``Host`` the control API accepts.
    :returns: the HTML pages beside the API; the API wrapped in the fault, throttle and request-log
        middleware; all of it behind the body limit and the control API's guard, every answer
        dated by the emulator's clock.
    """
    api = Starlette(
        routes=[*ApiWithSchedules(state).routes(), *ArtifactApi(state).routes(), *Control(state).routes()],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
    )
    app = PagesBesideApi(Pages(state).app(), EmulatorMiddleware(RawPathRouting(api), state))
    return ServerDate(BodyLimit(ControlGuard(app, bind_host)), state)
