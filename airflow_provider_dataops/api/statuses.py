"""Pipeline and job status semantics: the single place that knows what each GitLab status means.

The hook, operators, sensor and trigger all ask :func:`classify_pipeline_status` rather than
comparing strings themselves. GitLab's full set (``Ci::HasStatus``) has 13 statuses; ``canceling``
(``after_script`` still running) and ``scheduled`` (a delayed job that starts by itself) are not
terminal. ``manual`` blocks until a human acts, so what it means is a :class:`ManualPolicy`.
An unknown status (a newer GitLab) counts as still running and is logged.
"""

from __future__ import annotations

import enum
import logging

from airflow_provider_dataops.api.choices import Choice
from airflow_provider_dataops.errors import DataOpsConfigError

log = logging.getLogger(__name__)


class PipelineStatus(str, enum.Enum):
    """Every status a GitLab pipeline or job can report."""

    CREATED = "created"
    WAITING_FOR_RESOURCE = "waiting_for_resource"
    PREPARING = "preparing"
    WAITING_FOR_CALLBACK = "waiting_for_callback"
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELING = "canceling"
    CANCELED = "canceled"
    SKIPPED = "skipped"
    MANUAL = "manual"
    SCHEDULED = "scheduled"


#: Finished for good (GitLab's COMPLETED group).
TERMINAL_STATUSES = frozenset(
    {PipelineStatus.SUCCESS, PipelineStatus.FAILED, PipelineStatus.CANCELED, PipelineStatus.SKIPPED}
)
#: Finished, and not as the user wanted.
FAILURE_STATUSES = frozenset({PipelineStatus.FAILED, PipelineStatus.CANCELED, PipelineStatus.SKIPPED})
#: Still moving by itself: queued, running, canceling or scheduled.
ACTIVE_STATUSES = frozenset(PipelineStatus) - TERMINAL_STATUSES - {PipelineStatus.MANUAL}


class ManualPolicy(Choice):
    """What a pipeline waiting in ``manual`` means for the task watching it.

    * ``fail``: nobody is going to press the button; fail the task (the default).
    * ``succeed``: the automatic part has finished; treat it as success.
    * ``wait``: keep waiting until someone plays the manual job and the pipeline finishes.
    """

    FAIL = "fail"
    SUCCEED = "succeed"
    WAIT = "wait"


class Outcome(str, enum.Enum):
    """What a status means for a task waiting on the pipeline."""

    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"


_UNKNOWN_SEEN: set[str] = set()


def parse_status(status: str) -> PipelineStatus | None:
    """The known status, or None for one this provider does not know (logged once per value)."""
    try:
        return PipelineStatus(status)
    except ValueError:
        if status not in _UNKNOWN_SEEN:
            _UNKNOWN_SEEN.add(status)
            log.warning("Unknown DataOps.live status %r: treating it as still running.", status)
        return None


def classify_pipeline_status(status: str, manual_policy: ManualPolicy = ManualPolicy.FAIL) -> Outcome:
    """Map a pipeline status to :class:`Outcome`.

    :param status: The ``status`` field of a pipeline.
    :param manual_policy: What ``manual`` means.
    """
    known = parse_status(status)
    if known is None:
        return Outcome.RUNNING
    if known is PipelineStatus.MANUAL:
        return {
            ManualPolicy.FAIL: Outcome.FAILURE,
            ManualPolicy.SUCCEED: Outcome.SUCCESS,
            ManualPolicy.WAIT: Outcome.RUNNING,
        }[manual_policy]
    if known is PipelineStatus.SUCCESS:
        return Outcome.SUCCESS
    if known in FAILURE_STATUSES:
        return Outcome.FAILURE
    return Outcome.RUNNING


def worth_waiting_for(status: str, manual_policy: ManualPolicy = ManualPolicy.FAIL) -> bool:
    """Still on its way to an outcome: running by the policy, and not being canceled.

    A retried task re-attaches to an earlier pipeline only if this holds (or it succeeded).
    """
    return status != PipelineStatus.CANCELING and classify_pipeline_status(status, manual_policy) is Outcome.RUNNING


def check_job_scope(scope: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """Validate the ``scope`` filter of a job listing: one status or several.

    :returns: The statuses as a list (empty for no filter).
    """
    if scope is None:
        return []
    values = [scope] if isinstance(scope, str) else list(scope)
    known = {status.value for status in PipelineStatus}
    unknown = [value for value in values if value not in known]
    if unknown or not values:
        raise DataOpsConfigError(f"scope must be one or more job statuses ({', '.join(sorted(known))}), got {scope!r}")
    return values


class JobEnd(str, enum.Enum):
    """What a job's status means for the task that stands for it in a pipeline task group."""

    RUNNING = "running"  # queued, running, canceling, scheduled, or an unknown status
    MANUAL = "manual"  # waiting for a person to play it
    SUCCESS = "success"
    FAILED = "failed"
    ALLOWED_FAILURE = "allowed_failure"  # failed with ``allow_failure``: the pipeline goes on
    SKIPPED = "skipped"  # skipped or canceled: it did not run to an end of its own


def classify_job_status(status: str, allow_failure: bool = False) -> JobEnd:
    """Map a job status (and its ``allow_failure``) to :class:`JobEnd`.

    :param status: The ``status`` field of a job.
    :param allow_failure: The job's ``allow_failure`` field.
    """
    known = parse_status(status)
    if known is PipelineStatus.SUCCESS:
        return JobEnd.SUCCESS
    if known is PipelineStatus.FAILED:
        return JobEnd.ALLOWED_FAILURE if allow_failure is True else JobEnd.FAILED
    if known in (PipelineStatus.SKIPPED, PipelineStatus.CANCELED):
        return JobEnd.SKIPPED
    if known is PipelineStatus.MANUAL:
        return JobEnd.MANUAL
    return JobEnd.RUNNING
