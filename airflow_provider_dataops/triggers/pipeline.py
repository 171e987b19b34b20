"""DataOpsPipelineTrigger: waits for a pipeline in the triggerer, only reading, never blocking."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from airflow.triggers.base import TriggerEvent

from airflow_provider_dataops.api.connection import DEFAULT_CONN_ID
from airflow_provider_dataops.api.job_log import MAX_JOB_LOG_BYTES
from airflow_provider_dataops.api.limits import check_count
from airflow_provider_dataops.api.retry import RetryPolicy, is_retryable
from airflow_provider_dataops.api.statuses import ManualPolicy, Outcome, classify_pipeline_status
from airflow_provider_dataops.api.timestamps import api_epoch, parse_api_time
from airflow_provider_dataops.errors import DataOpsConfigError, DataOpsError
from airflow_provider_dataops.follow import project_poll
from airflow_provider_dataops.follow.job_logs import JobLogFollower
from airflow_provider_dataops.follow.wait_outcome import EVENT_STATUSES as EVENT_STATUSES
from airflow_provider_dataops.follow.wait_outcome import check_event as check_event
from airflow_provider_dataops.hooks.dataops_async import DataOpsAsyncHook
from airflow_provider_dataops.triggers.one_event import ON_KILL_RETRY_POLICY as ON_KILL_RETRY_POLICY
from airflow_provider_dataops.triggers.one_event import OneEventTrigger


def handover_state(state: Any) -> dict[str, str] | None:
    """The part of a pipeline read before deferring that the trigger starts from, or None.

    :param state: A pipeline (or its ``status`` and ``updated_at``); anything else, or a state
        without a readable ``updated_at``, hands nothing over (the trigger reads the pipeline).
    """
    if not isinstance(state, Mapping):
        return None
    status, updated_at = state.get("status"), state.get("updated_at")
    if not isinstance(status, str) or not status or parse_api_time(updated_at) is None:
        return None
    return {"status": status, "updated_at": str(updated_at)}


class DataOpsPipelineTrigger(OneEventTrigger):
    """Follow a pipeline until it finishes, a deadline passes, or an error that retrying cannot fix.

    It reads through its project's shared poller (:mod:`~airflow_provider_dataops.follow.project_poll`):
    one read of the pipeline, then the project's listing of changed pipelines, shared by every
    trigger of the triggerer process that watches the same project through the same connection.

    Yields exactly one event ``{"status", "pipeline_id", "pipeline_status", "web_url", "message",
    "deadline_name"}`` where ``status`` is ``success``, ``failure`` (per the status semantics and
    ``manual_policy``), ``timeout`` (``deadline`` passed; ``deadline_name`` says which limit) or
    ``error``. Transient API failures are retried by the hook's policy, then waited out until the
    next poll.

    :param project: Project id or full path.
    :param pipeline_id: The pipeline to watch; or give ``ref``.
    :param ref: Watch the newest pipeline on this ref, waiting for one to appear.
    :param dataops_conn_id: A ``dataops`` connection with an access token.
    :param poll_interval: Seconds between polls (the poller uses the shortest of its triggers').
    :param deadline: Epoch seconds (wall clock, so it survives a triggerer restart) after which the
        trigger reports ``timeout``; None waits for ever.
    :param deadline_name: Which limit ``deadline`` stands for, echoed in the event.
    :param manual_policy: What a ``manual`` pipeline means (``fail``, ``succeed`` or ``wait``).
    :param cancel_on_kill: Cancel the pipeline when a user kills the deferred task (Airflow 3.3+;
        Airflow also calls it when a user marks the deferred task success or failed, or clears it).
    :param retry_policy: The hook's retry policy (a :class:`RetryPolicy` or its :meth:`~RetryPolicy.to_dict` form).
    :param timeout: Read timeout in seconds overriding the connection's, as the operator's hook uses.
    :param known_state: ``{"status", "updated_at"}`` of the pipeline as the operator or sensor read
        it just before deferring. The trigger then starts from it without a read of its own: the
        project's listing from that ``updated_at`` on shows any change since. Without it (or when it
        is not a plausible state) the pipeline is read once.
    :param job_logs: Stream the jobs' logs into the task log: ``{"max_job_log_bytes", "state"}``, the
        state being :meth:`~airflow_provider_dataops.follow.job_logs.JobLogFollower.state` at the
        deferral. The final state comes back in the event's ``job_logs``. A restarted triggerer
        starts again from the state of the deferral: lines logged since then appear a second time.
    """

    def __init__(
        self,
        *,
        project: int | str,
        pipeline_id: int | None = None,
        ref: str | None = None,
        dataops_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = 30.0,
        deadline: float | None = None,
        deadline_name: str = "timeout",
        manual_policy: str = ManualPolicy.FAIL.value,
        cancel_on_kill: bool = True,
        retry_policy: RetryPolicy | Mapping[str, Any] | None = None,
        timeout: float | None = None,
        known_state: Mapping[str, Any] | None = None,
        job_logs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if (pipeline_id is None) == (ref is None):
            raise DataOpsConfigError("give exactly one of pipeline_id or ref")
        self.project = project
        self.pipeline_id = pipeline_id
        self.ref = ref
        self.manual_policy = ManualPolicy.parse(manual_policy).value
        self._set_reading(locals())
        self.known_state = handover_state(known_state)
        if job_logs is not None:
            if not isinstance(job_logs, Mapping) or pipeline_id is None:
                raise DataOpsConfigError("job_logs must be a mapping, and needs pipeline_id")
            check_count(job_logs.get("max_job_log_bytes"), "max_job_log_bytes", minimum=1, maximum=MAX_JOB_LOG_BYTES)
        self.job_logs = dict(job_logs) if job_logs is not None else None
        self._follower: JobLogFollower | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and JSON-safe keyword arguments."""
        kwargs: dict[str, Any] = {
            "project": self.project,
            "pipeline_id": self.pipeline_id,
            "ref": self.ref,
            "manual_policy": self.manual_policy,
            **self._reading_kwargs(),
            "known_state": self.known_state,
        }
        if self.job_logs is not None:  # only when streaming: rows deferred before it existed stay equal
            kwargs["job_logs"] = self.job_logs
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    def _event(self, status: str, message: str, pipeline: Mapping[str, Any] | None = None) -> TriggerEvent:
        pipeline = pipeline or {}
        payload = {
            "status": status,
            "pipeline_id": self.pipeline_id,
            "pipeline_status": pipeline.get("status"),
            "web_url": pipeline.get("web_url"),
            "message": message,
            "deadline_name": self.deadline_name if status == "timeout" else None,
        }
        if self._follower is not None:
            payload["job_logs"] = self._follower.state()
        return TriggerEvent(payload)

    async def _follower_of(self, hook: DataOpsAsyncHook) -> JobLogFollower | None:
        """The job log follower (``job_logs``), continued from the deferral's offsets."""
        if self.job_logs is None or self.pipeline_id is None:
            return None
        if self._follower is None:
            settings = await hook.get_settings()
            self._follower = JobLogFollower(
                self.project,
                self.pipeline_id,
                int(self.job_logs["max_job_log_bytes"]),
                secrets=list(settings.secrets),
                log=self.log,
                from_start=self.job_logs.get("from_start") is not False,
            )
            self._follower.restore(self.job_logs.get("state"))
        return self._follower

    async def _stream_logs(self, pipeline: Mapping[str, Any] | None) -> None:
        """Log what the jobs wrote since the last read (``job_logs``); a failed read only delays it."""
        if pipeline is None or self.job_logs is None:
            return
        hook = self._hook()
        follower = await self._follower_of(hook)
        if follower is not None:
            for line in await follower.afollow(hook, pipeline):
                self.log.info("%s", line)

    def _adopt(self, subscription: project_poll.Subscription, pipeline: Mapping[str, Any]) -> bool:
        """Whether ``pipeline`` is the watched one; in ref mode a newer pipeline on the ref replaces it."""
        pipeline_id = int(pipeline["id"])
        if self.ref is not None and pipeline.get("ref") == self.ref and pipeline_id > (self.pipeline_id or 0):
            if self.pipeline_id is not None:
                subscription.unwatch(self.pipeline_id)
            self.pipeline_id = pipeline_id
            subscription.watch(pipeline_id)
        return pipeline_id == self.pipeline_id

    async def _wait(self) -> TriggerEvent:
        policy = ManualPolicy(self.manual_policy)
        pipeline: Mapping[str, Any] | None = None
        # ref mode needs one read of the ref's newest pipeline; the poller shows later ones
        newest_known = self.ref is None
        known_updated_at: float | None = None  # handed over: no read of our own (see known_state)
        if self.known_state is not None and self.pipeline_id is not None:
            pipeline = {"id": self.pipeline_id, **self.known_state}
            known_updated_at = api_epoch(self.known_state["updated_at"])
        with project_poll.subscribe(
            project=self.project,
            poll_interval=self.poll_interval,
            dataops_conn_id=self.dataops_conn_id,
            timeout=self.timeout,
            retry_policy=self.retry_policy,
            watch_all=self.ref is not None,
        ) as subscription:
            if self.pipeline_id is not None:
                subscription.watch(self.pipeline_id, known_updated_at)
            while True:
                if not newest_known:
                    try:
                        newest = await self._hook().newest_pipeline(self.project, str(self.ref))
                        newest_known = True
                        if newest is not None and self._adopt(subscription, newest):
                            pipeline = newest
                    except DataOpsError as error:
                        if not is_retryable(error):
                            return self._event("error", f"Cannot read pipeline {self.pipeline_id}: {error}", pipeline)
                        self.log.warning(
                            "Reading the newest pipeline on %r failed (%s); trying again.", self.ref, error
                        )
                await self._stream_logs(pipeline)
                if pipeline is not None:
                    outcome = classify_pipeline_status(pipeline["status"], policy)
                    if outcome is not Outcome.RUNNING:
                        message = f"Pipeline {self.pipeline_id} finished as {pipeline['status']}."
                        return self._event(outcome.value, message, pipeline)
                remaining = None if self.deadline is None else self.deadline - time.time()
                if remaining is not None and remaining <= 0:
                    watched = f"Pipeline {self.pipeline_id}" if self.pipeline_id else f"No pipeline on ref {self.ref!r}"
                    return self._event(
                        "timeout", f"{watched} did not finish before the {self.deadline_name}.", pipeline
                    )
                following = newest_known and self.job_logs is None  # logs are read every interval
                wait = remaining if following else min(self.poll_interval, remaining or self.poll_interval)
                item = await subscription.get(wait)
                if isinstance(item, project_poll.PollError):
                    if item.pipeline_id is None or item.pipeline_id == self.pipeline_id:
                        return self._event("error", f"Cannot read pipeline {self.pipeline_id}: {item.error}", pipeline)
                elif item is not None and self._adopt(subscription, item.pipeline):
                    if pipeline is None or pipeline.get("status") != item.pipeline["status"]:
                        self.log.info("Pipeline %s is %s.", self.pipeline_id, item.pipeline["status"])
                    pipeline = item.pipeline

    def _kill_target(self) -> tuple[str, int] | None:
        return None if self.pipeline_id is None else ("pipeline", self.pipeline_id)
