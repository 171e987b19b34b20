"""Pipeline schedules, kept per project. They never fire on their own.

The emulator has no scheduler: a schedule runs only when played (``POST .../play``), which starts a
pipeline with ``source: "schedule"`` at once.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_dataops.emulator import errors
from airflow_provider_dataops.emulator.model import Project, User


@dataclass(slots=True)
class Schedule:
    """A pipeline schedule of a project."""

    id: int
    project: Project
    description: str
    ref: str
    cron: str
    cron_timezone: str
    active: bool
    owner: User
    created_at: float
    updated_at: float
    last_pipeline_id: int | None = None
    variables: list[dict[str, str]] = field(default_factory=list)

    def next_run_at(self, now: float) -> float | None:
        """The next full hour: the emulator does not evaluate cron (and never fires a schedule)."""
        return (math.floor(now / 3600) + 1) * 3600.0 if self.active else None


class ScheduleBook:
    """Every project's schedules, with GitLab's 404 for an unknown one."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._schedules: dict[int, Schedule] = {}
        self._next_id = 1

    def create(self, project: Project, owner: User, now: float, attributes: dict[str, Any]) -> Schedule:
        """Add a schedule (``cron_timezone`` defaults to ``UTC``, ``active`` to true)."""
        with self._lock:
            schedule = Schedule(
                id=self._next_id,
                project=project,
                description=attributes["description"],
                ref=attributes["ref"],
                cron=attributes["cron"],
                cron_timezone=attributes.get("cron_timezone", "UTC"),
                active=attributes.get("active", True),
                owner=owner,
                created_at=now,
                updated_at=now,
            )
            self._schedules[schedule.id] = schedule
            self._next_id += 1
            return schedule

    def find(self, project: Project, schedule_id: int) -> Schedule:
        """A schedule of ``project``; 404 ``{"message": "404 Pipeline Schedule Not Found"}`` otherwise."""
        with self._lock:
            schedule = self._schedules.get(schedule_id)
        if schedule is None or schedule.project is not project:
            raise errors.not_found("Pipeline Schedule")
        return schedule

    def of(self, project: Project) -> list[Schedule]:
        """The schedules of ``project``, oldest first."""
        with self._lock:
            return [schedule for schedule in self._schedules.values() if schedule.project is project]

    def update(self, schedule: Schedule, now: float, attributes: dict[str, Any]) -> None:
        """Change the given attributes."""
        with self._lock:
            for name, value in attributes.items():
                setattr(schedule, name, value)
            schedule.updated_at = now

    def add_variable(self, schedule: Schedule, variable: dict[str, str]) -> None:
        """Add a variable; 400 ``{"message": {"key": ["has already been taken"]}}`` for a key it has."""
        with self._lock:
            if any(existing["key"] == variable["key"] for existing in schedule.variables):
                raise errors.message(400, {"key": ["has already been taken"]})
            schedule.variables.append(variable)

    def variable(self, schedule: Schedule, key: str) -> dict[str, str]:
        """A variable of ``schedule``; 404 ``{"message": "404 Pipeline Schedule Variable Not Found"}`` otherwise."""
        with self._lock:
            found = next((variable for variable in schedule.variables if variable["key"] == key), None)
        if found is None:
            raise errors.not_found("Pipeline Schedule Variable")
        return found

    def remove_variable(self, schedule: Schedule, key: str) -> dict[str, str]:
        """Remove a variable and return it (404 as :meth:`variable`)."""
        with self._lock:
            found = self.variable(schedule, key)
            schedule.variables.remove(found)
            return found

    def delete(self, schedule: Schedule) -> None:
        """Remove a schedule."""
        with self._lock:
            self._schedules.pop(schedule.id, None)
