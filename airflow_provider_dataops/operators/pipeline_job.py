"""DataOpsPipelineJobOperator: one job of a running pipeline as an Airflow task (a task group's job task).

The task ends as its job ends: success, failed (the job's failure reason and log tail in the task
log), or skipped (the job was skipped or canceled). It follows the job by name, so it always watches
the job's newest run.

**Repair.** The pipeline's marker variable records the DAG run's clear number when the start task
started it. A job task that finds its job ``failed`` or ``canceled`` *and* runs in a later clear (it
was cleared after the pipeline started) retries the job (``POST /jobs/:id/retry``, once per try) and
follows the new run instead of reporting the old failure; GitLab then runs the skipped jobs after it
again, which the cleared downstream job tasks follow. In the clear that started the pipeline, a failed
job fails its task for good (no Airflow retries: a finished job does not change by waiting).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSkipException, BaseOperator, conf

from airflow_provider_dataops.api.choices import Choice
from airflow_provider_dataops.api.connection import DEFAULT_CONN_ID
from airflow_provider_dataops.api.job_graph import newest_job_named
from airflow_provider_dataops.api.limits import MAX_LOG_LINES, MAX_POLL_INTERVAL, MAX_WAIT, check_count, check_seconds
from airflow_provider_dataops.api.paths import numeric_id
from airflow_provider_dataops.api.statuses import JobEnd
from airflow_provider_dataops.errors import (
    DataOpsBadRequestError,
    DataOpsError,
    DataOpsJobNotFoundError,
    DataOpsPermissionError,
    DataOpsRequestMaybeAppliedError,
)
from airflow_provider_dataops.links import JOB_URL_KEY, DataOpsJobLink, begin_publishing, publish_job
from airflow_provider_dataops.operators.arguments import (
    DataOpsHookMixin,
    check_bool,
    validate_job_arguments,
)
from airflow_provider_dataops.operators.beside_handler import on_kill_beside
from airflow_provider_dataops.operators.pipeline import MARKER_VARIABLE, marker_clear_number
from airflow_provider_dataops.operators.reconcile import look_for, reconcile_patience

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_dataops.follow.worker_wait import Deadline

#: Job statuses a repair retries (GitLab retries finished jobs; a skipped one runs again by itself).
REPAIRABLE = frozenset({"failed", "canceled"})


class ManualJob(Choice):
    """What a job task does when its job is ``manual``: ``wait`` for a person, or ``play`` it."""

    WAIT = "wait"
    PLAY = "play"


class DataOpsJobFailedError(AirflowFailException):
    """The job failed. Not retried by Airflow: clear the task to retry the job (a repair)."""


class DataOpsJobTimeoutError(AirflowFailException):
    """The job did not finish within the task's ``timeout`` or ``execution_timeout``; it was canceled.

    Not retried: a retry would find the job canceled. Clear the task to retry the job.
    """


class DataOpsPipelineJobOperator(DataOpsHookMixin, BaseOperator):
    """Follow one job of a pipeline and end as it ends; retry it when the task is cleared after it failed.

    Usually made by :class:`~airflow_provider_dataops.operators.task_group.DataOpsPipelineTaskGroup`.

    :param project: Project id or full path. Templated.
    :param pipeline_id: The pipeline, e.g. ``"{{ ti.xcom_pull(task_ids='nightly.start') }}"``. Templated.
    :param job_name: The job's name. Templated.
    :param manual_job: A ``manual`` job: ``wait`` until a person plays it, or ``play`` it.
    :param poll_interval: Seconds between reads of the pipeline's jobs.
    :param timeout: Longest wait in seconds (or a timedelta); on expiry, as at ``execution_timeout``, the
        job is canceled (when ``cancel_on_kill``) and the task fails without retries
        (:class:`DataOpsJobTimeoutError`). None: no limit beyond ``execution_timeout``.
    :param deferrable: Wait in the triggerer (:class:`~airflow_provider_dataops.triggers.job.DataOpsJobTrigger`).
    :param cancel_on_kill: Cancel the job when the task is killed or times out.
    :param failure_log_lines: Lines of the failed job's log copied into the task log.
    :param dataops_conn_id: A ``dataops`` connection with an access token.
    :param hook_params: Extra :class:`DataOpsHook` arguments.
    """

    template_fields: Sequence[str] = ("project", "pipeline_id", "job_name")
    operator_extra_links = (DataOpsJobLink(),)
    ui_color = "#eef6e8"

    def __init__(
        self,
        *,
        project: int | str,
        pipeline_id: int | str,
        job_name: str,
        manual_job: str = ManualJob.WAIT.value,
        poll_interval: float = 30.0,
        timeout: float | timedelta | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        cancel_on_kill: bool = True,
        failure_log_lines: int = 25,
        dataops_conn_id: str = DEFAULT_CONN_ID,
        hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.pipeline_id = pipeline_id
        self.job_name = job_name
        self.manual_job = ManualJob.parse(manual_job)
        self.poll_interval = check_seconds(poll_interval, "poll_interval", maximum=MAX_POLL_INTERVAL)
        self.timeout = None if timeout is None else check_seconds(timeout, "timeout", maximum=MAX_WAIT)
        self.deferrable = check_bool(deferrable, "deferrable")
        self.cancel_on_kill = check_bool(cancel_on_kill, "cancel_on_kill")
        self.failure_log_lines = check_count(failure_log_lines, "failure_log_lines", maximum=MAX_LOG_LINES)
        self._use_connection(dataops_conn_id, hook_params)
        self._job_id: int | None = None
        self._canceled = False
        self._killed = False
        self._validate_arguments()

    def _validate_arguments(self) -> None:
        """Check the templated arguments; at parse time only those that hold no template yet."""
        validate_job_arguments(self.project, self.pipeline_id, self.job_name)

    # -- execute ---------------------------------------------------------------------------------

    def execute(self, context: Context) -> int:
        """Find the job (retrying it when this is a repair), follow it; returns the job id."""
        self._validate_arguments()
        begin_publishing(self)
        pipeline_id = numeric_id(self.pipeline_id, "pipeline_id")
        job = self._current(pipeline_id)
        if job["status"] in REPAIRABLE | {"canceling"} and self._cleared_since_start(context, pipeline_id):
            if job["status"] == "canceling":  # the killed try's cancel is landing: retry what it leaves
                job = look_for(lambda: self._left_canceling(pipeline_id), reconcile_patience(self.hook)) or job
            job = self._retry(pipeline_id, job)
        return self._follow(context, pipeline_id, job)

    def _current(self, pipeline_id: int) -> dict[str, Any]:
        """The newest run of the job in the pipeline."""
        return newest_job_named(self.hook.list_pipeline_jobs(self.project, pipeline_id), self.job_name, pipeline_id)

    def _left_canceling(self, pipeline_id: int) -> dict[str, Any] | None:
        job = self._current(pipeline_id)
        return job if job["status"] != "canceling" else None

    def execute_complete(self, context: Context, event: Mapping[str, Any] | None = None) -> int:
        """Resume after the trigger's event; validates it before trusting it."""
        from airflow_provider_dataops.follow.wait_outcome import check_job_event

        event = check_job_event(event)
        job = event.get("job") if isinstance(event.get("job"), Mapping) else None
        begin_publishing(self, {JOB_URL_KEY: job.get("web_url") if job else None})
        status, message = event["status"], str(event.get("message"))
        if status == "missing":
            raise DataOpsJobNotFoundError(message)
        if status == "error" or job is None:
            raise DataOpsError(message)
        self._job_id = int(job["id"])
        if status == "timeout":
            self._raise_timeout(str(event.get("deadline_name", "timeout")), message)
        return self._follow(context, numeric_id(self.pipeline_id, "pipeline_id"), dict(job))

    def _follow(self, context: Context, pipeline_id: int, job: dict[str, Any]) -> int:
        """Play the job if asked, wait until it settles (deferring if asked), then end as it ended."""
        from airflow_provider_dataops.follow.job_watch import job_end, settled, wait_for_job
        from airflow_provider_dataops.follow.worker_wait import WaitEnd

        while True:
            self._job_id = int(job["id"])
            publish_job(context, job)
            end = job_end(job)
            if end is JobEnd.MANUAL and self.manual_job is ManualJob.PLAY:
                job = self._play(pipeline_id, job)
                continue
            if settled(end, wait_for_manual=self.manual_job is ManualJob.WAIT):
                return self._finish(pipeline_id, job)
            if self.deferrable:
                self._defer(pipeline_id, context)
            deadline = self._deadline(context)
            job, end_of_wait = wait_for_job(
                self.hook,
                self.project,
                pipeline_id,
                self.job_name,
                poll_interval=self.poll_interval,
                deadline=deadline,
                wait_for_manual=self.manual_job is ManualJob.WAIT,
                killed=lambda: self._killed,
                log=self.log,
            )
            self._job_id = int(job["id"])
            if end_of_wait is WaitEnd.KILLED:
                raise DataOpsError(f"The task was killed while waiting for job {self.job_name!r} ({job['id']}).")
            if end_of_wait is WaitEnd.DEADLINE:
                self._raise_timeout(deadline.name, f"Job {self.job_name!r} did not finish before the {deadline.name}.")

    def _defer(self, pipeline_id: int, context: Context) -> None:
        # Here, not at import: a DAG file loads the operators without Airflow's trigger machinery.
        from airflow_provider_dataops.triggers.job import DataOpsJobTrigger

        deadline = self._deadline(context)
        self.defer(
            trigger=DataOpsJobTrigger(
                project=self.project,
                pipeline_id=pipeline_id,
                job_name=self.job_name,
                dataops_conn_id=self.dataops_conn_id,
                poll_interval=self.poll_interval,
                deadline=deadline.at,
                deadline_name=deadline.name,
                wait_for_manual=self.manual_job is ManualJob.WAIT,
                cancel_on_kill=self.cancel_on_kill,
                retry_policy=self.hook.retry_policy,
                timeout=self.hook.timeout_override,
            ),
            method_name="execute_complete",
            timeout=None,  # the trigger enforces the deadline, so the operator can cancel the job
        )

    def _finish(self, pipeline_id: int, job: Mapping[str, Any]) -> int:
        from airflow_provider_dataops.follow.failure_report import job_lines
        from airflow_provider_dataops.follow.job_watch import job_end

        end = job_end(job)
        where = f"Job {self.job_name!r} ({job['id']}) of pipeline {pipeline_id}"
        if end is JobEnd.SUCCESS or end is JobEnd.MANUAL:
            self.log.info("%s is %s: %s", where, job["status"], job.get("web_url"))
            return int(job["id"])
        if end is JobEnd.ALLOWED_FAILURE:
            report = job_lines(self.hook, self.project, job, self.failure_log_lines)
            self.log.warning("%s failed but is allowed to, so the pipeline goes on:\n%s", where, "\n".join(report))
            return int(job["id"])
        if end is JobEnd.SKIPPED:
            raise AirflowSkipException(f"{where} is {job['status']}: {job.get('web_url')}")
        report = job_lines(self.hook, self.project, job, self.failure_log_lines)
        self.log.error("%s failed:\n%s", where, "\n".join(report))
        raise DataOpsJobFailedError(
            f"{where} failed ({job.get('failure_reason') or 'no reason given'}): {job.get('web_url')}. "
            "Clear this task to retry the job in the same pipeline."
        )

    # -- repair ------------------------------------------------------------------------------------

    def _cleared_since_start(self, context: Context, pipeline_id: int) -> bool:
        """Whether this DAG run was cleared after the start task started the pipeline (its marker says when)."""
        clear_number = getattr(context.get("dag_run"), "clear_number", 0)
        clear_number = clear_number if isinstance(clear_number, int) else 0
        variables = self.hook.get_pipeline_variables(self.project, pipeline_id)
        marker = next(
            (row.get("value") for row in variables if isinstance(row, Mapping) and row.get("key") == MARKER_VARIABLE),
            None,
        )
        started_in = marker_clear_number(marker) if isinstance(marker, str) else None
        if started_in is None:
            self.log.warning(
                "Pipeline %s carries no %s marker (the start task reused another pipeline), so its failed job "
                "%r is reported, not retried.",
                pipeline_id,
                MARKER_VARIABLE,
                self.job_name,
            )
            return False
        return clear_number > started_in

    def _retry(self, pipeline_id: int, job: Mapping[str, Any]) -> dict[str, Any]:
        """Retry the job once; a lost answer, or a 403 (someone retried it already), is checked by re-reading."""
        self.log.info(
            "The task was cleared after job %r (%s) ended %s: retrying it in pipeline %s.",
            self.job_name,
            job["id"],
            job["status"],
            pipeline_id,
        )
        try:
            retried = self.hook.retry_job(self.project, job["id"])
        except (DataOpsRequestMaybeAppliedError, DataOpsPermissionError) as error:
            self.log.warning("%s Reading the jobs to see whether job %s was retried.", error, job["id"])
            found = look_for(lambda: self._newer_run(pipeline_id, int(job["id"])), reconcile_patience(self.hook))
            if found is None:
                raise
            retried = found
        self.log.info("Job %r runs again as job %s: %s", self.job_name, retried["id"], retried.get("web_url"))
        return dict(retried)

    def _newer_run(self, pipeline_id: int, job_id: int) -> dict[str, Any] | None:
        job = self._current(pipeline_id)
        return job if int(job["id"]) != job_id else None

    def _play(self, pipeline_id: int, job: Mapping[str, Any]) -> dict[str, Any]:
        """Play the manual job; a lost answer, or *Unplayable Job*, is checked by re-reading it."""
        try:
            played = self.hook.play_job(self.project, job["id"])
        except (DataOpsRequestMaybeAppliedError, DataOpsBadRequestError) as error:
            if isinstance(error, DataOpsBadRequestError) and "Unplayable" not in str(error.server_message):
                raise
            current = self._current(pipeline_id)
            if current["status"] == "manual":
                raise
            return current
        self.log.info("Played job %r (%s).", self.job_name, played["id"])
        return dict(played)

    # -- deadlines, kills --------------------------------------------------------------------------

    def _deadline(self, context: Context) -> Deadline:
        """The earliest of ``timeout`` (from now) and ``execution_timeout`` (from the try's start)."""
        from airflow_provider_dataops.follow.worker_wait import earliest_deadline

        return earliest_deadline(self.timeout, self.execution_timeout, getattr(context["ti"], "start_date", None))

    def _raise_timeout(self, deadline_name: str, message: str) -> None:
        self._cancel(f"the {deadline_name} passed")
        raise DataOpsJobTimeoutError(f"{message} Clear the task to retry the job.")

    def on_kill(self) -> None:
        """Cancel the job (when ``cancel_on_kill``) and stop waiting for it.

        Airflow 3 calls this from its SIGTERM handler: the cancel runs beside it (:mod:`.beside_handler`).
        """
        self._killed = True
        on_kill_beside(partial(self._cancel, "the task was killed"))

    def _cancel(self, reason: str) -> None:
        """Cancel the job once, best effort; never waits."""
        if self._job_id is None or self._canceled:
            return
        self._canceled = True
        if not self.cancel_on_kill:
            self.log.warning("Leaving job %s running (cancel_on_kill=False).", self._job_id)
            return
        try:
            job = self.hook.cancel_job(self.project, self._job_id)
        except DataOpsError as error:
            self.log.error("Could not cancel job %s: %s", self._job_id, error)
            return
        self.log.warning("Canceled job %s because %s; it is now %s.", self._job_id, reason, job.get("status"))
