"""The one event a pipeline wait in the triggerer ends with, and the check a resuming task applies.

:class:`~airflow_provider_dataops.triggers.pipeline.DataOpsPipelineTrigger` yields it; the operators
and the sensor check it in ``execute_complete`` without importing the trigger (and Airflow's
trigger machinery) at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_dataops.errors import DataOpsError

#: ``status`` values of the one event the trigger yields.
EVENT_STATUSES = frozenset({"success", "failure", "timeout", "error"})


def check_event(event: Any) -> Mapping[str, Any]:
    """Validate the event a deferred task resumes with (it may be None or malformed).

    :raises DataOpsError: for anything but one of the pipeline trigger's events.
    """
    if not isinstance(event, Mapping) or event.get("status") not in EVENT_STATUSES or "pipeline_id" not in event:
        raise DataOpsError(f"The trigger resumed the task with an unexpected event: {event!r}")
    return event
