"""Pipeline schedule methods of :class:`~airflow_provider_dataops.hooks.dataops.DataOpsHook`.

Kept apart from the hook's transport code; every argument is checked here, before any request.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from airflow_provider_dataops.api.paths import api_path, check_ref, numeric_id, resource_id
from airflow_provider_dataops.api.variables import normalize_variables
from airflow_provider_dataops.errors import DataOpsConfigError

#: ``scope`` values of ``GET /projects/:id/pipeline_schedules``.
SCHEDULE_SCOPES = ("active", "inactive")
#: ``variable_type`` values of a schedule variable.
VARIABLE_TYPES = ("env_var", "file")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def schedule_path(project: object, schedule_id: object | None = None, *rest: str) -> str:
    """``/projects/:id/pipeline_schedules[/:schedule_id[/rest...]]``, each parameter checked and encoded."""
    segments: list[str | int] = ["projects", resource_id(project, "project"), "pipeline_schedules"]
    if schedule_id is not None:
        segments.append(numeric_id(schedule_id, "schedule_id"))
    return api_path(*segments, *rest)


def schedule_variable(key: Any, value: Any = None, variable_type: Any = None) -> dict[str, str]:
    """A schedule variable's fields, checked like pipeline variables (``value`` None: not given)."""
    checked = normalize_variables({key: "" if value is None else value}, "schedule variable")
    body = {"key": key} if value is None else {"key": key, "value": checked[key]}
    if variable_type is not None:
        if variable_type not in VARIABLE_TYPES:
            raise DataOpsConfigError(f"variable_type must be one of {', '.join(VARIABLE_TYPES)}, got {variable_type!r}")
        body["variable_type"] = variable_type
    return body


def _text(value: Any, name: str, example: str) -> str:
    if not isinstance(value, str) or not value.strip() or _CONTROL.search(value):
        raise DataOpsConfigError(
            f"{name} must be a non-empty string without control characters such as {example}, got {value!r}"
        )
    return value


def check_cron(cron: Any) -> str:
    """A cron expression of 5 fields (minute hour day month weekday), GitLab's schedule syntax."""
    _text(cron, "cron", "'0 1 * * *'")
    if len(cron.split()) != 5:
        raise DataOpsConfigError(
            f"cron must have 5 fields (minute hour day month weekday), such as '0 1 * * *', got {cron!r}"
        )
    return str(cron)


def schedule_attributes(
    *,
    description: Any = None,
    ref: Any = None,
    cron: Any = None,
    cron_timezone: Any = None,
    active: Any = None,
) -> dict[str, Any]:
    """The given schedule attributes, checked; ``None`` means "not given"."""
    body: dict[str, Any] = {}
    if description is not None:
        body["description"] = _text(description, "description", "'Nightly build'")
    if ref is not None:
        body["ref"] = check_ref(ref)
    if cron is not None:
        body["cron"] = check_cron(cron)
    if cron_timezone is not None:
        body["cron_timezone"] = _text(cron_timezone, "cron_timezone", "'UTC' or 'Europe/London'")
    if active is not None:
        if not isinstance(active, bool):
            raise DataOpsConfigError(f"active must be True or False, got {active!r}")
        body["active"] = active
    return body


class _Sender(Protocol):
    """What these methods need from the hook they are mixed into."""

    def _json(self, method: str, endpoint: str, **request: Any) -> Any: ...

    def paginate(
        self,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        per_page: int = ...,
        max_pages: int | None = ...,
    ) -> Iterator[dict[str, Any]]: ...


class PipelineScheduleMethods:
    """``/projects/:id/pipeline_schedules``: schedules and their variables.

    Schedules: list, get, create, update, delete, take ownership, play. Variables: create, update,
    delete.
    """

    def list_pipeline_schedules(
        self: _Sender, project: int | str, *, scope: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Iterate over a project's pipeline schedules.

        :param scope: ``"active"`` or ``"inactive"``; ``None`` lists both.
        """
        path = schedule_path(project)
        if scope is not None and scope not in SCHEDULE_SCOPES:
            raise DataOpsConfigError(f"scope must be one of {', '.join(SCHEDULE_SCOPES)} or None, got {scope!r}")
        return self.paginate(path, params={"scope": scope} if scope else None)

    def get_pipeline_schedule(self: _Sender, project: int | str, schedule_id: int | str) -> dict[str, Any]:
        """One schedule, with ``last_pipeline`` and its ``variables``."""
        return self._json("GET", schedule_path(project, schedule_id))

    def create_pipeline_schedule(
        self: _Sender,
        project: int | str,
        *,
        description: str,
        ref: str,
        cron: str,
        cron_timezone: str | None = None,
        active: bool | None = None,
    ) -> dict[str, Any]:
        """Create a schedule and return it.

        Every accepted call creates one, so it is never repeated after an ambiguous failure
        (:class:`~airflow_provider_dataops.errors.DataOpsRequestMaybeAppliedError`).

        :param description: What the schedule is for.
        :param ref: Branch or tag to run (short form, such as ``main``).
        :param cron: Five-field cron expression, such as ``"0 1 * * *"``.
        :param cron_timezone: Time zone name; GitLab's default is ``UTC``.
        :param active: Whether it runs; GitLab's default is ``True``.
        """
        path = schedule_path(project)
        for name, value in (("description", description), ("ref", ref), ("cron", cron)):
            if value is None:
                raise DataOpsConfigError(f"{name} is required to create a pipeline schedule")
        body = schedule_attributes(
            description=description, ref=ref, cron=cron, cron_timezone=cron_timezone, active=active
        )
        return self._json("POST", path, json=body)

    def update_pipeline_schedule(
        self: _Sender,
        project: int | str,
        schedule_id: int | str,
        *,
        description: str | None = None,
        ref: str | None = None,
        cron: str | None = None,
        cron_timezone: str | None = None,
        active: bool | None = None,
    ) -> dict[str, Any]:
        """Change the given attributes (``None`` leaves one as it is); returns the schedule.

        Setting the same values again changes nothing, so it is retried like a read.
        """
        path = schedule_path(project, schedule_id)
        body = schedule_attributes(
            description=description, ref=ref, cron=cron, cron_timezone=cron_timezone, active=active
        )
        if not body:
            raise DataOpsConfigError(
                "update_pipeline_schedule needs at least one of description, ref, cron, cron_timezone, active"
            )
        return self._json("PUT", path, json=body, idempotent=True)

    def delete_pipeline_schedule(self: _Sender, project: int | str, schedule_id: int | str) -> None:
        """Delete a schedule. Not repeated after an ambiguous failure: a second delete would answer 404."""
        self._json("DELETE", schedule_path(project, schedule_id))

    def take_pipeline_schedule_ownership(self: _Sender, project: int | str, schedule_id: int | str) -> dict[str, Any]:
        """Make the token's user the owner (scheduled pipelines run as the owner); returns the schedule.

        Taking it again changes nothing, so it is retried like a read.
        """
        return self._json("POST", schedule_path(project, schedule_id, "take_ownership"), idempotent=True)

    def play_pipeline_schedule(self: _Sender, project: int | str, schedule_id: int | str) -> None:
        """Run the schedule now (``source: "schedule"``); its next scheduled run is unaffected.

        GitLab starts the pipeline in the background and answers ``201`` without it: read
        ``last_pipeline`` from :meth:`get_pipeline_schedule`, or list pipelines with
        ``source="schedule"``. Every accepted call starts a pipeline, so it is never repeated after an
        ambiguous failure.
        """
        self._json("POST", schedule_path(project, schedule_id, "play"))

    def create_pipeline_schedule_variable(
        self: _Sender,
        project: int | str,
        schedule_id: int | str,
        key: str,
        value: Any,
        *,
        variable_type: str | None = None,
    ) -> dict[str, Any]:
        """Add a variable to the pipelines the schedule starts; returns ``{key, value, variable_type}``.

        A key the schedule already has is refused (400 *has already been taken*): use
        :meth:`update_pipeline_schedule_variable`. Not repeated after an ambiguous failure; a second
        create would answer that 400.

        :param value: A string, number or boolean; sent as text.
        :param variable_type: ``"env_var"`` (GitLab's default) or ``"file"``.
        """
        path = schedule_path(project, schedule_id, "variables")
        return self._json("POST", path, json=schedule_variable(key, value, variable_type))

    def update_pipeline_schedule_variable(
        self: _Sender,
        project: int | str,
        schedule_id: int | str,
        key: str,
        value: Any,
        *,
        variable_type: str | None = None,
    ) -> dict[str, Any]:
        """Change a schedule variable's value (and type); returns it. Retried like a read."""
        body = schedule_variable(key, value, variable_type)
        path = schedule_path(project, schedule_id, "variables", body.pop("key"))
        return self._json("PUT", path, json=body, idempotent=True)

    def delete_pipeline_schedule_variable(
        self: _Sender, project: int | str, schedule_id: int | str, key: str
    ) -> dict[str, Any]:
        """Remove a schedule variable; returns it as it was (GitLab answers 202).

        Not repeated after an ambiguous failure: a second delete would answer 404.
        """
        path = schedule_path(project, schedule_id, "variables", schedule_variable(key)["key"])
        return self._json("DELETE", path)
