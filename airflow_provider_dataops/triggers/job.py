"""DataOpsJobTrigger: waits in the triggerer for one job of a pipeline, through the shared project poll."""

from __future__ import annotations

import time
from collections.abc import Hashable, Mapping
from typing import Any

from airflow.triggers.base import TriggerEvent

from airflow_provider_dataops.api.connection import DEFAULT_CONN_ID
from airflow_provider_dataops.api.job_graph import newest_job_named
from airflow_provider_dataops.api.paths import check_job_name, numeric_id
from airflow_provider_dataops.api.retry import RetryPolicy
from airflow_provider_dataops.errors import DataOpsError, DataOpsJobNotFoundError
from airflow_provider_dataops.follow import project_poll
from airflow_provider_dataops.follow.job_watch import SharedJobReads, job_end, settled
from airflow_provider_dataops.follow.wait_outcome import JOB_EVENT_STATUSES as JOB_EVENT_STATUSES
from airflow_provider_dataops.follow.wait_outcome import check_job_event as check_job_event
from airflow_provider_dataops.triggers.one_event import OneEventTrigger


class DataOpsJobTrigger(OneEventTrigger):
    """Follow the job named ``job_name`` of a pipeline until it settles, a deadline passes, or an error.

    Yields exactly one event ``{"status", "pipeline_id", "job_name", "job", "message", "deadline_name"}``
    where ``status`` is a :class:`~airflow_provider_dataops.api.statuses.JobEnd` value (``manual``
    only when ``wait_for_manual`` is False), ``missing`` (the pipeline has no such job), ``timeout`` or
    ``error``; ``job`` is the job as last read (id, status, ``web_url``...), or None.

    :param project: Project id or full path.
    :param pipeline_id: The pipeline.
    :param job_name: The job; its newest run is followed (a retried job is replaced by its re-run).
    :param dataops_conn_id: A ``dataops`` connection with an access token.
    :param poll_interval: Seconds between polls; the pipeline's jobs are read at most once per interval
        (and once per change the project poll shows), shared by every trigger waiting on the pipeline.
    :param deadline: Epoch seconds after which the trigger reports ``timeout``; None waits for ever.
    :param deadline_name: Which limit ``deadline`` stands for, echoed in the event.
    :param wait_for_manual: Keep waiting while the job is ``manual``; else report ``manual``.
    :param cancel_on_kill: Cancel the job when a user kills the deferred task (Airflow 3.3+).
    :param retry_policy: :meth:`RetryPolicy.to_dict` form of the hook's retry policy.
    :param timeout: Read timeout in seconds overriding the connection's.
    """

    def __init__(
        self,
        *,
        project: int | str,
        pipeline_id: int,
        job_name: str,
        dataops_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = 30.0,
        deadline: float | None = None,
        deadline_name: str = "timeout",
        wait_for_manual: bool = True,
        cancel_on_kill: bool = True,
        retry_policy: RetryPolicy | Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> None:
        super().__init__()
        self.project = project
        self.pipeline_id = numeric_id(pipeline_id, "pipeline_id")
        self.job_name = check_job_name(job_name)
        self.wait_for_manual = bool(wait_for_manual)
        self._set_reading(locals())
        self._job_id: int | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and JSON-safe keyword arguments."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "project": self.project,
                "pipeline_id": self.pipeline_id,
                "job_name": self.job_name,
                "wait_for_manual": self.wait_for_manual,
                **self._reading_kwargs(),
            },
        )

    def reads_key(self) -> Hashable:
        """What triggers must have in common to share their reads of the pipeline's jobs."""
        policy = tuple(sorted(self.retry_policy.to_dict().items())) if self.retry_policy else ()
        return (self.dataops_conn_id, str(self.project), self.pipeline_id, self.timeout, policy)

    def _event(self, status: str, message: str, job: Mapping[str, Any] | None = None) -> TriggerEvent:
        return TriggerEvent(
            {
                "status": status,
                "pipeline_id": self.pipeline_id,
                "job_name": self.job_name,
                "job": dict(job) if job is not None else None,
                "message": message,
                "deadline_name": self.deadline_name if status == "timeout" else None,
            }
        )

    async def _wait(self) -> TriggerEvent:
        hook = self._hook()
        job: dict[str, Any] | None = None
        version: Hashable = None
        with (
            project_poll.subscribe(
                project=self.project,
                poll_interval=self.poll_interval,
                dataops_conn_id=self.dataops_conn_id,
                timeout=self.timeout,
                retry_policy=self.retry_policy,
            ) as subscription,
            SharedJobReads.share(self.reads_key()) as reads,
        ):
            subscription.watch(self.pipeline_id)
            while True:
                try:
                    jobs = await reads.jobs(
                        hook, self.project, self.pipeline_id, version=version, max_age=self.poll_interval
                    )
                    job = newest_job_named(jobs, self.job_name, self.pipeline_id)
                except DataOpsJobNotFoundError as error:
                    return self._event("missing", str(error))
                except DataOpsError as error:
                    # The hook already retried what retrying can fix.
                    return self._event("error", f"Cannot read the jobs of pipeline {self.pipeline_id}: {error}", job)
                self._job_id = int(job["id"])
                end = job_end(job)
                if settled(end, wait_for_manual=self.wait_for_manual):
                    return self._event(end.value, f"Job {self.job_name!r} ({job['id']}) is {job['status']}.", job)
                remaining = None if self.deadline is None else self.deadline - time.time()
                if remaining is not None and remaining <= 0:
                    return self._event(
                        "timeout", f"Job {self.job_name!r} did not finish before the {self.deadline_name}.", job
                    )
                item = await subscription.get(min(self.poll_interval, remaining or self.poll_interval))
                if isinstance(item, project_poll.PollError):
                    if item.pipeline_id is None or item.pipeline_id == self.pipeline_id:
                        return self._event("error", f"Cannot read pipeline {self.pipeline_id}: {item.error}", job)
                elif item is not None and item.pipeline_id == self.pipeline_id:
                    version = (item.pipeline.get("updated_at"), item.pipeline.get("status"))

    def _kill_target(self) -> tuple[str, int] | None:
        return None if self._job_id is None else ("job", self._job_id)
