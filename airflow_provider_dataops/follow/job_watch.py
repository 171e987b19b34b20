"""Following one job of a pipeline while waiting: on the worker, or shared in the triggerer.

A job task follows its job *by name*: the newest job of that name in the pipeline, so after a retry
(a new job id) it follows the re-run, and a skipped job that GitLab processes again keeps its id.

In the triggerer, every job trigger of one pipeline shares its reads (:class:`SharedJobReads`):
the project's shared poll (:mod:`~airflow_provider_dataops.follow.project_poll`) says when the
pipeline changed, and then the pipeline's jobs are read **once** for all of them. A job can change
without its pipeline's ``updated_at`` moving (GitLab does not touch the pipeline row for every job
transition), so the jobs are also read when the last read is a poll interval old, still once per
pipeline, not once per waiting task. On the worker, each task reads its pipeline's jobs once per
``poll_interval``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_dataops.api.job_graph import newest_job_named
from airflow_provider_dataops.api.statuses import JobEnd, classify_job_status
from airflow_provider_dataops.follow.worker_wait import Deadline, WaitEnd, poll_on_worker

if TYPE_CHECKING:
    import logging

    from airflow_provider_dataops.hooks.dataops import DataOpsHook
    from airflow_provider_dataops.hooks.dataops_async import DataOpsAsyncHook


def job_end(job: Mapping[str, Any]) -> JobEnd:
    """What the job's status (and ``allow_failure``) means for its task."""
    return classify_job_status(str(job.get("status")), job.get("allow_failure") is True)


def settled(end: JobEnd, *, wait_for_manual: bool) -> bool:
    """Whether a task stops waiting at ``end``: a job ended, or it is manual and nobody waits for a person."""
    if end is JobEnd.MANUAL:
        return not wait_for_manual
    return end is not JobEnd.RUNNING


def wait_for_job(
    hook: DataOpsHook,
    project: int | str,
    pipeline_id: int,
    job_name: str,
    *,
    poll_interval: float,
    deadline: Deadline,
    wait_for_manual: bool,
    killed: Callable[[], bool],
    log: logging.Logger | Any,
) -> tuple[dict[str, Any], WaitEnd]:
    """Read the pipeline's jobs every ``poll_interval`` until the job named ``job_name`` settles.

    :param deadline: When the wait ends with :attr:`WaitEnd.DEADLINE`.
    :param wait_for_manual: Keep waiting while the job is ``manual`` (a person plays it).
    :param killed: Asked after each pause; True ends the wait with :attr:`WaitEnd.KILLED`.
    :raises DataOpsJobNotFoundError: when the pipeline has no such job.
    :returns: The job as last read, and why the wait ended.
    """

    def read(_last: dict[str, Any] | None = None) -> dict[str, Any]:
        return newest_job_named(hook.list_pipeline_jobs(project, pipeline_id), job_name, pipeline_id)

    return poll_on_worker(
        read(),
        waiting=lambda job: not settled(job_end(job), wait_for_manual=wait_for_manual),
        read=read,
        describe=lambda job: f"Job {job_name!r} ({job['id']}) of pipeline {pipeline_id} is {job['status']}.",
        poll_interval=poll_interval,
        deadline=deadline,
        killed=killed,
        log=log,
    )


@dataclass
class _Reads:
    """The newest job listing of one pipeline, and who is waiting on it."""

    users: int = 0
    version: Hashable = None
    read_at: float = float("-inf")
    jobs: list[dict[str, Any]] = field(default_factory=list)
    lock: asyncio.Lock | None = None
    requests: int = 0  # listings read, for tests and benchmarks


class SharedJobReads:
    """One pipeline's job listing, read once for every job trigger of the process that waits on it.

    :param key: What the triggers must share to share reads: connection, project, pipeline (and the
        read timeout and retry policy, as for the project poll).
    """

    _registry: dict[Hashable, _Reads] = {}

    def __init__(self, key: Hashable) -> None:
        self.key = key

    @classmethod
    @contextmanager
    def share(cls, key: Hashable) -> Iterator[SharedJobReads]:
        """Join the readers of ``key``; the shared listing is dropped when the last one leaves."""
        reads = cls._registry.setdefault(key, _Reads())
        reads.users += 1
        try:
            yield cls(key)
        finally:
            reads.users -= 1
            if reads.users <= 0:
                cls._registry.pop(key, None)

    @classmethod
    def requests_for(cls, key: Hashable) -> int:
        """How many listings were read for ``key`` while it had readers (0 once they all left)."""
        reads = cls._registry.get(key)
        return reads.requests if reads is not None else 0

    async def jobs(
        self, hook: DataOpsAsyncHook, project: int | str, pipeline_id: int, *, version: Hashable, max_age: float
    ) -> list[dict[str, Any]]:
        """The pipeline's current jobs: the shared copy, unless the pipeline changed or it is ``max_age`` old.

        :param version: What the project poll last showed of the pipeline (``updated_at`` and status);
            a different value means the copy may be out of date.
        :param max_age: Seconds after which the copy is read again anyway.
        """
        reads = self._registry.setdefault(self.key, _Reads())
        if reads.lock is None:
            reads.lock = asyncio.Lock()
        async with reads.lock:  # readers that arrive together wait for one read, then share it
            fresh = reads.version == version and time.monotonic() - reads.read_at < max_age
            if not fresh:
                reads.jobs = await hook.pipeline_jobs(project, pipeline_id)
                reads.version, reads.read_at = version, time.monotonic()
                reads.requests += 1
            return reads.jobs
