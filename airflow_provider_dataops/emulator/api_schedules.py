"""``/projects/:id/pipeline_schedules``: list, get, create, update, delete, take ownership, play."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request
from starlette.responses import Response

import airflow_provider_dataops.emulator.routing  # noqa: F401  (registers {name:id})
from airflow_provider_dataops.emulator import errors
from airflow_provider_dataops.emulator.api import Api, base_url
from airflow_provider_dataops.emulator.filters import truthy
from airflow_provider_dataops.emulator.json_response import JSONResponse
from airflow_provider_dataops.emulator.pagination import offset_page
from airflow_provider_dataops.emulator.params import request_params
from airflow_provider_dataops.emulator.schedules import Schedule
from airflow_provider_dataops.emulator.serializers import schedule_detail_json, schedule_json

SCOPES = frozenset({"active", "inactive"})
#: One cron field: numbers, ranges, steps, lists, ``*`` and month or weekday names.
_CRON_FIELD = re.compile(
    r"^(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?)*$"
)
EDITABLE = ("description", "ref", "cron", "cron_timezone", "active")
VARIABLE_TYPES = frozenset({"env_var", "file"})
_VARIABLE_KEY = re.compile(r"^[A-Za-z0-9_]{1,255}$")
_PATH = "/projects/{id}/pipeline_schedules"
_ONE = _PATH + "/{schedule_id:id}"
_VARIABLE = _ONE + "/variables/{key}"


def _valid_cron(cron: str) -> bool:
    fields = cron.split()
    return len(fields) == 5 and all(_CRON_FIELD.match(part) for part in fields)


def _valid_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def checked_attributes(params: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """The schedule attributes among ``params``, checked the way GitLab checks them.

    :param params: the request parameters.
    :param creating: ``description``, ``ref`` and ``cron`` are then required.
    :raises ApiError: 400 ``{"error": "... is missing"}`` or ``{"message": {field: [...]}}``.
    """
    if creating:
        missing = [name for name in ("description", "ref", "cron") if params.get(name) in (None, "")]
        if missing:
            raise errors.param_error(", ".join(f"{name} is missing" for name in missing))
    found = {name: params[name] for name in EDITABLE if params.get(name) is not None}
    for name in ("description", "ref", "cron", "cron_timezone"):
        if name in found:
            found[name] = str(found[name])
    if "active" in found:
        active = found["active"]
        found["active"] = active if isinstance(active, bool) else truthy(str(active))
    invalid: dict[str, list[str]] = {}
    if "cron" in found and not _valid_cron(found["cron"]):
        invalid["cron"] = [" is invalid syntax"]
    if "cron_timezone" in found and not _valid_timezone(found["cron_timezone"]):
        invalid["cron_timezone"] = [" is invalid syntax"]
    for name in ("description", "ref"):
        if name in found and not found[name].strip():
            invalid[name] = ["can't be blank"]
    if invalid:
        raise errors.message(400, invalid)
    return found


class ApiWithSchedules(Api):
    """The API, with GitLab's pipeline schedule routes."""

    def extra_routes(self) -> list[tuple[str, Callable[[Request], Any], str]]:
        """The schedule routes."""
        return [
            (_PATH, self.list_schedules, "GET"),
            (_PATH, self.create_schedule, "POST"),
            (_ONE, self.get_schedule, "GET"),
            (_ONE, self.update_schedule, "PUT"),
            (_ONE, self.delete_schedule, "DELETE"),
            (_ONE + "/take_ownership", self.take_ownership, "POST"),
            (_ONE + "/play", self.play_schedule, "POST"),
            (_ONE + "/variables", self.create_variable, "POST"),
            (_VARIABLE, self.update_variable, "PUT"),
            (_VARIABLE, self.delete_variable, "DELETE"),
        ]

    def _schedule(self, request: Request) -> Schedule:
        project = self._project(request, self._user(request))
        return self.state.schedules.find(project, request.path_params["schedule_id"])

    def _schedule_response(self, request: Request, schedule: Schedule, status: int = 200) -> JSONResponse:
        with self.state.lock:
            last = None
            if schedule.last_pipeline_id is not None:
                last = self.state.find_pipeline(schedule.project, schedule.last_pipeline_id)
            body = schedule_detail_json(schedule, self.state.now(), base_url(request), last)
        return JSONResponse(body, status_code=status)

    async def list_schedules(self, request: Request) -> Response:
        """``GET .../pipeline_schedules`` with ``scope`` (``active`` or ``inactive``)."""
        project = self._project(request, self._user(request))
        scope = request.query_params.get("scope")
        if scope and scope not in SCOPES:
            raise errors.param_error("scope does not have a valid value")
        schedules = [
            schedule
            for schedule in self.state.schedules.of(project)
            if not scope or schedule.active == (scope == "active")
        ]
        page, headers = offset_page(schedules, request.url, request.query_params)
        now, base = self.state.now(), base_url(request)
        return JSONResponse([schedule_json(schedule, now, base) for schedule in page], headers=headers)

    async def create_schedule(self, request: Request) -> Response:
        """``POST .../pipeline_schedules``: 201; ``description``, ``ref`` and ``cron`` required."""
        user = self._user(request)
        project = self._project(request, user)
        attributes = checked_attributes(await request_params(request), creating=True)
        schedule = self.state.schedules.create(project, user, self.state.now(), attributes)
        return self._schedule_response(request, schedule, 201)

    async def get_schedule(self, request: Request) -> Response:
        """``GET .../pipeline_schedules/:id``: with ``last_pipeline`` and ``variables``."""
        return self._schedule_response(request, self._schedule(request))

    async def update_schedule(self, request: Request) -> Response:
        """``PUT .../pipeline_schedules/:id``: changes the given attributes."""
        schedule = self._schedule(request)
        attributes = checked_attributes(await request_params(request), creating=False)
        self.state.schedules.update(schedule, self.state.now(), attributes)
        return self._schedule_response(request, schedule)

    async def delete_schedule(self, request: Request) -> Response:
        """``DELETE .../pipeline_schedules/:id``: 204."""
        self.state.schedules.delete(self._schedule(request))
        return Response(status_code=204)

    async def take_ownership(self, request: Request) -> Response:
        """``POST .../take_ownership``: 201; the token's user becomes the owner."""
        schedule = self._schedule(request)
        self.state.schedules.update(schedule, self.state.now(), {"owner": self.state.user})
        return self._schedule_response(request, schedule, 201)

    async def play_schedule(self, request: Request) -> Response:
        """``POST .../play``: 201 ``{"message": "201 Created"}``; starts a ``schedule`` pipeline.

        GitLab starts it in the background, so the answer does not carry it; here it exists at once.
        """
        schedule = self._schedule(request)
        pipeline = self.state.create_pipeline(
            schedule.project,
            ref=schedule.ref,
            variables=[dict(variable) for variable in schedule.variables],
            source="schedule",
        )
        schedule.last_pipeline_id = pipeline.id
        return JSONResponse({"message": "201 Created"}, status_code=201)

    async def create_variable(self, request: Request) -> Response:
        """``POST .../variables``: 201 and the variable; ``key`` and ``value`` required, keys unique."""
        schedule = self._schedule(request)
        params = await request_params(request)
        missing = [name for name in ("key", "value") if params.get(name) is None]
        if missing:
            raise errors.param_error(", ".join(f"{name} is missing" for name in missing))
        key = str(params["key"])
        if not _VARIABLE_KEY.match(key):
            raise errors.message(400, {"key": ["can contain only letters, digits and '_'."]})
        variable = {"key": key, "value": str(params["value"]), "variable_type": _variable_type(params)}
        self.state.schedules.add_variable(schedule, variable)
        return JSONResponse(variable_json(variable), status_code=201)

    async def update_variable(self, request: Request) -> Response:
        """``PUT .../variables/:key``: 200 and the variable; ``value`` and ``variable_type`` may change."""
        schedule = self._schedule(request)
        variable = self.state.schedules.variable(schedule, request.path_params["key"])
        params = await request_params(request)
        if params.get("value") is not None:
            variable["value"] = str(params["value"])
        if params.get("variable_type") is not None:
            variable["variable_type"] = _variable_type(params)
        return JSONResponse(variable_json(variable))

    async def delete_variable(self, request: Request) -> Response:
        """``DELETE .../variables/:key``: 202 and the deleted variable."""
        schedule = self._schedule(request)
        variable = self.state.schedules.remove_variable(schedule, request.path_params["key"])
        return JSONResponse(variable_json(variable), status_code=202)


def _variable_type(params: dict[str, Any]) -> str:
    value = str(params.get("variable_type") or "env_var")
    if value not in VARIABLE_TYPES:
        raise errors.param_error("variable_type does not have a valid value")
    return value


def variable_json(variable: dict[str, str]) -> dict[str, Any]:
    """A schedule variable as GitLab presents it (``Entities::Ci::Variable``, the fields it fills)."""
    return {"variable_type": "env_var", **variable, "raw": False}
