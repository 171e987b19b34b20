"""The control API under ``/-/emulator`` (no auth): what tests use to steer and inspect the emulator."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airflow_provider_dataops.emulator import errors
from airflow_provider_dataops.emulator.clock import iso
from airflow_provider_dataops.emulator.json_response import JSONResponse
from airflow_provider_dataops.emulator.params import json_object
from airflow_provider_dataops.emulator.state import DEMO_GROUP, EmulatorState

PREFIX = "/-/emulator"


async def _json_body(request: Request) -> dict[str, Any]:
    body = await request.body()
    return json_object(body, "the body") if body.strip() else {}


def _number(data: dict[str, Any], name: str) -> float:
    value = data.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise errors.param_error(f"{name} must be a number")
    return float(value)


class Control:
    """Handlers of the control routes over one :class:`EmulatorState`.

    :param state: the emulator's state.
    """

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        """The Starlette routes."""
        return [
            Route(f"{PREFIX}/health", self.health, methods=["GET"]),
            Route(f"{PREFIX}/reset", self.reset, methods=["POST"]),
            Route(f"{PREFIX}/projects/seed", self.seed_projects, methods=["POST"]),
            Route(f"{PREFIX}/faults", self.faults, methods=["GET", "POST", "DELETE"]),
            Route(f"{PREFIX}/requests", self.requests, methods=["GET", "DELETE"]),
            Route(f"{PREFIX}/pipelines", self.pipelines, methods=["GET"]),
            Route(f"{PREFIX}/clock", self.clock, methods=["GET", "POST"]),
            Route(f"{PREFIX}/clock/advance", self.advance, methods=["POST"]),
            Route(f"{PREFIX}/rate-limit", self.rate_limit, methods=["GET", "POST"]),
        ]

    async def health(self, request: Request) -> Response:
        """``GET /-/emulator/health``: ``{"status": "ok"}`` once serving."""
        return JSONResponse({"status": "ok"})

    async def reset(self, request: Request) -> Response:
        """``POST /-/emulator/reset``: back to the seeded state."""
        self.state.reset()
        return JSONResponse({"status": "reset"})

    async def seed_projects(self, request: Request) -> Response:
        """``POST /-/emulator/projects/seed`` ``{"count": N, "namespace": "demo"}``."""
        data = await _json_body(request)
        count = data.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise errors.param_error("count must be a non-negative integer")
        try:
            created = self.state.seed_projects(count, str(data.get("namespace") or DEMO_GROUP))
        except ValueError as exc:
            raise errors.param_error(str(exc)) from None
        return JSONResponse({"created": created, "total": len(self.state.projects())}, status_code=201)

    async def faults(self, request: Request) -> Response:
        """``GET`` lists, ``POST`` adds (201, the fault with its id), ``DELETE`` clears (204)."""
        if request.method == "DELETE":
            self.state.clear_faults()
            return Response(status_code=204)
        if request.method == "POST":
            try:
                fault = self.state.add_fault(await _json_body(request))
            except ValueError as exc:
                raise errors.param_error(str(exc)) from None
            return JSONResponse(fault.to_dict(), status_code=201)
        with self.state.lock:
            return JSONResponse([fault.to_dict() for fault in self.state.faults])

    async def requests(self, request: Request) -> Response:
        """``GET`` the request log (oldest first), ``DELETE`` empties it (204)."""
        if request.method == "DELETE":
            self.state.clear_requests()
            return Response(status_code=204)
        return JSONResponse(self.state.requests())

    async def pipelines(self, request: Request) -> Response:
        """``GET /-/emulator/pipelines``: every pipeline since the last reset."""
        return JSONResponse(self.state.pipeline_records(str(request.base_url).rstrip("/")))

    def _clock_json(self) -> dict[str, Any]:
        now = self.state.now()
        return {"now": iso(now), "epoch": now, "mode": self.state.clock.mode}

    async def clock(self, request: Request) -> Response:
        """``GET`` the clock; ``POST {"mode": "manual"|"real"}`` switches it until the next reset."""
        if request.method == "POST":
            mode = (await _json_body(request)).get("mode")
            if mode not in ("real", "manual"):
                raise errors.param_error("mode must be 'real' or 'manual'")
            self.state.set_clock_mode(mode)
        return JSONResponse(self._clock_json())

    async def advance(self, request: Request) -> Response:
        """``POST /-/emulator/clock/advance`` ``{"seconds": x}``."""
        seconds = _number(await _json_body(request), "seconds")
        if seconds < 0:
            raise errors.param_error("seconds must not be negative")
        self.state.advance(seconds)
        return JSONResponse(self._clock_json())

    async def rate_limit(self, request: Request) -> Response:
        """``GET`` or ``POST {"requests_per_minute": N | null}`` the throttle until the next reset."""
        limiter = self.state.rate_limiter
        if request.method == "POST":
            value = (await _json_body(request)).get("requests_per_minute")
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise errors.param_error("requests_per_minute must be a positive integer or null")
            limiter.limit = value
            limiter.clear()
        return JSONResponse({"requests_per_minute": limiter.limit})
