"""DataOpsPlayJobOperator: play a manual job of a pipeline (an approval gate) and wait for the pipeline.

It plays the job only while the job is ``manual``. A job that already left ``manual`` was played,
by an earlier try or by a person, so a retry or a clear attaches to the pipeline instead of playing
again; GitLab refuses a second play anyway (400 *Unplayable Job*), and that answer is read as
"already played" too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator, conf

from airflow_provider_dataops.api.connection import DEFAULT_CONN_ID
from airflow_provider_dataops.api.job_graph import newest_job_named as newest_job_named  # also the artifacts'
from airflow_provider_dataops.api.paths import numeric_id
from airflow_provider_dataops.api.statuses import ManualPolicy
from airflow_provider_dataops.api.variables import normalize_variables
from airflow_provider_dataops.errors import (
    DataOpsBadRequestError,
    DataOpsError,
    DataOpsRequestMaybeAppliedError,
)
from airflow_provider_dataops.links import JOB_ID_KEY as JOB_ID_KEY  # XCom key of the played (or found) job's id
from airflow_provider_dataops.links import PIPELINE_URL_KEY, begin_publishing, pipeline_links, publish_pipeline
from airflow_provider_dataops.operators.arguments import (
    DataOpsHookMixin,
    validate_job_arguments,
    validate_when_rendered,
)
from airflow_provider_dataops.operators.pipeline_waiting import PipelineWaitMixin
from airflow_provider_dataops.operators.reconcile import look_for, reconcile_patience

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: Job statuses before the pipeline reaches the job: there is nothing to play yet.
NOT_REACHED = frozenset({"created", "waiting_for_resource"})


class DataOpsPlayJobOperator(PipelineWaitMixin, DataOpsHookMixin, BaseOperator):
    """Play a ``manual`` job of a pipeline by name, then wait for the pipeline like the trigger operator.

    :param project: Project id or full path. Templated.
    :param pipeline_id: The pipeline, e.g. ``"{{ ti.xcom_pull('trigger', key='pipeline_id') }}"``.
        Templated.
    :param job_name: The job's name, such as ``"Deploy to Production"``. Templated.
    :param variables: Variables for this job only; numbers and booleans become strings. Templated.
    :param wait_for_completion: Wait until the pipeline finishes.
    :param poll_interval: Seconds between status reads while waiting.
    :param timeout: Longest wait in seconds (or a timedelta); on expiry the pipeline is canceled (when
        ``cancel_on_kill``) and the task fails. None: no limit beyond ``execution_timeout``.
    :param deferrable: Wait in the triggerer instead of holding a worker slot.
    :param cancel_on_kill: Cancel the pipeline when the task is killed or times out.
    :param manual_policy: What the pipeline stopping in ``manual`` again (at a later gate) means:
        ``fail``, ``succeed`` or ``wait``.
    :param failure_log_lines: Lines of each failed job's log copied into the task log.
    :param stream_job_logs: While waiting, copy each job's new log lines into the task log as they
        are written, prefixed with the job's name (and a child pipeline's id), cleaned and redacted.
        See :doc:`/deferrable` for what each wait mode keeps across restarts.
    :param max_job_log_bytes: Bytes of each job's log copied while streaming (default 1 MiB); then one
        line with the job's URL.
    :param dataops_conn_id: A ``dataops`` connection with an access token.
    :param hook_params: Extra :class:`DataOpsHook` arguments.
    """

    template_fields: Sequence[str] = ("project", "pipeline_id", "job_name", "variables")
    template_fields_renderers = {"variables": "json"}
    operator_extra_links = pipeline_links()
    ui_color = "#e8f1ff"
    #: The jobs before the gate ran before this task: stream from the played job on.
    _logs_from_start = False

    def __init__(
        self,
        *,
        project: int | str,
        pipeline_id: int | str,
        job_name: str,
        variables: Mapping[str, Any] | None = None,
        wait_for_completion: bool = True,
        poll_interval: float = 30.0,
        timeout: float | timedelta | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        cancel_on_kill: bool = True,
        manual_policy: str = ManualPolicy.FAIL.value,
        failure_log_lines: int = 25,
        stream_job_logs: bool = False,
        max_job_log_bytes: int | None = None,
        dataops_conn_id: str = DEFAULT_CONN_ID,
        hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.pipeline_id = pipeline_id
        self.job_name = job_name
        self.variables = variables
        self._set_wait_arguments(locals())
        self._use_connection(dataops_conn_id, hook_params)
        self._validate_arguments()

    def _validate_arguments(self) -> None:
        """Check the templated arguments; at parse time only those that hold no template yet."""
        validate_job_arguments(self.project, self.pipeline_id, self.job_name)
        validate_when_rendered(self.variables, normalize_variables)

    def execute(self, context: Context) -> int:
        """Play the job unless it was already played, publish the pipeline, wait; returns the job id."""
        self._validate_arguments()
        begin_publishing(self)
        pipeline_id = numeric_id(self.pipeline_id, "pipeline_id")
        job = self._find_job(pipeline_id)
        if job["status"] == "manual":
            job = self._play(pipeline_id, job)
        else:
            self.log.info(
                "Job %r (%s) is %s: it was already played, so this task attaches to pipeline %s instead.",
                self.job_name,
                job["id"],
                job["status"],
                pipeline_id,
            )
        job_id = int(job["id"])
        context["ti"].xcom_push(key=JOB_ID_KEY, value=job_id)
        pipeline = self.hook.get_pipeline(self.project, pipeline_id)
        self._pipeline_id = pipeline_id  # from now on, a kill or a timeout cancels it
        publish_pipeline(context, pipeline)
        if self.wait_for_completion:
            self._wait_until_done(self._settled(pipeline, job_id), context, job_id=job_id)
        return job_id

    def execute_complete(self, context: Context, event: Mapping[str, Any] | None = None, job_id: int = 0) -> int:
        """Resume after the trigger's event; validates it before trusting it."""
        from airflow_provider_dataops.follow.wait_outcome import check_event

        event = check_event(event)
        self._pipeline_id = int(event["pipeline_id"])
        begin_publishing(self, {PIPELINE_URL_KEY: event.get("web_url")})  # pushed before deferring
        self._complete(event, context)
        return job_id

    # -- helpers ---------------------------------------------------------------------------------

    def _find_job(self, pipeline_id: int) -> dict[str, Any]:
        """The newest job named ``job_name`` (a retried job is replaced by its re-run)."""
        job = newest_job_named(self.hook.list_pipeline_jobs(self.project, pipeline_id), self.job_name, pipeline_id)
        if job["status"] in NOT_REACHED:
            raise DataOpsError(
                f"Job {self.job_name!r} of pipeline {pipeline_id} is {job['status']}: the pipeline has not reached "
                "it yet. Run this task once the pipeline stops at the job (trigger it with "
                "manual_policy='succeed')."
            )
        return job

    def _play(self, pipeline_id: int, job: Mapping[str, Any]) -> dict[str, Any]:
        """Play the job; an answer that was lost, or a 400 *Unplayable Job*, is checked by re-reading it."""
        try:
            played = self.hook.play_job(self.project, job["id"], variables=self.variables)
        except (DataOpsRequestMaybeAppliedError, DataOpsBadRequestError) as error:
            if isinstance(error, DataOpsBadRequestError) and "Unplayable" not in str(error.server_message):
                raise
            self.log.warning("%s Reading job %s to see whether it was played.", error, job["id"])
            found = look_for(lambda: self._left_manual(pipeline_id, int(job["id"])), reconcile_patience(self.hook))
            if found is None:
                raise
            self.log.info("Job %s was played (it is %s).", found["id"], found["status"])
            return found
        self.log.info("Played job %r (%s): %s", self.job_name, played["id"], played.get("web_url"))
        return played

    def _left_manual(self, pipeline_id: int, job_id: int) -> dict[str, Any] | None:
        job = next(
            (job for job in self.hook.list_pipeline_jobs(self.project, pipeline_id) if job["id"] == job_id), None
        )
        return job if job is not None and job["status"] != "manual" else None

    def _settled(self, pipeline: dict[str, Any], job_id: int) -> dict[str, Any]:
        """The pipeline once GitLab has noticed the play.

        GitLab updates a pipeline's status in the background, so just after a play it can still
        read ``manual``. Until it changes, or the played job finishes (then a later gate is what
        stops it), the pipeline is read again every few seconds, for at most the read timeout
        plus a margin.
        """
        if pipeline["status"] != "manual":
            return pipeline

        def moved_on() -> dict[str, Any] | None:
            current = self.hook.get_pipeline(self.project, pipeline["id"])
            if current["status"] != "manual":
                return current
            job = self._left_manual(int(pipeline["id"]), job_id)
            return current if job is not None and job["status"] not in ("pending", "running") else None

        return look_for(moved_on, reconcile_patience(self.hook)) or pipeline
