"""DataOpsPipelineSensor: wait for a pipeline (by id, or the newest on a ref) to finish."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    conf,
)

from airflow_provider_dataops.api.connection import DEFAULT_CONN_ID
from airflow_provider_dataops.api.job_log import check_max_job_log_bytes
from airflow_provider_dataops.api.limits import MAX_LOG_LINES, MAX_POLL_INTERVAL, MAX_WAIT, check_count, check_seconds
from airflow_provider_dataops.api.paths import check_ref, numeric_id, resource_id
from airflow_provider_dataops.api.retry import is_retryable
from airflow_provider_dataops.api.statuses import ManualPolicy, Outcome, classify_pipeline_status
from airflow_provider_dataops.api.test_results import PipelineTestSummary, has_failures, tests_failed_message
from airflow_provider_dataops.errors import DataOpsConfigError, DataOpsError, DataOpsTestsFailedError
from airflow_provider_dataops.links import (
    PIPELINE_URL_KEY,
    begin_publishing,
    pipeline_links,
    publish_downstream,
    publish_pipeline,
    publish_test_summary,
)
from airflow_provider_dataops.operators.arguments import (
    DataOpsHookMixin,
    check_bool,
    validate_when_rendered,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_dataops.follow.job_logs import TaskLogStream


class DataOpsPipelineSensor(DataOpsHookMixin, BaseSensorOperator):
    """Succeed when a pipeline succeeds; fail as soon as it fails, is canceled or skipped.

    Works in ``poke`` and ``reschedule`` modes, and deferrable (the wait runs in the triggerer). A
    transient API error during a poke (after the hook's own retries) only makes that poke return
    False. A failure status raises at once, so ``soft_fail=True`` turns it into a skip.

    :param project: Project id or full path. Templated.
    :param pipeline_id: The pipeline to watch, e.g. ``"{{ ti.xcom_pull('trigger', key='pipeline_id') }}"``.
        Templated. Give this or ``ref``.
    :param ref: Watch the newest pipeline on this branch or tag instead. Templated.
    :param manual_policy: What a pipeline blocked on a ``manual`` job means: ``fail``, ``succeed`` or
        ``wait``.
    :param deferrable: Wait in the triggerer instead of holding a worker slot.
    :param failure_log_lines: Lines of each failed job's log copied into the task log.
    :param stream_job_logs: While waiting, copy each job's new log lines into the task log as they
        are written, prefixed with the job's name (and a child pipeline's id), cleaned and redacted.
        ``reschedule`` mode needs Airflow 3.3's task state store to remember them between pokes.
    :param max_job_log_bytes: Bytes of each job's log copied while streaming (default 1 MiB); then one
        line with the job's URL.
    :param fail_on_test_failures: Fail (:class:`~airflow_provider_dataops.errors.DataOpsTestsFailedError`,
        a skip with ``soft_fail``) when the pipeline succeeded but test cases failed or errored.
    :param dataops_conn_id: A ``dataops`` connection with an access token.
    :param hook_params: Extra :class:`DataOpsHook` arguments.
    """

    template_fields: Sequence[str] = ("project", "pipeline_id", "ref")
    operator_extra_links = pipeline_links()
    ui_color = "#e8f1ff"

    def __init__(
        self,
        *,
        project: int | str,
        pipeline_id: int | str | None = None,
        ref: str | None = None,
        manual_policy: str = ManualPolicy.FAIL.value,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        failure_log_lines: int = 25,
        fail_on_test_failures: bool = False,
        stream_job_logs: bool = False,
        max_job_log_bytes: int | None = None,
        dataops_conn_id: str = DEFAULT_CONN_ID,
        hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        _check_sensor_times(kwargs)  # before BaseSensorOperator turns NaN or infinity into a raw error
        super().__init__(**kwargs)
        if (pipeline_id is None) == (ref is None):
            raise DataOpsConfigError("give exactly one of pipeline_id (a pipeline) or ref (its newest pipeline)")
        self.project = project
        self.pipeline_id = pipeline_id
        self.ref = ref
        self.manual_policy = ManualPolicy.parse(manual_policy, "manual_policy")
        self.deferrable = check_bool(deferrable, "deferrable")
        self.failure_log_lines = check_count(failure_log_lines, "failure_log_lines", maximum=MAX_LOG_LINES)
        self.fail_on_test_failures = check_bool(fail_on_test_failures, "fail_on_test_failures")
        self.stream_job_logs = check_bool(stream_job_logs, "stream_job_logs")
        self.max_job_log_bytes = check_max_job_log_bytes(max_job_log_bytes)
        self._job_logs: TaskLogStream | None = None  # made when the task runs, with its logger
        # Checked again as BaseSensorOperator stored them (the timeout may come from the config).
        _check_sensor_times(vars(self))
        self._use_connection(dataops_conn_id, hook_params)
        self._validate_arguments()
        self._published: int | None = None
        self._last_read: dict[str, Any] | None = None  # handed to the trigger, which then needs no read

    def _validate_arguments(self) -> None:
        validate_when_rendered(self.project, lambda value: resource_id(value, "project"))
        if self.pipeline_id is not None:
            validate_when_rendered(self.pipeline_id, lambda value: numeric_id(value, "pipeline_id"))
        if self.ref is not None:
            validate_when_rendered(self.ref, check_ref)

    def _resolve_pipeline_id(self) -> int | None:
        """The watched pipeline's id; with ``ref``, the newest pipeline there (None if none yet)."""
        if self.pipeline_id is not None:
            return numeric_id(self.pipeline_id, "pipeline_id")
        newest = self.hook.newest_pipeline(self.project, str(self.ref))
        return None if newest is None else int(newest["id"])

    def poke(self, context: Context) -> bool:
        """Read the pipeline once; True on success, raise on a failure status, else False."""
        self._validate_arguments()
        try:
            pipeline_id = self._resolve_pipeline_id()
            if pipeline_id is None:
                self.log.info("No pipeline on ref %r yet.", self.ref)
                return False
            pipeline = self._last_read = self.hook.get_pipeline(self.project, pipeline_id)
        except DataOpsError as error:
            if not is_retryable(error):
                raise
            self.log.warning("Could not read the pipeline (%s); trying again at the next poke.", error)
            return False
        self._publish(context, pipeline)
        if self.stream_job_logs:
            self._check_log_state(context)
            self._log_stream().emit(self.hook, self.project, pipeline, context)
        outcome = classify_pipeline_status(pipeline["status"], self.manual_policy)
        if outcome is Outcome.FAILURE:
            self._fail(pipeline, context)
        self.log.info("Pipeline %s is %s.", pipeline["id"], pipeline["status"])
        return outcome is Outcome.SUCCESS

    def execute(self, context: Context) -> None:
        """Poke, reschedule or defer, by the sensor's mode and ``deferrable``."""
        begin_publishing(self)
        if not self.deferrable:
            super().execute(context)  # returns once a poke saw the pipeline succeed
            self._succeed(context)
            return
        try:
            if self.poke(context):
                self._succeed(context)
                return
        except AirflowFailException as error:
            # BaseSensorOperator.execute applies soft_fail/never_fail to poke; this first poke too.
            if self.soft_fail or getattr(self, "never_fail", False):
                raise AirflowSkipException(f"Skipping: {error}") from error
            raise
        # Not finished, not found yet on the ref, or unreadable for a moment: the trigger waits it out.
        watched = {"pipeline_id": self._published} if self._published is not None else self._target()
        job_logs = None
        if self.stream_job_logs and "pipeline_id" in watched:
            job_logs = self._log_stream().handover(self.hook, self.project, int(watched["pipeline_id"]), context)
        # Here, not at import: a DAG file loads the sensor without Airflow's trigger machinery.
        from airflow_provider_dataops.triggers.pipeline import DataOpsPipelineTrigger

        self.defer(
            trigger=DataOpsPipelineTrigger(
                project=self.project,
                **watched,
                dataops_conn_id=self.dataops_conn_id,
                poll_interval=self.poke_interval,
                deadline=time.time() + self.timeout,
                deadline_name="sensor timeout",
                manual_policy=self.manual_policy.value,
                cancel_on_kill=False,  # a sensor only watches; the pipeline is not its own
                retry_policy=self.hook.retry_policy,
                timeout=self.hook.timeout_override,
                job_logs=job_logs,
                known_state=self._last_read
                if self._last_read and self._last_read.get("id") == watched.get("pipeline_id")
                else None,
            ),
            method_name="execute_complete",
        )

    def _target(self) -> dict[str, Any]:
        if self.pipeline_id is not None:
            return {"pipeline_id": numeric_id(self.pipeline_id, "pipeline_id")}
        return {"ref": self.ref}

    def execute_complete(self, context: Context, event: Mapping[str, Any] | None = None) -> None:
        """Resume after the trigger's event; validates it before trusting it."""
        from airflow_provider_dataops.follow.wait_outcome import check_event

        event = check_event(event)
        begin_publishing(self, {PIPELINE_URL_KEY: event.get("web_url")})
        if self.stream_job_logs:
            self._log_stream().save(event.get("job_logs"), context)
        if event["status"] == "success":
            self._publish(context, {"id": event["pipeline_id"], "web_url": event.get("web_url")})
            self.log.info("%s", event.get("message"))
            self._succeed(context)
            return
        if event["status"] == "timeout":
            raise AirflowSensorTimeout(str(event.get("message")))
        if event["status"] == "error":
            raise DataOpsError(str(event.get("message")))
        self._fail(self.hook.get_pipeline(self.project, event["pipeline_id"]), context)

    def _log_stream(self) -> TaskLogStream:
        from airflow_provider_dataops.follow.job_logs import TaskLogStream

        if self._job_logs is None:
            # The pipeline was started elsewhere: jobs finished before the first poke are left out.
            self._job_logs = TaskLogStream(self.max_job_log_bytes, self.log, from_start=False)
        return self._job_logs

    def _check_log_state(self, context: Context) -> None:
        """Reschedule pokes run in new processes: only the task state store carries the offsets."""
        if self.mode == "reschedule" and context.get("task_state_store") is None:
            raise DataOpsConfigError(
                "stream_job_logs in mode='reschedule' needs Airflow 3.3's task state store to remember what "
                "was logged between pokes; use mode='poke' or deferrable=True on this Airflow"
            )

    def _publish(self, context: Context, pipeline: Mapping[str, Any]) -> None:
        if self._published != pipeline["id"]:
            publish_pipeline(context, pipeline)
            self._published = int(pipeline["id"])

    def _tests(self, pipeline_id: int, context: Context, *, required: bool) -> PipelineTestSummary | None:
        from airflow_provider_dataops.follow.verdict import read_test_summary

        publish = partial(publish_test_summary, context)
        return read_test_summary(self.hook, self.project, pipeline_id, self.log, publish, required=required)

    def _succeed(self, context: Context) -> None:
        """After the pipeline succeeded: push its test summary; fail on failed tests when asked to."""
        pipeline_id = int(self._published or 0)
        self._publish_downstream(context, pipeline_id)
        tests = self._tests(pipeline_id, context, required=self.fail_on_test_failures)
        if not (self.fail_on_test_failures and tests is not None and has_failures(tests)):
            return
        pipeline = self.hook.get_pipeline(self.project, pipeline_id)
        self._report(pipeline, tests)
        message = tests_failed_message(pipeline, tests)
        if self.soft_fail:
            raise AirflowSkipException(f"Skipping: {message}")
        raise DataOpsTestsFailedError(message)

    def _publish_downstream(self, context: Context, pipeline_id: int) -> None:
        from airflow_provider_dataops.follow.downstream import downstream_urls

        publish_downstream(context, downstream_urls(self.hook, self.project, pipeline_id, log=self.log))

    def _report(self, pipeline: Mapping[str, Any], tests: PipelineTestSummary | None) -> None:
        from airflow_provider_dataops.follow.verdict import log_failure_report

        log_failure_report(self.hook, self.project, pipeline, tests, log_lines=self.failure_log_lines, log=self.log)

    def _fail(self, pipeline: Mapping[str, Any], context: Context) -> None:
        self._publish_downstream(context, int(pipeline["id"]))
        self._report(pipeline, self._tests(int(pipeline["id"]), context, required=False))
        # AirflowFailException: retrying cannot change a finished pipeline; soft_fail makes it a skip.
        raise AirflowFailException(
            f"Pipeline {pipeline['id']} ended as {pipeline['status']}: {pipeline.get('web_url')}"
        )


def _check_sensor_times(values: Mapping[str, Any]) -> None:
    """``poke_interval`` and ``timeout``, when given: finite, positive and within the documented bounds."""
    if values.get("poke_interval") is not None:
        check_seconds(values["poke_interval"], "poke_interval", maximum=MAX_POLL_INTERVAL)
    if values.get("timeout") is not None:
        check_seconds(values["timeout"], "timeout", maximum=MAX_WAIT)
