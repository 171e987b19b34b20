"""Following a pipeline on the worker: read it every poll until it stops running.

The loop ends when the pipeline is no longer running, when the deadline passes, or when the task
was killed; the caller decides what each end means (cancel, raise, or judge with
:mod:`~airflow_provider_dataops.follow.verdict`). The deferred path follows pipelines in the
triggerer through :mod:`~airflow_provider_dataops.follow.project_poll` instead.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_dataops.api import retry
from airflow_provider_dataops.api.retry import is_retryable
from airflow_provider_dataops.api.statuses import ManualPolicy, Outcome, classify_pipeline_status
from airflow_provider_dataops.errors import DataOpsError

if TYPE_CHECKING:  # the hook's module loads only when a task runs (python -m benchmarks imports)
    from airflow_provider_dataops.hooks.dataops import DataOpsHook

_Read = TypeVar("_Read")


@dataclass(frozen=True)
class Deadline:
    """When waiting must stop (epoch seconds, None for never), and the limit's argument name."""

    at: float | None
    name: str = "timeout"


class WaitEnd(enum.Enum):
    """Why :func:`wait_on_worker` returned."""

    STOPPED_RUNNING = "stopped running"
    DEADLINE = "deadline"
    KILLED = "killed"


def earliest_deadline(
    timeout: float | None, execution_timeout: timedelta | None, try_started: datetime | None
) -> Deadline:
    """The earliest of ``timeout`` (from now) and ``execution_timeout`` (from the try's start)."""
    candidates: list[tuple[float, str]] = []
    if timeout is not None:
        candidates.append((time.time() + timeout, "timeout"))
    if execution_timeout is not None:
        begun = try_started.timestamp() if try_started else time.time()
        candidates.append((begun + execution_timeout.total_seconds(), "execution_timeout"))
    if not candidates:
        return Deadline(None)
    return Deadline(*min(candidates))


def wait_on_worker(
    hook: DataOpsHook,
    project: int | str,
    pipeline: dict[str, Any],
    *,
    manual_policy: ManualPolicy,
    poll_interval: float,
    deadline: Deadline,
    killed: Callable[[], bool],
    log: Any,
    on_poll: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], WaitEnd]:
    """Poll until the pipeline is no longer running, the deadline passes, or ``killed()`` says so.

    A read that fails with a retryable error (after the hook's own retries) is tried again at the
    next poll. :returns: The last pipeline read, and why the wait ended.

    :param on_poll: Called with the pipeline at each poll, and once more when it stopped running
        (the job log stream of :mod:`~airflow_provider_dataops.follow.job_logs`).
    """
    return poll_on_worker(
        pipeline,
        waiting=lambda current: classify_pipeline_status(current["status"], manual_policy) is Outcome.RUNNING,
        read=lambda current: hook.get_pipeline(project, current["id"]),
        describe=lambda current: f"Pipeline {current['id']} is {current['status']}.",
        poll_interval=poll_interval,
        deadline=deadline,
        killed=killed,
        log=log,
        on_poll=on_poll,
    )


def poll_on_worker(
    current: _Read,
    *,
    waiting: Callable[[_Read], bool],
    read: Callable[[_Read], _Read],
    describe: Callable[[_Read], str],
    poll_interval: float,
    deadline: Deadline,
    killed: Callable[[], bool],
    log: Any,
    on_poll: Callable[[_Read], None] | None = None,
) -> tuple[_Read, WaitEnd]:
    """The worker's poll loop, for a pipeline or a job: read again every ``poll_interval`` while ``waiting``.

    :param current: What was read last.
    :param waiting: Whether to go on waiting at ``current``.
    :param read: Reads the thing again (given the last read).
    :param describe: The log line for each poll.
    :param on_poll: Called with what was read at each poll, and once more when the wait ends
        because ``waiting`` turned false (the job log stream of :mod:`~airflow_provider_dataops.follow.job_logs`).
    :returns: The last read, and why the wait ended. A read that fails with a retryable error
        (after the hook's own retries) is tried again at the next poll.
    """
    while waiting(current):
        log.info("%s", describe(current))
        if on_poll is not None:
            on_poll(current)
        remaining = None if deadline.at is None else deadline.at - time.time()
        if remaining is not None and remaining <= 0:
            return current, WaitEnd.DEADLINE
        retry.sleep(poll_interval if remaining is None else min(poll_interval, remaining))
        if killed():
            return current, WaitEnd.KILLED
        try:
            current = read(current)
        except DataOpsError as error:
            if not is_retryable(error):
                raise
            log.warning("%s Reading it again failed (%s); trying again next poll.", describe(current), error)
    if on_poll is not None:
        on_poll(current)  # what finished since the last poll
    return current, WaitEnd.STOPPED_RUNNING


def state_after_stop(hook: DataOpsHook, project: int | str, pipeline_id: int, *, cancel_sent: bool) -> str:
    """One read, no waiting: the pipeline's state, for the last words of a task that stops.

    :param cancel_sent: This task asked DataOps.live to cancel the pipeline.
    """
    try:
        status = str(hook.get_pipeline(project, pipeline_id)["status"])
    except DataOpsError as error:
        return f"its state could not be read ({error})."
    if classify_pipeline_status(status, ManualPolicy.WAIT) is not Outcome.RUNNING:
        return f"it is now {status}."
    if cancel_sent:
        return f"it is still {status}; DataOps.live finishes canceling it on its own."
    return f"it is still {status} and keeps running."
