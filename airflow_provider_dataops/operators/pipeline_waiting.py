"""The Airflow side of waiting for a pipeline, shared by the operators that own a pipeline's outcome.

Arguments, deferral to :class:`~airflow_provider_dataops.triggers.pipeline.DataOpsPipelineTrigger`,
the cancel on a kill or a timeout, and the task's errors. Following the pipeline on the worker is
:mod:`~airflow_provider_dataops.follow.worker_wait`; judging its end is
:mod:`~airflow_provider_dataops.follow.verdict` (status semantics in :mod:`~airflow_provider_dataops.api.statuses`).
Those are imported when a task waits, not when a DAG file imports an operator: parsing needs none.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.providers.common.compat.sdk import AirflowException, AirflowTaskTimeout

from airflow_provider_dataops.api.job_log import check_max_job_log_bytes
from airflow_provider_dataops.api.limits import MAX_LOG_LINES, MAX_POLL_INTERVAL, MAX_WAIT, check_count, check_seconds
from airflow_provider_dataops.api.statuses import ManualPolicy, Outcome, classify_pipeline_status
from airflow_provider_dataops.errors import DataOpsError, DataOpsPipelineTimeoutError
from airflow_provider_dataops.links import publish_downstream, publish_test_summary
from airflow_provider_dataops.operators.arguments import check_bool
from airflow_provider_dataops.operators.beside_handler import on_kill_beside

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperator, Context

    from airflow_provider_dataops.follow.job_logs import TaskLogStream
    from airflow_provider_dataops.follow.worker_wait import Deadline
    from airflow_provider_dataops.hooks.dataops import DataOpsHook
    from airflow_provider_dataops.operators._takeover import Takeover

    _OperatorBase = BaseOperator  # what the mixin is mixed into, for the type checker
else:
    _OperatorBase = object


#: The constructor arguments every waiting operator takes, kept by
#: :meth:`PipelineWaitMixin._set_wait_arguments`.
WAIT_ARGUMENTS = (
    "wait_for_completion",
    "poll_interval",
    "timeout",
    "deferrable",
    "cancel_on_kill",
    "manual_policy",
    "failure_log_lines",
    "stream_job_logs",
    "max_job_log_bytes",
)


class PipelineWaitMixin(_OperatorBase):
    """Wait for ``_pipeline_id`` on the worker or in the triggerer, cancel it on a kill or a timeout.

    The operator sets the attributes below in its constructor (:meth:`_set_wait_arguments`) and
    ``_pipeline_id`` once it knows the pipeline (the private state starts from the class defaults);
    it calls :meth:`_wait_until_done`, and :meth:`_complete` from ``execute_complete``.
    """

    project: int | str
    wait_for_completion: bool
    manual_policy: ManualPolicy
    poll_interval: float
    timeout: float | None
    deferrable: bool
    cancel_on_kill: bool
    failure_log_lines: int
    fail_on_test_failures: bool = False  # an operator that offers the option sets it
    dataops_conn_id: str
    stream_job_logs: bool
    max_job_log_bytes: int
    execution_timeout: timedelta | None
    _pipeline_id: int | None = None
    _cancelled: bool = False  # the cancel request was sent (or deliberately skipped)
    _killed: bool = False  # Airflow called on_kill: stop waiting
    _borrowed: bool = False  # the pipeline is someone else's (on_running="reuse"): never cancel it
    _takeover: Takeover | None = None  # how on_kill asks whether a newer try watches the pipeline (Airflow 3.3)
    _job_logs: TaskLogStream | None = None  # streams the jobs' logs into the task log (stream_job_logs)
    #: Stream the jobs that finished before the first look too: the operator started the pipeline.
    _logs_from_start: bool = True

    if TYPE_CHECKING:
        hook: DataOpsHook

    def _set_wait_arguments(self, arguments: Mapping[str, Any]) -> None:
        """Check and keep the arguments every waiting operator takes, naming the bad one.

        :param arguments: The constructor's ``locals()``: only the names in :data:`WAIT_ARGUMENTS` are
            read, so each operator declares them in its signature and passes them on in one line.
        """
        given = {name: arguments[name] for name in WAIT_ARGUMENTS}
        self.wait_for_completion = check_bool(given["wait_for_completion"], "wait_for_completion")
        self.poll_interval = check_seconds(given["poll_interval"], "poll_interval", maximum=MAX_POLL_INTERVAL)
        timeout = given["timeout"]
        self.timeout = None if timeout is None else check_seconds(timeout, "timeout", maximum=MAX_WAIT)
        self.deferrable = check_bool(given["deferrable"], "deferrable")
        self.cancel_on_kill = check_bool(given["cancel_on_kill"], "cancel_on_kill")
        self.manual_policy = ManualPolicy.parse(given["manual_policy"])
        self.failure_log_lines = check_count(given["failure_log_lines"], "failure_log_lines", maximum=MAX_LOG_LINES)
        self.stream_job_logs = check_bool(given["stream_job_logs"], "stream_job_logs")
        self.max_job_log_bytes = check_max_job_log_bytes(given["max_job_log_bytes"])

    def _wait_until_done(self, pipeline: dict[str, Any], context: Context, **resume_kwargs: Any) -> None:
        """Wait for the pipeline here, or defer to the triggerer (resuming in ``execute_complete``).

        :param resume_kwargs: Passed on to ``execute_complete`` after a deferral.
        """
        if self.deferrable and classify_pipeline_status(pipeline["status"], self.manual_policy) is Outcome.RUNNING:
            self._defer(
                pipeline, context, "execute_complete", self.cancel_on_kill and not self._borrowed, resume_kwargs
            )
        self._finish(self._wait(pipeline, context), context)

    def _wait_for_other(self, pipeline: dict[str, Any], context: Context, resume_method: str) -> None:
        """Wait until a pipeline this task does not own stops running; never cancels it.

        Deferrable operators defer, resuming in ``resume_method``; a kill or a deadline leaves the
        pipeline alone (``_pipeline_id`` is not set to it).
        """
        if self.deferrable and classify_pipeline_status(pipeline["status"], self.manual_policy) is Outcome.RUNNING:
            self._defer(pipeline, context, resume_method, False, {})
        self._wait(pipeline, context)

    def _defer(
        self, pipeline: Mapping[str, Any], context: Context, method: str, cancel_on_kill: bool, kwargs: dict[str, Any]
    ) -> None:
        # Here, not at import: a DAG file loads the operators without Airflow's trigger machinery.
        from airflow_provider_dataops.triggers.pipeline import DataOpsPipelineTrigger

        deadline = self._deadline(context)
        job_logs = self._log_stream().handover(self.hook, self.project, int(pipeline["id"]), context)
        self.defer(
            trigger=DataOpsPipelineTrigger(
                project=self.project,
                pipeline_id=int(pipeline["id"]),
                dataops_conn_id=self.dataops_conn_id,
                poll_interval=self.poll_interval,
                deadline=deadline.at,
                deadline_name=deadline.name,
                manual_policy=self.manual_policy.value,
                cancel_on_kill=cancel_on_kill,
                retry_policy=self.hook.retry_policy,
                timeout=self.hook.timeout_override,
                job_logs=job_logs if self.stream_job_logs else None,
                known_state=pipeline,  # just read: the trigger needs no read of its own
            ),
            method_name=method,
            kwargs=kwargs or None,
            timeout=None,  # the trigger enforces the deadline, so the operator can cancel
        )

    def _complete(self, event: Mapping[str, Any], context: Context) -> None:
        """Finish after the trigger's (checked) event: raise its error or timeout, or judge the pipeline."""
        status = event["status"]
        if self.stream_job_logs:
            self._log_stream().save(event.get("job_logs"), context)
        if status == "error":
            raise DataOpsError(str(event.get("message")))
        if status == "timeout":
            deadline_name = str(event.get("deadline_name", "timeout"))
            self._cancel(f"the {deadline_name} passed")
            self._raise_timeout(deadline_name, str(event.get("message")))
        self._finish(self.hook.get_pipeline(self.project, event["pipeline_id"]), context)

    def on_kill(self) -> None:
        """Cancel the pipeline (when ``cancel_on_kill``) and stop waiting for it.

        Airflow 3 calls this from its SIGTERM handler and lets ``execute`` run on, so the wait loop
        checks ``_killed`` to end within one poll instead of watching the cancel for ever. A try that
        Airflow already replaced (its worker was paused past the heartbeat timeout) leaves the
        pipeline to the newer try that re-attached to it (:mod:`._takeover`). The work runs beside the
        signal handler (:mod:`.beside_handler`).
        """
        self._killed = True
        if self._pipeline_id is None or self._cancelled:
            return
        on_kill_beside(self._stop_for_kill)

    def _stop_for_kill(self) -> None:
        if self._takeover is not None and self._takeover.newer_try_watches(self.log):
            self.log.warning("Leaving pipeline %s running for the newer try.", self._pipeline_id)
            return
        self._cancel("the task was killed")

    def _deadline(self, context: Context) -> Deadline:
        """The earliest of ``timeout`` (from now) and ``execution_timeout`` (from the try's start)."""
        from airflow_provider_dataops.follow.worker_wait import earliest_deadline

        return earliest_deadline(self.timeout, self.execution_timeout, getattr(context["ti"], "start_date", None))

    def _wait(self, pipeline: dict[str, Any], context: Context) -> dict[str, Any]:
        """Poll on the worker until the pipeline is no longer running; cancel and raise at the deadline or a kill."""
        from airflow_provider_dataops.follow.worker_wait import WaitEnd, wait_on_worker

        deadline = self._deadline(context)
        pipeline, end = wait_on_worker(
            self.hook,
            self.project,
            pipeline,
            manual_policy=self.manual_policy,
            poll_interval=self.poll_interval,
            deadline=deadline,
            killed=lambda: self._killed,
            log=self.log,
            on_poll=lambda read: self._stream_logs(read, context),
        )
        if end is WaitEnd.DEADLINE:
            message = f"Pipeline {pipeline['id']} did not finish before the {deadline.name}."
            self._cancel(f"the {deadline.name} passed")
            self._raise_timeout(deadline.name, message)
        if end is WaitEnd.KILLED:
            raise AirflowException(
                f"The task was killed while waiting for pipeline {pipeline['id']}; {self._left_behind(pipeline['id'])}"
            )
        return pipeline

    def _log_stream(self) -> TaskLogStream:
        from airflow_provider_dataops.follow.job_logs import TaskLogStream

        if self._job_logs is None:
            self._job_logs = TaskLogStream(self.max_job_log_bytes, self.log, from_start=self._logs_from_start)
        return self._job_logs

    def _stream_logs(self, pipeline: Mapping[str, Any], context: Context) -> None:
        """Log the jobs' new lines (``stream_job_logs``); a failed read only delays them."""
        if self.stream_job_logs:
            self._log_stream().emit(self.hook, self.project, pipeline, context)

    def _finish(self, pipeline: Mapping[str, Any], context: Context) -> None:
        """Push the downstream pipelines' links and the test summary; succeed, or fail with a report."""
        from airflow_provider_dataops.follow.downstream import downstream_urls
        from airflow_provider_dataops.follow.verdict import settle

        publish_downstream(context, downstream_urls(self.hook, self.project, int(pipeline["id"]), log=self.log))
        settle(
            self.hook,
            self.project,
            pipeline,
            manual_policy=self.manual_policy,
            fail_on_test_failures=self.fail_on_test_failures,
            failure_log_lines=self.failure_log_lines,
            log=self.log,
            publish=partial(publish_test_summary, context),
        )

    def _raise_timeout(self, deadline_name: str, message: str) -> NoReturn:
        if deadline_name == "execution_timeout":
            raise AirflowTaskTimeout(message)
        raise DataOpsPipelineTimeoutError(message)

    def _cancel(self, reason: str) -> None:
        """Cancel the pipeline once, best effort, and log what it left behind; never waits.

        Once only: a timeout cancels, then Airflow's timeout handling calls ``on_kill`` too.
        """
        if self._pipeline_id is None or self._cancelled:
            return
        self._cancelled = True
        if self._borrowed:
            self.log.warning("Leaving pipeline %s running: this task reused it and does not own it.", self._pipeline_id)
            return
        if not self.cancel_on_kill:
            self.log.warning("Leaving pipeline %s running (cancel_on_kill=False).", self._pipeline_id)
            return
        try:
            self.hook.cancel_pipeline(self.project, self._pipeline_id)
        except DataOpsError as error:
            self.log.error("Could not cancel pipeline %s: %s", self._pipeline_id, error)
            return
        self.log.warning("Canceled pipeline %s because %s; %s", self._pipeline_id, reason, self._left_behind())

    def _left_behind(self, pipeline_id: int | None = None) -> str:
        """One read, no waiting: the pipeline's state, for the last words of a task that stops."""
        from airflow_provider_dataops.follow.worker_wait import state_after_stop

        pipeline_id = pipeline_id or self._pipeline_id
        if pipeline_id is None:
            return "no pipeline was started."
        cancel_sent = self._cancelled and self.cancel_on_kill and not self._borrowed
        return state_after_stop(self.hook, self.project, pipeline_id, cancel_sent=cancel_sent)
