"""DataOpsTriggerPipelineOperator: start a DataOps.live pipeline and (optionally) wait for it.

Guarantees, in order of importance:

* never two pipelines for one try of a clear: every pipeline carries a marker variable naming the
  dag, run, task, map index and clear number; a retried try finds the earlier try's pipeline and
  re-attaches to it (Airflow 3.3 also remembers its id, with the marker, in the task state store), and
  a trigger whose answer was lost is reconciled by looking for the marker before any new request;
* a clear always runs again: the earlier clear's pipeline is canceled if still running, and a new one
  starts;
* never an orphaned pipeline: a timeout, ``execution_timeout`` or a kill cancels it
  (``cancel_on_kill``; a kill while deferred needs Airflow 3.3's trigger ``on_kill``);
* a failure says why: the task log lists each failed job with its reason, URL and last log lines,
  and each failed test case with the first lines of its output.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    BaseOperator,
    ResumableJobMixin,
    conf,
)

from airflow_provider_dataops.api.connection import DEFAULT_CONN_ID
from airflow_provider_dataops.api.paths import check_ref, resource_id
from airflow_provider_dataops.api.redaction import redact_value
from airflow_provider_dataops.api.statuses import ManualPolicy, Outcome, classify_pipeline_status, worth_waiting_for
from airflow_provider_dataops.api.variables import PIPELINE_FILE_VARIABLE, normalize_variables, pipeline_variables
from airflow_provider_dataops.assets import annotate_outlet_events, pipeline_event_extra
from airflow_provider_dataops.errors import DataOpsConfigError, DataOpsError, DataOpsRequestMaybeAppliedError
from airflow_provider_dataops.errors import (  # re-exported: raised by this operator, imported from here by DAGs
    DataOpsPipelineFailedError as DataOpsPipelineFailedError,
)
from airflow_provider_dataops.errors import (
    DataOpsPipelineTimeoutError as DataOpsPipelineTimeoutError,
)
from airflow_provider_dataops.errors import (
    DataOpsTestsFailedError as DataOpsTestsFailedError,
)
from airflow_provider_dataops.lineage import PipelineLineageMixin, parent_run_variables
from airflow_provider_dataops.links import PIPELINE_URL_KEY, begin_publishing, pipeline_links, publish_pipeline
from airflow_provider_dataops.operators.arguments import (
    DataOpsHookMixin,
    check_bool,
    validate_when_rendered,
)
from airflow_provider_dataops.operators.on_running import OnRunning
from airflow_provider_dataops.operators.pipeline_waiting import PipelineWaitMixin
from airflow_provider_dataops.operators.reconcile import dag_run_started, look_for, reconcile_patience

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_dataops.operators.other_pipelines import OtherPipelines

#: The variable that ties a pipeline to the task instance that started it.
MARKER_VARIABLE = "AIRFLOW_DATAOPS_TASK"
_CLEAR_FIELD = re.compile(r"(?:^| )clear=(\d+)$")
#: How far before the DAG run's start to look for earlier tries' pipelines (clock skew).
LOOKBACK_MARGIN = timedelta(minutes=10)
#: Keys of the task-state-store record naming the pipeline this task instance started.
STORED_ID, STORED_MARKER, STORED_URL = "pipeline_id", "marker", "web_url"
#: Set in the record of a pipeline reused under ``on_running="reuse"``: the task does not own it.
STORED_REUSED = "reused"


def task_marker(context: Context) -> str:
    """The marker value naming this task instance: the same for every retry, new after a clear.

    Clearing a task bumps its DAG run's ``clear_number``, so a cleared task starts a new pipeline,
    while a retry (same clear number) finds the one its earlier try started.
    """
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    clear_number = getattr(context.get("dag_run"), "clear_number", 0)
    return (
        f"dag={ti.dag_id} run={ti.run_id} task={ti.task_id} map={-1 if map_index is None else map_index} "
        f"clear={clear_number if isinstance(clear_number, int) else 0}"
    )


def marker_clear_number(marker: str) -> int | None:
    """The clear number a :func:`task_marker` value records; None for anything else."""
    found = _CLEAR_FIELD.search(marker)
    return int(found.group(1)) if found else None


class DataOpsTriggerPipelineOperator(
    PipelineLineageMixin, PipelineWaitMixin, DataOpsHookMixin, ResumableJobMixin, BaseOperator
):
    """Trigger a DataOps.live pipeline, then wait for it on the worker or in the triggerer.

    :param project: Project id or full path (``group/sub/project``). Templated.
    :param ref: Branch, tag or commit SHA to run. Templated.
    :param pipeline_file: Pipeline file to run, ending in ``-ci.yml`` (sent as ``_PIPELINE_FILE_NAME``).
        Templated.
    :param variables: Pipeline variables; numbers and booleans become strings. Templated.
    :param wait_for_completion: Wait until the pipeline finishes (needs an access token).
    :param poll_interval: Seconds between status reads while waiting.
    :param timeout: Longest wait in seconds (or a timedelta); on expiry the pipeline is canceled
        (when ``cancel_on_kill``) and the task fails. None: no limit beyond ``execution_timeout``.
    :param deferrable: Wait in the triggerer instead of holding a worker slot.
    :param cancel_on_kill: Cancel the pipeline when the task is killed or times out. While deferred
        (Airflow 3.3+), Airflow also kills the trigger when a user marks the task success or failed,
        or clears it, so those cancel the pipeline too.
    :param manual_policy: What a pipeline blocked on a ``manual`` job means: ``fail``, ``succeed`` or
        ``wait``.
    :param retry_failed_pipeline: On a task retry after the pipeline failed, re-run its failed jobs
        (``POST .../retry``) instead of starting a new pipeline.
    :param failure_log_lines: Lines of each failed job's log copied into the task log.
    :param stream_job_logs: While waiting, copy each job's new log lines into the task log as they
        are written, prefixed with the job's name (and a child pipeline's id), cleaned and redacted.
        See :doc:`/deferrable` for what each wait mode keeps across restarts.
    :param max_job_log_bytes: Bytes of each job's log copied while streaming (default 1 MiB); then one
        line with the job's URL.
    :param fail_on_test_failures: Fail the task (:class:`DataOpsTestsFailedError`, no retries) when
        the pipeline succeeded but test cases in its test report failed or errored (jobs with
        ``allow_failure``).
    :param on_running: What to do when another pipeline of the same project and ref (and pipeline
        file) is running as the task starts: ``allow`` (start ours too), ``wait`` (until none runs,
        then start ours), ``reuse`` (report that pipeline's outcome; it is never canceled by this
        task), ``cancel`` (cancel it, wait until it stopped, then start ours) or ``skip`` (skip the
        task). Anything but ``allow`` needs an access token. See :ref:`on-running`.
    :param openlineage_inject_parent_job_info: With OpenLineage on, pass the task's OpenLineage parent
        and root run ids to the pipeline as ``OPENLINEAGE_PARENT_ID`` and ``OPENLINEAGE_ROOT_PARENT_ID``
        (what ``dbt-ol`` reads); values set in ``variables`` win. See :doc:`/lineage`.
    :param dataops_conn_id: A ``dataops`` connection.
    :param hook_params: Extra :class:`DataOpsHook` arguments, e.g. ``{"retry_policy": {"max_attempts": 5}}``.

    Asset ``outlets`` get an event when the task succeeds, whose ``extra`` holds the pipeline's
    ``pipeline_id``, ``web_url``, ``ref``, ``sha`` and ``status``.
    """

    template_fields: Sequence[str] = ("project", "ref", "pipeline_file", "variables")
    template_fields_renderers = {"variables": "json"}
    operator_extra_links = pipeline_links()
    ui_color = "#e8f1ff"
    external_id_key = "dataops_pipeline_id"

    def __init__(
        self,
        *,
        project: int | str,
        ref: str,
        pipeline_file: str | None = None,
        variables: Mapping[str, Any] | None = None,
        wait_for_completion: bool = True,
        poll_interval: float = 30.0,
        timeout: float | timedelta | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        cancel_on_kill: bool = True,
        manual_policy: str = ManualPolicy.FAIL.value,
        retry_failed_pipeline: bool = False,
        failure_log_lines: int = 25,
        stream_job_logs: bool = False,
        max_job_log_bytes: int | None = None,
        fail_on_test_failures: bool = False,
        openlineage_inject_parent_job_info: bool = True,
        on_running: str = OnRunning.ALLOW.value,
        dataops_conn_id: str = DEFAULT_CONN_ID,
        hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.ref = ref
        self.pipeline_file = pipeline_file
        self.variables = variables
        self._set_wait_arguments(locals())
        self.retry_failed_pipeline = check_bool(retry_failed_pipeline, "retry_failed_pipeline")
        self.fail_on_test_failures = check_bool(fail_on_test_failures, "fail_on_test_failures")
        self.openlineage_inject_parent_job_info = check_bool(
            openlineage_inject_parent_job_info, "openlineage_inject_parent_job_info"
        )
        self.on_running = OnRunning.parse(on_running)
        self._use_connection(dataops_conn_id, hook_params)
        self._validate_arguments()

    def _validate_arguments(self) -> None:
        """Check the templated arguments; at parse time only those that hold no template yet."""
        validate_when_rendered(self.project, lambda value: resource_id(value, "project"))
        validate_when_rendered(self.ref, check_ref)
        if self.pipeline_file is not None:
            validate_when_rendered(self.pipeline_file, lambda value: pipeline_variables(None, value))
        validate_when_rendered(self.variables, _check_variables)

    # -- execute ---------------------------------------------------------------------------------

    def execute(self, context: Context) -> int:
        """Start (or find) the pipeline and wait for it; returns the pipeline id."""
        self._validate_arguments()
        begin_publishing(self)
        store = self._state_store(context)
        if store is not None:
            self._leave_earlier_clear(store, context)
        if not self.hook.settings.can_read:
            if self.on_running is not OnRunning.ALLOW:
                raise DataOpsConfigError(
                    f"on_running={self.on_running.value!r} needs to read pipelines, but connection "
                    f"{self.dataops_conn_id!r} holds only a trigger token: add an access token, or use 'allow'"
                )
            if self.wait_for_completion:
                raise DataOpsConfigError(
                    f"connection {self.dataops_conn_id!r} holds only a trigger token, which cannot read "
                    "pipelines: set wait_for_completion=False, or add an access token to the connection"
                )
            return self._trigger_without_reading(context)
        result = self.execute_resumable(context)
        # Airflow 3.3's mixin returns poll_until_complete's None when it reconnects to a running pipeline.
        return int(result) if result is not None else int(self._pipeline_id or 0)

    def _state_store(self, context: Context) -> Any:
        """Airflow 3.3's task state store, when this operator uses it (``durable``)."""
        return context.get("task_state_store") if getattr(self, "durable", False) else None

    def _leave_earlier_clear(self, store: Any, context: Context) -> None:
        """Forget the pipeline a run before the latest clear started, canceling it if still running.

        The store outlives a clear; without this, the new try would re-attach to the old pipeline
        (or, had it succeeded, skip running). A clear means "run again".
        """
        stored = store.get(self.external_id_key)
        if not isinstance(stored, Mapping) or stored.get(STORED_MARKER) == task_marker(context):
            return
        earlier = int(stored[STORED_ID])
        self.log.info("The task was cleared since pipeline %s started: starting a new pipeline.", earlier)
        if self.hook.settings.can_read and not stored.get(STORED_REUSED):
            status = self.hook.get_pipeline(self.project, earlier)["status"]
            if classify_pipeline_status(status, self.manual_policy) is Outcome.RUNNING:
                self._pipeline_id = earlier
                self._cancel(f"the task was cleared while it was {status}")
        store.delete(self.external_id_key)
        self._pipeline_id, self._cancelled = None, False

    def _stored(self, pipeline: Mapping[str, Any], context: Context) -> dict[str, Any]:
        """What the task state store keeps: the id, with the marker of the clear that started it."""
        marker = task_marker(context)
        record = {STORED_ID: int(pipeline["id"]), STORED_MARKER: marker, STORED_URL: pipeline.get("web_url")}
        return {**record, STORED_REUSED: True} if self._borrowed else record

    def _trigger_without_reading(self, context: Context) -> int:
        """Trigger with a trigger token; the task state store (Airflow 3.3) prevents a second POST."""
        store = self._state_store(context)
        if store is not None and (stored := store.get(self.external_id_key)):
            pipeline_id = stored_pipeline_id(stored)
            self.log.info("An earlier try already started pipeline %s; not triggering again.", pipeline_id)
            url = stored.get(STORED_URL) if isinstance(stored, Mapping) else store.get(PIPELINE_URL_KEY)
            self._publish(context, {"id": pipeline_id, "web_url": url})
            return pipeline_id
        try:
            pipeline = self._post(context)
        except DataOpsRequestMaybeAppliedError as error:
            # Without read access the marker cannot be looked up: failing without retries is the
            # only way not to risk a second pipeline.
            raise AirflowFailException(
                f"{error} The connection holds only a trigger token, so the outcome cannot be checked; "
                "the task is not retried, to avoid starting a second pipeline."
            ) from error
        if store is not None:
            store.set(self.external_id_key, self._stored(pipeline, context))
        self._publish(context, pipeline)
        return int(pipeline["id"])

    # -- ResumableJobMixin ------------------------------------------------------------------------

    def submit_job(self, context: Context) -> dict[str, Any]:
        """Find an earlier try's pipeline of this clear, else start one; returns what the store keeps."""
        return self._stored(self._find_or_start(context), context)

    def _find_or_start(self, context: Context) -> Mapping[str, Any]:
        if context["ti"].try_number > 1:
            earlier = self._find_marked_pipeline(context)
            if earlier is not None:
                status = earlier["status"]
                if self.is_job_active(status) or self.is_job_succeeded(status):
                    self.log.info("Re-attaching to pipeline %s (%s) started by an earlier try.", earlier["id"], status)
                    return earlier
                failed = classify_pipeline_status(status, self.manual_policy) is Outcome.FAILURE
                if self.retry_failed_pipeline and failed:
                    self.log.info("Retrying the failed jobs of pipeline %s (%s).", earlier["id"], status)
                    return self.hook.retry_pipeline(self.project, earlier["id"])
                self.log.info("The earlier try's pipeline %s ended as %s; starting a new one.", earlier["id"], status)
        from airflow_provider_dataops.operators.other_pipelines import before_start

        reused = before_start(self.on_running, self._other_pipelines(context), self._waiter(context), self.log)
        if reused is not None:
            self._borrowed = True
            return reused
        return self._start_pipeline(context)

    def _other_pipelines(self, context: Context) -> OtherPipelines:
        own = task_marker(context).rsplit(" clear=", 1)[0] + " clear="
        file_name = pipeline_variables(self.variables, self.pipeline_file).get(PIPELINE_FILE_VARIABLE)
        from airflow_provider_dataops.operators.other_pipelines import OtherPipelines

        return OtherPipelines(self.hook, self.project, self.ref, file_name, self.manual_policy, MARKER_VARIABLE, own)

    def _waiter(self, context: Context) -> Callable[[dict[str, Any]], None]:
        return lambda pipeline: self._wait_for_other(pipeline, context, "execute_after_waiting")

    def get_job_status(self, external_id: Any, context: Context) -> str:
        """The pipeline's current status (for the mixin's resume decision)."""
        return str(self.hook.get_pipeline(self.project, stored_pipeline_id(external_id))["status"])

    def is_job_active(self, status: str) -> bool:
        """Still on its way to an outcome worth waiting for (a ``canceling`` pipeline is not)."""
        return worth_waiting_for(status, self.manual_policy)

    def is_job_succeeded(self, status: str) -> bool:
        """Finished as the task wants."""
        return classify_pipeline_status(status, self.manual_policy) is Outcome.SUCCESS

    def poll_until_complete(self, external_id: Any, context: Context) -> None:
        """Publish the pipeline, then wait here or in the triggerer; raise if it did not succeed."""
        self._pipeline_id = stored_pipeline_id(external_id)
        self._borrowed = isinstance(external_id, Mapping) and bool(external_id.get(STORED_REUSED))
        if (store := self._state_store(context)) is not None:  # the record is stored by now
            from airflow_provider_dataops.operators._takeover import Takeover

            self._takeover = Takeover(store, context["ti"], self.external_id_key)
        pipeline = self.hook.get_pipeline(self.project, self._pipeline_id)
        self._publish(context, pipeline)
        if not self.wait_for_completion:
            return
        self._wait_until_done(pipeline, context, **({"borrowed": True} if self._borrowed else {}))

    def get_job_result(self, external_id: Any, context: Context) -> int:
        """The task's return value: the pipeline id (published again when a retry found it finished)."""
        pipeline_id = stored_pipeline_id(external_id)
        if self._pipeline_id != pipeline_id:  # the mixin skipped poll_until_complete
            self._pipeline_id = pipeline_id
            pipeline = self.hook.get_pipeline(self.project, pipeline_id)
            self._publish(context, pipeline)
            self._finish(pipeline, context)  # its tests, as the try that waited for it saw them
        return pipeline_id

    # -- deferred resume -------------------------------------------------------------------------

    def execute_complete(self, context: Context, event: Mapping[str, Any] | None = None, borrowed: bool = False) -> int:
        """Resume after the trigger's event; validates it before trusting it.

        :param borrowed: The pipeline was reused (``on_running="reuse"``): a timeout does not cancel it.
        """
        from airflow_provider_dataops.follow.wait_outcome import check_event

        event = check_event(event)
        self._pipeline_id, self._borrowed = int(event["pipeline_id"]), bool(borrowed)
        begin_publishing(self, {PIPELINE_URL_KEY: event.get("web_url")})  # pushed before deferring
        self._complete(event, context)
        return self._pipeline_id

    def execute_after_waiting(self, context: Context, event: Mapping[str, Any] | None = None) -> int:
        """Resume after waiting for another pipeline (``on_running="wait"``): decide and start again.

        A deadline that passed fails the task; the other pipeline is left alone.
        """
        from airflow_provider_dataops.follow.wait_outcome import check_event

        event = check_event(event)
        if event["status"] == "error":
            raise DataOpsError(str(event.get("message")))
        if event["status"] == "timeout":
            self._raise_timeout(str(event.get("deadline_name", "timeout")), str(event.get("message")))
        return self.execute(context)

    # -- helpers ---------------------------------------------------------------------------------

    def _publish(self, context: Context, pipeline: Mapping[str, Any]) -> None:
        """Push the pipeline to XCom, and remember it for the lineage facet and the asset events."""
        publish_pipeline(context, self._without_secrets(pipeline))
        self._record(pipeline, context)

    def _record(self, pipeline: Mapping[str, Any], context: Context) -> None:
        """The pipeline as last read: for the lineage facet and the extra of the asset events."""
        self._lineage_pipeline = pipeline = self._without_secrets(pipeline)
        annotate_outlet_events(context, self.outlets, pipeline_event_extra(pipeline, self.ref))

    def _without_secrets(self, pipeline: Mapping[str, Any]) -> dict[str, Any]:
        """The pipeline with the connection's tokens masked: a broken or hostile server may echo them."""
        return dict(redact_value(pipeline, self.hook.settings.secrets))

    def _finish(self, pipeline: Mapping[str, Any], context: Context) -> None:
        self._record(pipeline, context)  # the final state, before it is judged
        super()._finish(pipeline, context)

    def _start_pipeline(self, context: Context) -> dict[str, Any]:
        """POST the trigger; after an ambiguous failure, look for the marker before POSTing again."""
        patience = reconcile_patience(self.hook)
        for _ in range(2):
            try:
                return self._post(context)
            except DataOpsRequestMaybeAppliedError as error:
                self.log.warning("%s Looking for the pipeline for %.0fs before trying again.", error, patience)
                found = self._find_marked_pipeline(context, patience=patience)
                if found is not None:
                    self.log.info("The trigger did take effect: pipeline %s.", found["id"])
                    return found
                self.log.info("No pipeline carries this task's marker: the trigger did not take effect.")
        raise DataOpsError(f"Could not start a pipeline in {self.project!r}: the server never confirmed it.")

    def _post(self, context: Context) -> dict[str, Any]:
        lineage = parent_run_variables(context["ti"]) if self.openlineage_inject_parent_job_info else {}
        variables = {**lineage, **(self.variables or {}), MARKER_VARIABLE: task_marker(context)}
        pipeline = self.hook.trigger_pipeline(
            self.project, self.ref, variables=variables, pipeline_file=self.pipeline_file
        )
        self._pipeline_id = int(pipeline["id"])  # from now on, a kill cancels it
        self.log.info("Started pipeline %s: %s", pipeline["id"], pipeline.get("web_url"))
        return pipeline

    def _find_marked_pipeline(self, context: Context, patience: float = 0.0) -> dict[str, Any] | None:
        """The pipeline carrying this task's marker, looking again every few seconds for ``patience``."""
        started = dag_run_started(context)

        def find() -> dict[str, Any] | None:
            found = self.hook.find_pipeline_by_variable(
                self.project,
                key=MARKER_VARIABLE,
                value=task_marker(context),
                ref=self.ref,
                updated_after=started - LOOKBACK_MARGIN if started else None,
            )
            return None if found is None else self.hook.get_pipeline(self.project, found["id"])

        return look_for(find, patience)


def stored_pipeline_id(stored: Any) -> int:
    """The pipeline id in a task-state-store record (a bare id from provider 0.1 counts too)."""
    return int(stored[STORED_ID]) if isinstance(stored, Mapping) else int(stored)


def _check_variables(value: Any) -> None:
    if MARKER_VARIABLE in normalize_variables(value):
        raise DataOpsConfigError(f"variables must not set {MARKER_VARIABLE}: the operator sets it")
