"""The one event a wait in the triggerer ends with, and the check a resuming task applies.

:class:`~airflow_provider_dataops.triggers.pipeline.DataOpsPipelineTrigger` and
:class:`~airflow_provider_dataops.triggers.job.DataOpsJobTrigger` yield them; the operators and the
sensor check them in ``execute_complete`` without importing the triggers (and Airflow's trigger
machinery) at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_dataops.api.statuses import JobEnd
from airflow_provider_dataops.errors import DataOpsError

#: ``status`` values of the one event the pipeline trigger yields.
EVENT_STATUSES = frozenset({"success", "failure", "timeout", "error"})
#: ``status`` values of the one event the job trigger yields: a :class:`JobEnd` (but ``running``), or these.
JOB_EVENT_STATUSES = frozenset({end.value for end in JobEnd} - {JobEnd.RUNNING.value} | {"timeout", "error", "missing"})


def checked_event(event: Any, statuses: frozenset[str], key: str, trigger: str) -> Mapping[str, Any]:
    """``event`` if it is one of a trigger's events: a mapping with a known ``status`` and ``key``.

    :param trigger: How to name the trigger in the error.
    :raises DataOpsError: for anything else (a deferred task may resume with None or a malformed event).
    """
    if not isinstance(event, Mapping) or event.get("status") not in statuses or key not in event:
        raise DataOpsError(f"The {trigger} resumed the task with an unexpected event: {event!r}")
    return event


def check_event(event: Any) -> Mapping[str, Any]:
    """Validate the event a deferred task resumes with (it may be None or malformed).

    :raises DataOpsError: for anything but one of the pipeline trigger's events.
    """
    return checked_event(event, EVENT_STATUSES, "pipeline_id", "trigger")


def check_job_event(event: Any) -> Mapping[str, Any]:
    """Validate the event a deferred job task resumes with (it may be None or malformed).

    :raises DataOpsError: for anything but one of the job trigger's events.
    """
    return checked_event(event, JOB_EVENT_STATUSES, "job_name", "job trigger")
